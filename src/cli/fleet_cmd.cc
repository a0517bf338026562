// `awan fleet check FLEET.yaml`: validate a scheduler fleet file and summarise it.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"
#include "awan/scheduler/fleet_model.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {

int RunFleetCheck(const std::string& path, bool json) {
  auto fleet = scheduler::LoadFleetModel(path);
  if (!fleet.ok()) {
    std::cerr << fleet.status().message() << "\n";
    return fleet.status().code() == absl::StatusCode::kNotFound ? kExitBadInput : kExitFailed;
  }
  if (json) {
    nlohmann::ordered_json j;
    j["name"] = fleet->name;
    j["accelerators"] = fleet->TotalAccelerators();
    j["nodes"] = fleet->TotalNodes();
    j["pools"] = fleet->pools.size();
    j["domains"] = fleet->Domains();
    j["regions"] = fleet->Regions();
    j["by_provider"] = fleet->AcceleratorsByProvider();
    j["contracts"] = fleet->contracts.size();
    j["teams"] = fleet->teams.size();
    std::cout << DumpJson(j, 2) << "\n";
    return kExitOk;
  }
  std::cout << fmt::format(
      "Fleet '{}' ({}): {} accelerators on {} nodes, {} pools in {} interconnect domains and {} "
      "regions; {} contracts, {} teams.\n\n",
      fleet->name, path, fleet->TotalAccelerators(), fleet->TotalNodes(), fleet->pools.size(),
      fleet->Domains(), fleet->Regions(), fleet->contracts.size(), fleet->teams.size());
  Table t;
  t.Column("PROVIDER");
  t.Column("ACCELERATORS", Table::Align::kRight);
  t.Column("COMMITTED AT START", Table::Align::kRight);
  t.Column("COMMITTED AT END", Table::Align::kRight);
  for (const auto& [provider, count] : fleet->AcceleratorsByProvider()) {
    int64_t start = 0, end = 0;
    for (const auto& c : fleet->contracts) {
      if (c.provider != provider) continue;
      start += c.CommittedAt(0);
      end += c.ramp.empty() ? 0 : c.ramp.back().accelerators;
    }
    t.Row({provider, std::to_string(count), std::to_string(start), std::to_string(end)});
  }
  std::cout << t.Render();
  return kExitOk;
}

}  // namespace awan::cli

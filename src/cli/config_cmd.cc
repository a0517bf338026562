// `awan check-config` and the fleet catalog that `awan optimize` ranks over by default.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "awan/catalog/loader.h"
#include "awan/client/client.h"
#include "awan/common/json_dump.h"
#include "awan/common/status_macros.h"
#include "awan/providers/fleet.h"
#include "awan/providers/sim.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {
namespace {

absl::StatusOr<providers::Fleet> Load(const std::string& config_path,
                                      const catalog::Catalog& builtin) {
  return providers::LoadFleet(config_path, client::AwanHome(), builtin,
                              providers::DetectLocalResources());
}

}  // namespace

absl::StatusOr<catalog::Catalog> LoadFleetCatalog(const std::string& config_path) {
  catalog::LoadReport report;
  ASSIGN_OR_RETURN(auto builtin, catalog::BuiltinCatalog(report));
  ASSIGN_OR_RETURN(auto fleet, Load(config_path, builtin));
  for (const std::string& e : fleet.errors)
    std::cerr << "awan: fleet: " << e << " (provider left out)\n";
  return fleet.BuildCatalog();
}

int RunCheckConfig(const CheckConfigArgs& args) {
  if (args.print_default) {
    std::cout << providers::DefaultFleetYaml();
    return kExitOk;
  }
  catalog::LoadReport report;
  auto builtin = catalog::BuiltinCatalog(report);
  if (!builtin.ok()) return kExitFailed;
  auto fleet = Load(args.config, *builtin);
  if (!fleet.ok()) {
    std::cerr << fleet.status().message() << "\n";
    return kExitBadInput;
  }
  const catalog::Catalog c = fleet->BuildCatalog();
  // Reachability and credentials: each provider checks itself (SSH hosts are contacted).
  for (const auto& p : fleet->providers) {
    if (absl::Status s = p->Check(); !s.ok()) fleet->errors.push_back(std::string(s.message()));
  }
  if (args.json) {
    nlohmann::ordered_json out;
    out["source"] = fleet->source;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& p : fleet->providers) {
      size_t offerings = 0;
      for (const auto& info : c.providers()) {
        if (info.name == p->name()) offerings = info.offerings;
      }
      list.push_back({{"name", p->name()}, {"kind", p->kind()}, {"offerings", offerings}});
    }
    out["providers"] = list;
    if (fleet->scheduler) {
      const scheduler::FleetModel& m = *fleet->scheduler->model;
      out["scheduler"] = {{"policy", fleet->scheduler->policy},
                          {"fleet", fleet->scheduler->fleet_file},
                          {"pools", m.pools.size()},
                          {"accelerators", m.TotalAccelerators()}};
    } else {
      out["scheduler"] = nullptr;
    }
    out["errors"] = fleet->errors;
    std::cout << DumpJson(out, 2) << "\n";
    return fleet->errors.empty() ? kExitOk : kExitFailed;
  }
  std::cout << fmt::format("Fleet from {}:\n\n", fleet->source);
  Table t;
  t.Column("PROVIDER");
  t.Column("KIND");
  t.Column("OFFERINGS", Table::Align::kRight);
  t.Column("NOTES");
  for (const auto& p : fleet->providers) {
    size_t offerings = 0;
    for (const auto& info : c.providers()) {
      if (info.name == p->name()) offerings = info.offerings;
    }
    const std::string notes = p->Describe() == p->kind() ? "" : p->Describe();
    t.Row({p->name(), std::string(p->kind()), std::to_string(offerings), notes});
  }
  std::cout << t.Render();
  if (fleet->scheduler) {
    const scheduler::FleetModel& m = *fleet->scheduler->model;
    std::cout << fmt::format(
        "\nFleet scheduler: policy {} over {} pool(s), {} accelerators, from {}; accelerator jobs "
        "queue there, CPU-only jobs are placed directly.\n",
        fleet->scheduler->policy, m.pools.size(), m.TotalAccelerators(),
        fleet->scheduler->fleet_file);
  } else {
    std::cout << "\nNo fleet scheduler (`scheduler:`): jobs are placed in arrival order.\n";
  }
  for (const std::string& e : fleet->errors) std::cerr << "error: " << e << "\n";
  if (!fleet->errors.empty()) {
    std::cerr << fmt::format("{} provider(s) left out; the others are usable.\n",
                             fleet->errors.size());
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace awan::cli

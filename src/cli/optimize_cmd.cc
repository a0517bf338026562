// `awan optimize TASK.yaml`: the ranked placements as a table (SkyPilot-optimizer style, the chosen
// one marked) or as JSON: {"chosen": P, "candidates": [P, ...]} — a contract other tools read.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "awan/common/json_dump.h"
#include "awan/common/text.h"
#include "awan/optimizer/optimizer.h"
#include "awan/spec/task_parser.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {
namespace {

nlohmann::ordered_json PlacementJson(const optimizer::Placement& p) {
  using J = nlohmann::ordered_json;
  J j;
  j["provider"] = p.provider;
  j["region"] = p.region;
  j["zone"] = p.zone.empty() ? J(nullptr) : J(p.zone);
  j["instance_type"] = p.instance_type;
  j["accelerator"] = p.accelerator.empty() ? J(nullptr) : J(p.accelerator);
  j["accelerator_count"] = p.accelerator_count;
  j["num_nodes"] = p.num_nodes;
  j["spot"] = p.spot;
  j["hourly_cost"] = p.hourly_cost;
  j["vcpus"] = p.vcpus;
  j["memory_gib"] = p.memory_gib;
  if (p.estimated_hours) {
    j["estimated_hours"] = *p.estimated_hours;
    j["estimated_cost"] = *p.estimated_hours * p.hourly_cost;
  }
  return j;
}

std::string Describe(const spec::Task& task) {
  std::set<std::string> labels;
  std::string list;
  for (const spec::Resources& r : task.resources) {
    std::string label = spec::AcceleratorLabel(r);
    if (label == "-") label = r.instance_type.empty() ? "CPU-only" : r.instance_type;
    if (!labels.insert(label).second) continue;
    if (!list.empty()) list += task.order == spec::ResourceOrder::kOrdered ? " > " : " | ";
    list += label;
  }
  return fmt::format("{} node{} × {}", task.num_nodes, task.num_nodes == 1 ? "" : "s", list);
}

std::string Hours(double h) {
  if (h < 1) return fmt::format("{:.0f} min", h * 60);
  if (h < 48) return fmt::format("{:.1f} h", h);
  return fmt::format("{:.1f} d", h / 24);
}

}  // namespace

int RunOptimize(const OptimizeArgs& args) {
  auto task = spec::LoadTaskFile(args.task);
  if (!task.ok()) {
    std::cerr << task.status().message() << "\n";
    return kExitBadInput;
  }
  optimizer::OptimizeOptions options;
  options.objective =
      args.objective == "time" ? optimizer::Objective::kTime : optimizer::Objective::kCost;
  options.providers = args.providers;
  options.flops = args.flops;
  options.mfu = args.mfu;
  // The table groups placements that differ only in region/zone, so it asks for all of them and
  // cuts rows afterwards; --json returns the best `--top` placements themselves.
  options.top = args.json ? args.top : 0;
  for (const std::string& b : args.block) {
    auto rule = optimizer::ParseBlockRule(b);
    if (!rule.ok()) {
      std::cerr << "awan: " << rule.status().message() << "\n";
      return kExitBadInput;
    }
    options.blocklist.push_back(*rule);
  }
  // With --catalog, that catalog; otherwise what the fleet sells (the providers `awan launch`
  // uses).
  absl::StatusOr<catalog::Catalog> catalog;
  if (!args.catalog.paths.empty()) {
    catalog = LoadCatalog(args.catalog);
  } else {
    catalog = LoadFleetCatalog(args.config);
  }
  if (!catalog.ok()) {
    std::cerr << "awan: " << catalog.status().message() << "\n";
    return kExitBadInput;
  }
  auto result = optimizer::Optimize(*task, *catalog, options);
  if (!result.ok()) {
    std::cerr << "awan: " << result.status().message() << "\n";
    return kExitBadInput;
  }
  const bool feasible = !result->candidates.empty();

  if (args.json) {
    nlohmann::ordered_json out;
    out["chosen"] =
        feasible ? PlacementJson(result->candidates.front()) : nlohmann::ordered_json(nullptr);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& p : result->candidates) list.push_back(PlacementJson(p));
    out["candidates"] = list;
    out["objective"] = optimizer::ObjectiveName(options.objective);
    out["feasible"] = result->feasible;
    if (!feasible) out["infeasible_reason"] = result->infeasible_reason;
    std::cout << DumpJson(out, 2) << "\n";
  }
  if (!feasible) {
    std::cerr << fmt::format("awan: no placement for {} ({}): {}\n", args.task, Describe(*task),
                             result->infeasible_reason);
    return kExitFailed;
  }
  if (args.json) return kExitOk;

  const bool with_time = std::any_of(result->candidates.begin(), result->candidates.end(),
                                     [](const auto& p) { return p.estimated_hours.has_value(); });
  std::cout << fmt::format("Task '{}' ({}): {}, objective: {}\n",
                           task->name.empty() ? "-" : task->name, args.task, Describe(*task),
                           optimizer::ObjectiveName(options.objective));
  std::cout << fmt::format(
      "Considered {} offerings from {} provider{}; {} feasible placement{}.\n\n",
      result->considered, catalog->providers().size(), catalog->providers().size() == 1 ? "" : "s",
      result->feasible, result->feasible == 1 ? "" : "s");
  // The first column marks the chosen placement; the table's rows start with it.
  Table t;
  t.Column("");
  AddOfferingColumns(t);
  t.Column("NODES", Table::Align::kRight);
  t.Column("SPOT");
  t.Column("$/HOUR", Table::Align::kRight);
  if (with_time) {
    t.Column("EST. TIME", Table::Align::kRight);
    t.Column("EST. COST $", Table::Align::kRight);
  }
  const auto& all = result->candidates;
  size_t shown = 0, grouped_rows = 0, i = 0;
  while (i < all.size() && (args.top == 0 || shown < args.top)) {
    const auto& p = all[i];
    // Adjacent placements with the same offer at the same price, in other regions or zones.
    size_t j = i + 1;
    std::set<std::string> regions = {p.region}, zones = {p.zone};
    while (j < all.size() && all[j].provider == p.provider &&
           all[j].instance_type == p.instance_type && all[j].hourly_cost == p.hourly_cost &&
           all[j].spot == p.spot && all[j].alternative == p.alternative) {
      regions.insert(all[j].region);
      zones.insert(all[j].zone);
      ++j;
    }
    if (j - i > 1) ++grouped_rows;
    auto more = [](const std::string& first, size_t n) {
      if (first.empty()) return std::string("-");
      return n > 1 ? fmt::format("{} +{}", first, n - 1) : first;
    };
    const std::string acc = AcceleratorCell(p.accelerator, p.accelerator_count);
    std::vector<std::string> row = {shown == 0 ? "✔" : "",
                                    p.provider,
                                    more(p.region, regions.size()),
                                    more(p.zone, zones.size()),
                                    p.instance_type,
                                    acc,
                                    fmt::format("{:g}", p.vcpus),
                                    fmt::format("{:g}", p.memory_gib),
                                    std::to_string(p.num_nodes),
                                    p.spot ? "yes" : "no",
                                    FormatUsd(p.hourly_cost)};
    if (with_time) {
      row.push_back(p.estimated_hours ? Hours(*p.estimated_hours) : "-");
      row.push_back(p.estimated_hours ? FormatUsd(*p.estimated_hours * p.hourly_cost) : "-");
    }
    t.Row(std::move(row));
    ++shown;
    i = j;
  }
  std::cout << t.Render();
  const auto& best = result->candidates.front();
  std::cout << fmt::format("\nChosen: {} {}{} {} at ${}/hour for {} node{}.\n", best.provider,
                           best.region, best.zone.empty() ? "" : "/" + best.zone,
                           best.instance_type, FormatUsd(best.hourly_cost), best.num_nodes,
                           best.num_nodes == 1 ? "" : "s");
  if (grouped_rows > 0) {
    std::cout << "A row stands for the same offer at the same price in several regions/zones "
                 "(\"+N\" = N more); --json lists each placement.\n";
  }
  if (i < all.size()) {
    std::cout << fmt::format("Showing the best {} rows ({} of {} placements); --top 0 shows all.\n",
                             t.rows(), i, result->feasible);
  }
  return kExitOk;
}

}  // namespace awan::cli

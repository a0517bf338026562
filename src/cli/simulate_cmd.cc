// `awan simulate`: replays a trace (or a synthetic workload) through the fleet scheduler on a fleet
// model, under a what-if scenario, and reports waiting, utilisation and cost.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "awan/catalog/loader.h"
#include "awan/common/text.h"
#include "awan/simulator/report.h"
#include "awan/simulator/simulator.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {
namespace {

namespace sim = awan::simulator;

// On-demand and spot prices per accelerator-hour for the fleet's markets: the fleet file's own
// prices where given, else the cheapest catalog offering of that provider and accelerator.
sim::PriceBook Prices(const scheduler::FleetModel& fleet, const catalog::Catalog* cat) {
  sim::PriceBook book;
  for (const auto& pool : fleet.pools) {
    const auto key = std::make_pair(pool.provider, pool.accelerator);
    if (book.contains(key) || !cat) continue;
    sim::MarketPrice price;
    bool found = false;
    for (const auto& o : cat->offerings()) {
      if (o.accelerator_count <= 0 || cat->Name(o.provider) != pool.provider ||
          !EqualsIgnoreCase(cat->Name(o.accelerator), pool.accelerator)) {
        continue;
      }
      const double per = static_cast<double>(o.accelerator_count);
      if (o.price > 0 && (price.on_demand == 0 || o.price / per < price.on_demand))
        price.on_demand = o.price / per;
      if (o.spot_price > 0 && (price.spot == 0 || o.spot_price / per < price.spot))
        price.spot = o.spot_price / per;
      found = true;
    }
    if (found) book[key] = price;
  }
  for (const auto& m : fleet.markets) {
    auto& price = book[{m.provider, m.accelerator}];
    if (m.price_per_accelerator_hour) price.on_demand = *m.price_per_accelerator_hour;
    if (m.spot_price_per_accelerator_hour) price.spot = *m.spot_price_per_accelerator_hour;
  }
  return book;
}

std::string Count(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3)
    s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::string Span(double seconds) {
  if (seconds >= 2 * 86400) return fmt::format("{:.1f} days", seconds / 86400);
  if (seconds >= 2 * 3600) return fmt::format("{:.1f} h", seconds / 3600);
  return fmt::format("{:.0f} s", seconds);
}

void PrintSummary(const sim::SimResult& r) {
  const double events_per_s = r.wall_s > 0 ? static_cast<double>(r.events) / r.wall_s : 0;
  std::cout << fmt::format(
      "Simulated {} jobs ({}: {}) on fleet '{}' ({} accelerators), policy {}{}.\n"
      "{} simulated in {:.2f} s: {} events ({:.2f} M events/s).\n\n",
      Count(r.submitted), r.workload_format, r.workload_source, r.fleet,
      Count(r.total_accelerators), r.policy,
      r.scenario_source.empty() ? "" : ", scenario " + r.scenario_source,
      Span(static_cast<double>(r.end_s - r.start_s)), r.wall_s, Count(r.events),
      events_per_s / 1e6);
  for (const auto& [reason, n] : r.skipped)
    std::cout << fmt::format("  left out: {} rows: {}\n", Count(n), reason);
  for (const auto& [what, n] : r.adjusted)
    std::cout << fmt::format("  adjusted: {} rows: {}\n", Count(n), what);
  if (!r.skipped.empty() || !r.adjusted.empty()) std::cout << "\n";
  std::cout << fmt::format(
      "JOBS  submitted {} · completed {} · preempted {} · interrupted {} · requeued {} · "
      "unfinished {}{}\n\n",
      Count(r.submitted), Count(r.completed), Count(r.preempted), Count(r.interrupted),
      Count(r.requeued), Count(r.unfinished),
      r.unplaceable ? fmt::format(" ({} fit no pool of the fleet)", Count(r.unplaceable)) : "");
  Table t;
  t.Column("SECONDS");
  t.Column("MEAN", Table::Align::kRight);
  t.Column("P50", Table::Align::kRight);
  t.Column("P99", Table::Align::kRight);
  auto row = [&](const std::string& name, const sim::Stats& s) {
    t.Row({name, fmt::format("{:.0f}", s.mean), fmt::format("{:.0f}", s.p50),
           fmt::format("{:.0f}", s.p99)});
  };
  row("queue delay", r.queue_delay_s);
  if (r.recorded_queue_delay_s) row("queue delay recorded in the trace", *r.recorded_queue_delay_s);
  row("job completion time", r.jct_s);
  std::cout << t.Render() << "\n";
  Table u;
  u.Column("PROVIDER");
  u.Column("UTILIZATION", Table::Align::kRight);
  for (const auto& [p, v] : r.utilization_by_provider) u.Row({p, fmt::format("{:.1f}%", 100 * v)});
  u.Row({"(all)", fmt::format("{:.1f}%", 100 * r.utilization)});
  std::cout << u.Render() << "\n";
  std::cout << fmt::format(
      "COST  committed ${} (idle ${}) · on-demand ${} · spot ${} · total ${}\n",
      FormatUsd(r.cost_committed), FormatUsd(r.cost_idle_committed), FormatUsd(r.cost_on_demand),
      FormatUsd(r.cost_spot), FormatUsd(r.cost_committed + r.cost_on_demand + r.cost_spot));
  if (r.lost_work_accelerator_hours > 0) {
    std::cout << fmt::format(
        "      work lost to preemptions and outages: {:.0f} accelerator-hours\n",
        r.lost_work_accelerator_hours);
  }
  if (!r.unpriced.empty()) {
    std::cout << fmt::format(
        "      no price known for {} (counted as $0; give prices in the fleet's on_demand "
        "entries)\n",
        fmt::join(r.unpriced, ", "));
  }
}

bool WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out);
}

}  // namespace

int RunSimulate(const SimulateArgs& args) {
  auto fail = [](const std::string& message) {
    std::cerr << "awan simulate: " << message << "\n";
    return kExitBadInput;
  };
  if (args.fleet.empty() == args.fleet_from_nodes.empty()) {
    return fail(
        "give the fleet: --fleet FLEET.yaml, or --fleet-from-nodes NODES.csv (an openb node list)");
  }
  if (args.trace.empty() == (args.synthetic <= 0)) {
    return fail("give the workload: --trace FILE --format FORMAT, or --synthetic N");
  }
  if (!args.trace.empty() && args.format.empty()) {
    return fail(fmt::format("--trace needs --format ({})", fmt::join(sim::TraceFormats(), ", ")));
  }
  if (!scheduler::MakePolicy(args.policy)) {
    const auto names = scheduler::PolicyNames();
    return fail(fmt::format("--policy '{}' is not a policy{}; use one of: {}", args.policy,
                            DidYouMean(args.policy, names), fmt::join(names, ", ")));
  }
  auto fleet = args.fleet.empty() ? sim::FleetFromOpenbNodes(args.fleet_from_nodes)
                                  : scheduler::LoadFleetModel(args.fleet);
  if (!fleet.ok()) return fail(std::string(fleet.status().message()));

  sim::Workload workload;
  if (!args.trace.empty()) {
    auto w = sim::ReadTrace(args.trace, args.format, *fleet);
    if (!w.ok()) return fail(std::string(w.status().message()));
    workload = std::move(*w);
  } else {
    auto options = sim::SyntheticPreset(args.profile);
    if (!options) {
      const auto names = sim::SyntheticPresetNames();
      return fail(fmt::format("--profile '{}' is not a preset{}; use one of: {}", args.profile,
                              DidYouMean(args.profile, names), fmt::join(names, ", ")));
    }
    if (args.load <= 0 || args.arrivals_per_hour < 0) {
      return fail("--load must be more than 0 (e.g. 0.9) and --arrivals-per-hour not negative");
    }
    if ((args.duration_median_s && *args.duration_median_s < 1) ||
        (args.duration_mean_s && *args.duration_mean_s < 1)) {
      return fail("--duration-median and --duration-mean are seconds, at least 1");
    }
    options->jobs = args.synthetic;
    options->seed = args.seed;
    options->arrivals_per_hour = args.arrivals_per_hour;
    options->load = args.load;
    if (args.duration_median_s) options->duration_median_s = *args.duration_median_s;
    if (args.duration_mean_s) options->duration_mean_s = *args.duration_mean_s;
    if (!args.size_mix.empty()) {
      auto mix = sim::ParseSizeMix(args.size_mix);
      if (!mix.ok()) return fail(std::string(mix.status().message()));
      options->size_mix = *mix;
    }
    workload = sim::GenerateSynthetic(*options, *fleet);
  }
  sim::Scenario scenario;
  if (!args.scenario.empty()) {
    auto s = sim::LoadScenario(args.scenario, *fleet);
    if (!s.ok()) return fail(std::string(s.status().message()));
    scenario = std::move(*s);
  }
  catalog::LoadReport report;
  auto cat = args.catalog.paths.empty() ? catalog::BuiltinCatalog(report)
                                        : catalog::LoadCatalogPaths(args.catalog.paths, report);
  if (!cat.ok()) return fail(std::string(cat.status().message()));
  const sim::PriceBook prices = Prices(*fleet, &*cat);

  sim::SimOptions options;
  options.policy = args.policy;
  options.seed = args.seed;
  options.scheduler.backfill_window = args.backfill_window;
  options.scheduler.backfill_interval_s = args.backfill_interval_s;
  options.sample_s = args.sample_s;
  const int64_t total = static_cast<int64_t>(workload.jobs.size());
  if (!args.quiet) {
    options.progress = [total](int64_t now, int64_t done, size_t queued) {
      std::cerr << fmt::format("simulating: t = {}, {} of {} jobs done, {} queued\n",
                               Span(static_cast<double>(now)), Count(done), Count(total),
                               Count(static_cast<int64_t>(queued)));
    };
  }
  const sim::SimResult result = sim::Simulate(*fleet, workload, scenario, prices, options);

  if (args.json) {
    std::cout << sim::ToJson(result);
  } else {
    PrintSummary(result);
  }
  std::cout.flush();
  if (!args.out.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.out, ec);
    const std::filesystem::path dir(args.out);
    if (ec || !WriteFile(dir / "summary.json", sim::ToJson(result)) ||
        !WriteFile(dir / "timeseries.csv", sim::SeriesCsv(result)) ||
        !WriteFile(dir / "timeseries.svg", sim::SeriesSvg(result))) {
      return fail(
          fmt::format("--out {}: cannot write there{}", args.out, ec ? ": " + ec.message() : ""));
    }
    if (!args.quiet) {
      std::cerr << fmt::format("wrote {0}/summary.json, {0}/timeseries.csv, {0}/timeseries.svg\n",
                               args.out);
    }
  }
  return kExitOk;
}

}  // namespace awan::cli

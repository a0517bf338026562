// Workloads for the simulator (issue 5): jobs read from cluster traces (philly, alibaba-openb,
// awan's own CSV) or generated (synthetic), and the openb node list read as a fleet.
// docs/simulator.md describes each format and how trace fields map onto jobs.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/scheduler/scheduler.h"

namespace awan::simulator {

struct TraceJob {
  int64_t id = 0;
  int64_t submit_s = 0;               // seconds since the fleet's start
  int64_t duration_s = 0;             // run time it needs (work), without interruptions
  std::optional<int64_t> estimate_s;  // what the scheduler is told (backfill); default: duration_s
  std::string team = "default";
  int priority = 0;
  bool preemptible = false;
  scheduler::Needs alternatives;
  std::optional<int64_t> checkpoint_s;            // checkpoint interval; default: the scenario's
  std::optional<int64_t> recorded_queue_delay_s;  // from the trace, where it says (openb)
};

struct Workload {
  std::string source;  // path or "synthetic"
  std::string format;
  std::vector<TraceJob> jobs;               // sorted by (submit_s, id)
  std::map<std::string, int64_t> skipped;   // reason → rows left out
  std::map<std::string, int64_t> adjusted;  // what was changed to fit the model → rows
};

// "philly", "alibaba-openb", "awan".
std::vector<std::string> TraceFormats();

// Reads a trace. Jobs that name no accelerator type get one alternative per accelerator type of the
// fleet (its nodes' sizes decide the gang shape). Errors name the file, line and column.
absl::StatusOr<Workload> ReadTrace(const std::string& path, const std::string& format,
                                   const scheduler::FleetModel& fleet);

// The openb node list (`sn,cpu_milli,memory_mib,gpu,model`) as a fleet: one pool per GPU model and
// GPUs-per-node (provider "openb", one region); nodes without GPUs are left out.
absl::StatusOr<scheduler::FleetModel> FleetFromOpenbNodes(const std::string& path);

// The synthetic generator: Poisson arrivals, gang sizes from a mix, log-normal run times.
struct SyntheticOptions {
  int64_t jobs = 1000;
  // Arrivals per hour; 0 = chosen so the offered load is `load` of the fleet's accelerators.
  double arrivals_per_hour = 0;
  double load = 0.9;
  // Run time: log-normal with this median and mean (seconds), capped. Match a cluster summary by
  // its median and mean GPU-job run time (Helios: 206 s and 6,652 s; Acme Seren: 122 s and 1,414
  // s).
  double duration_median_s = 206;
  double duration_mean_s = 6652;
  double duration_max_s = 30 * 86400.0;
  // Accelerators per job → weight. Default: Helios-like (most jobs one GPU, mean about 3.7).
  std::map<int, double> size_mix = {{1, 0.70},   {2, 0.08},   {4, 0.08},    {8, 0.10},   {16, 0.02},
                                    {32, 0.012}, {64, 0.006}, {128, 0.003}, {256, 0.001}};
  double preemptible_fraction = 0.3;  // preemptible jobs get priority 0, the others 1-3
  uint64_t seed = 1;
};
// Named presets: "helios", "acme-seren", "acme-kalos", "philly" (medians/means from the shared
// cluster summaries); nullopt for an unknown name.
std::optional<SyntheticOptions> SyntheticPreset(const std::string& name);
std::vector<std::string> SyntheticPresetNames();
// Parses "1:0.7,8:0.2,64:0.1".
absl::StatusOr<std::map<int, double>> ParseSizeMix(const std::string& text);

Workload GenerateSynthetic(const SyntheticOptions& options, const scheduler::FleetModel& fleet);

// The gang shape of `accelerators` on nodes of `per_node`: up to one node, or whole nodes.
scheduler::Need ShapeFor(const std::string& accelerator, int64_t accelerators, int per_node);

}  // namespace awan::simulator

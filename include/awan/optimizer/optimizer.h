// The placement optimizer: given a task, a catalog, the enabled providers and a blocklist, rank
// every feasible placement (provider, region, zone, instance type, nodes, spot) by cost or by time.
// Contract: every returned placement satisfies every constraint of one of the task's resource
// alternatives; `candidates[0]` is the chosen one; nothing is returned that is not in the catalog.
// Pure function of its inputs; thread-safe for concurrent calls on the same (finalized) catalog.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/catalog/catalog.h"
#include "awan/spec/task.h"

namespace awan::optimizer {

enum class Objective {
  kCost,  // lowest $/hour for all nodes
  kTime,  // shortest estimated run time (needs the job's FLOPs and the accelerator's TFLOP/s)
};
std::string_view ObjectiveName(Objective objective);

// Blocks a provider, a region or a zone: "aws", "aws/us-east-1", "aws/us-east-1/us-east-1a".
struct BlockRule {
  std::string provider, region, zone;  // "" = any
};
absl::StatusOr<BlockRule> ParseBlockRule(std::string_view text);

struct OptimizeOptions {
  Objective objective = Objective::kCost;
  std::vector<std::string> providers;  // enabled providers; empty = every provider in the catalog
  std::vector<BlockRule> blocklist;
  std::optional<double> flops;  // total FLOPs of the job; overrides resources.accelerator_flops
  double mfu = 0.4;             // model FLOPs utilisation assumed for time estimates
  size_t top = 10;              // how many candidates to return, best first; 0 = all
};

struct Placement {
  std::string provider, region, zone, instance_type, accelerator;  // zone/accelerator may be ""
  int accelerator_count = 0;                                       // per node
  int num_nodes = 1;
  bool spot = false;
  double hourly_cost = 0;  // USD per hour, all nodes together
  double vcpus = 0;        // per node
  double memory_gib = 0;   // per node
  size_t alternative = 0;  // index into Task::resources that this placement satisfies
  std::optional<double> estimated_hours;  // when the job's FLOPs and the chip's TFLOP/s are known
  uint32_t offering = 0;                  // index into Catalog::offerings()
};

struct OptimizeResult {
  std::vector<Placement> candidates;  // best first, at most options.top; [0] is the chosen one
  size_t feasible = 0;                // number of feasible placements before truncation
  size_t considered = 0;              // offerings examined
  std::string infeasible_reason;      // when feasible == 0: which constraint removed the last ones
};

// Errors (InvalidArgument) only for unusable options: an unknown provider in `providers`, or
// objective=time without FLOPs. An infeasible task is a result, not an error.
absl::StatusOr<OptimizeResult> Optimize(const spec::Task& task, const catalog::Catalog& catalog,
                                        const OptimizeOptions& options);

}  // namespace awan::optimizer

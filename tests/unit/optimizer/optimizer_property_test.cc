// Property test: over random tasks on a generated catalog, the chosen placement is never dearer
// than any feasible placement found by a brute-force scan written independently of the optimizer,
// and the number of feasible placements agrees.
#include <gtest/gtest.h>

#include <random>

#include "awan/catalog/generated.h"
#include "awan/common/text.h"
#include "awan/optimizer/optimizer.h"

namespace awan::optimizer {
namespace {

struct BruteForce {
  size_t feasible = 0;
  double cheapest = 0;
};

BruteForce Scan(const spec::Task& task, const catalog::Catalog& c) {
  BruteForce out;
  for (const spec::Resources& r : task.resources) {
    for (const catalog::Offering& o : c.offerings()) {
      const std::string_view acc = c.Name(o.accelerator);
      if (r.accelerator.empty() ? !acc.empty() : !EqualsIgnoreCase(acc, r.accelerator)) continue;
      if (!r.accelerator.empty() && o.accelerator_count != r.accelerator_count) continue;
      if (!r.provider.empty() && c.Name(o.provider) != r.provider) continue;
      if (!r.region.empty() && c.Name(o.region) != r.region) continue;
      if (r.cpus && !(r.cpus->at_least ? o.vcpus >= r.cpus->value : o.vcpus == r.cpus->value))
        continue;
      const double price = r.use_spot ? o.spot_price : o.price;
      if (price <= 0) continue;
      const double cost = price * task.num_nodes;
      if (r.max_hourly_cost && cost > *r.max_hourly_cost) continue;
      ++out.feasible;
      if (out.cheapest == 0 || cost < out.cheapest) out.cheapest = cost;
    }
  }
  return out;
}

TEST(OptimizerPropertyTest, ChosenIsNeverDearerThanAnyFeasiblePlacement) {
  const catalog::Catalog c = catalog::GenerateCatalog({6, 4, 2, 24, 42});
  std::mt19937_64 rng(1234);
  const std::vector<std::pair<std::string, int>> accelerators = {
      {"H100", 8}, {"h100", 1}, {"H200", 8},   {"B200", 8}, {"A100", 1},
      {"L4", 1},   {"L40S", 4}, {"MI300X", 8}, {"H100", 4}, {"", 0}};
  size_t feasible_tasks = 0;
  for (int trial = 0; trial < 300; ++trial) {
    spec::Task task;
    task.num_nodes = 1 + static_cast<int>(rng() % 16);
    const int alternatives = 1 + static_cast<int>(rng() % 3);
    for (int a = 0; a < alternatives; ++a) {
      spec::Resources r;
      const auto& [name, count] = accelerators[rng() % accelerators.size()];
      r.accelerator = name;
      r.accelerator_count = count;
      r.use_spot = rng() % 3 == 0;
      if (rng() % 3 == 0) r.provider = "cloud0" + std::to_string(rng() % 7);
      if (rng() % 5 == 0) r.region = "region-1-" + std::to_string(rng() % 4);
      if (rng() % 4 == 0) r.cpus = spec::Quantity{static_cast<double>(8 << (rng() % 5)), true};
      if (rng() % 4 == 0) r.max_hourly_cost = 50.0 + static_cast<double>(rng() % 2000);
      task.resources.push_back(r);
    }
    OptimizeOptions options;
    options.top = 1;
    auto result = Optimize(task, c, options);
    ASSERT_TRUE(result.ok()) << result.status();
    const BruteForce truth = Scan(task, c);
    ASSERT_EQ(result->feasible, truth.feasible) << "trial " << trial;
    if (truth.feasible == 0) {
      EXPECT_TRUE(result->candidates.empty());
      EXPECT_FALSE(result->infeasible_reason.empty());
      continue;
    }
    ++feasible_tasks;
    ASSERT_EQ(result->candidates.size(), 1u);
    EXPECT_LE(result->candidates[0].hourly_cost, truth.cheapest + 1e-9) << "trial " << trial;
    EXPECT_GE(result->candidates[0].hourly_cost, truth.cheapest - 1e-9) << "trial " << trial;
  }
  EXPECT_GT(feasible_tasks, 100u);  // the generator must exercise the feasible path
}

TEST(OptimizerPropertyTest, CandidatesAreSortedAndFeasibleUnderEveryObjective) {
  const catalog::Catalog c = catalog::GenerateCatalog({4, 3, 2, 24, 9});
  spec::Task task;
  task.num_nodes = 2;
  for (const char* name : {"H100", "H200", "B200"}) {
    spec::Resources r;
    r.accelerator = name;
    r.accelerator_count = 8;
    r.accelerator_flops = 5e21;
    task.resources.push_back(r);
  }
  for (Objective objective : {Objective::kCost, Objective::kTime}) {
    OptimizeOptions options;
    options.objective = objective;
    options.top = 0;
    auto result = Optimize(task, c, options);
    ASSERT_TRUE(result.ok());
    ASSERT_EQ(result->candidates.size(), result->feasible);
    for (size_t i = 1; i < result->candidates.size(); ++i) {
      const Placement& a = result->candidates[i - 1];
      const Placement& b = result->candidates[i];
      if (objective == Objective::kCost) {
        EXPECT_LE(a.hourly_cost, b.hourly_cost);
      } else {
        EXPECT_LE(*a.estimated_hours, *b.estimated_hours + 1e-12);
      }
    }
  }
}

}  // namespace
}  // namespace awan::optimizer

#include "awan/optimizer/optimizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "awan/catalog/loader.h"
#include "awan/spec/task_parser.h"

namespace awan::optimizer {
namespace {

using ::testing::HasSubstr;

// A small catalog whose rankings are computed by hand in each test.
catalog::Catalog SmallCatalog() {
  const char* yaml = R"(
provider: alpha
regions: {a1: [a1x, a1y], a2: []}
offerings:
  - {instance_type: a-h100-8, accelerator: H100, accelerator_count: 8, vcpus: 96, memory_gib: 1024, price: 40, spot_price: 15, network_gbps: 3200}
  - {instance_type: a-h100-1, accelerator: H100, accelerator_count: 1, vcpus: 12, memory_gib: 128, price: 5.5}
  - {instance_type: a-a100-8, accelerator: A100, accelerator_count: 8, vcpus: 96, memory_gib: 1024, price: 20, regions: [a2]}
  - {instance_type: a-cpu-8, vcpus: 8, memory_gib: 32, price: 0.4}
---
provider: beta
regions: {b1: [], b2: []}
offerings:
  - {instance_type: b-h100-8, accelerator: H100, accelerator_count: 8, vcpus: 208, memory_gib: 1800, price: 32, region_prices: {b2: {price: 36}}}
  - {instance_type: b-h200-8, accelerator: H200, accelerator_count: 8, vcpus: 208, memory_gib: 2048, price: 45, regions: [b1]}
  - {instance_type: b-cpu-4, vcpus: 4, memory_gib: 16, price: 0.2}
)";
  catalog::Catalog c;
  catalog::LoadReport report;
  EXPECT_TRUE(catalog::ParseAwanCatalog(yaml, "small.yaml", c, report).ok());
  c.Finalize();
  return c;
}

spec::Task Task(std::string_view yaml) {
  auto t = spec::ParseTask(yaml, "t.yaml", std::filesystem::temp_directory_path().string());
  EXPECT_TRUE(t.ok()) << t.status();
  return *t;
}

OptimizeResult Rank(std::string_view yaml, OptimizeOptions options = {}) {
  static const catalog::Catalog c = SmallCatalog();
  options.top = options.top == 10 ? 0 : options.top;
  auto r = Optimize(Task(yaml), c, options);
  EXPECT_TRUE(r.ok()) << r.status();
  return *r;
}

TEST(OptimizerTest, CheapestExactCountWins) {
  OptimizeResult r = Rank("resources: {accelerators: H100:8}");
  // alpha a-h100-8: 40 in a1x, a1y, a2; beta b-h100-8: 32 in b1, 36 in b2 → 5 placements.
  EXPECT_EQ(r.feasible, 5u);
  ASSERT_EQ(r.candidates.size(), 5u);
  EXPECT_EQ(r.candidates[0].provider, "beta");
  EXPECT_EQ(r.candidates[0].region, "b1");
  EXPECT_DOUBLE_EQ(r.candidates[0].hourly_cost, 32);
  EXPECT_EQ(r.candidates[1].region, "b2");
  EXPECT_DOUBLE_EQ(r.candidates[1].hourly_cost, 36);
  EXPECT_DOUBLE_EQ(r.candidates[4].hourly_cost, 40);
  // H100:1 never matches an 8-GPU node.
  for (const Placement& p : r.candidates) EXPECT_EQ(p.accelerator_count, 8);
}

// network_tier: best keeps the offerings with a high-bandwidth interconnect (network_gbps >= 400):
// alpha's a-h100-8 (3200) in a1x, a1y and a2, not beta's cheaper b-h100-8 (none listed).
TEST(OptimizerTest, NetworkTierBestNeedsAHighBandwidthInterconnect) {
  OptimizeResult r = Rank("resources: {accelerators: H100:8, network_tier: best}");
  EXPECT_EQ(r.feasible, 3u);
  for (const Placement& p : r.candidates) EXPECT_EQ(p.provider, "alpha");
  EXPECT_EQ(Rank("resources: {accelerators: H100:8, network_tier: standard}").feasible, 5u);
  auto none =
      Optimize(Task("resources: {accelerators: H200:8, network_tier: best}"), SmallCatalog(), {});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->feasible, 0u);
  EXPECT_THAT(none->infeasible_reason,
              HasSubstr("network_tier: best: none of the 1 matching offerings has a "
                        "high-bandwidth interconnect"));
}

TEST(OptimizerTest, NumNodesMultipliesTheHourlyCost) {
  OptimizeResult r = Rank("num_nodes: 16\nresources: {accelerators: H100:8}");
  EXPECT_DOUBLE_EQ(r.candidates[0].hourly_cost, 16 * 32.0);
  EXPECT_EQ(r.candidates[0].num_nodes, 16);
}

TEST(OptimizerTest, AnyOfPicksTheBestOverAllAlternatives) {
  OptimizeResult r = Rank("resources: {accelerators: {H200: 8, A100: 8, H100: 8}}");
  EXPECT_EQ(r.feasible, 7u);  // 1 H200 + 1 A100 + 5 H100
  EXPECT_EQ(r.candidates[0].instance_type, "a-a100-8");
  EXPECT_EQ(r.candidates[0].alternative, 1u);
  EXPECT_EQ(r.candidates[1].instance_type, "b-h100-8");
  EXPECT_EQ(r.candidates.back().instance_type, "b-h200-8");
}

TEST(OptimizerTest, OrderedRespectsTheUsersOrderOverPrice) {
  OptimizeResult r =
      Rank("resources:\n  ordered:\n    - {accelerators: H200:8}\n    - {accelerators: A100:8}\n");
  EXPECT_EQ(r.candidates[0].instance_type, "b-h200-8");  // $45 although A100 is $20
  EXPECT_EQ(r.candidates[1].instance_type, "a-a100-8");
}

TEST(OptimizerTest, SpotUsesTheSpotPriceAndNeedsOne) {
  OptimizeResult r = Rank("resources: {accelerators: H100:8, use_spot: true}");
  EXPECT_EQ(r.feasible, 3u);  // only alpha sells spot
  EXPECT_TRUE(r.candidates[0].spot);
  EXPECT_DOUBLE_EQ(r.candidates[0].hourly_cost, 15);
}

TEST(OptimizerTest, ProvidersRegionZoneAndInstanceTypeConstraints) {
  OptimizeOptions only_alpha;
  only_alpha.providers = {"alpha"};
  EXPECT_EQ(Rank("resources: {accelerators: H100:8}", only_alpha).candidates[0].provider, "alpha");
  OptimizeResult zone = Rank("resources: {accelerators: H100:8, infra: alpha/a1/a1y}");
  ASSERT_EQ(zone.feasible, 1u);
  EXPECT_EQ(zone.candidates[0].zone, "a1y");
  OptimizeResult region = Rank("resources: {accelerators: H100:8, region: b2}");
  ASSERT_EQ(region.feasible, 1u);
  EXPECT_DOUBLE_EQ(region.candidates[0].hourly_cost, 36);
  OptimizeResult type = Rank("resources: {instance_type: a-h100-1}");
  ASSERT_EQ(type.feasible, 3u);
  EXPECT_EQ(type.candidates[0].accelerator, "H100");
}

TEST(OptimizerTest, BlocklistRemovesProvidersRegionsAndZones) {
  OptimizeOptions o;
  o.blocklist = {*ParseBlockRule("beta/b1"), *ParseBlockRule("alpha/a1/a1x")};
  OptimizeResult r = Rank("resources: {accelerators: H100:8}", o);
  EXPECT_EQ(r.feasible, 3u);  // b2, a1y, a2
  EXPECT_EQ(r.candidates[0].region, "b2");
  o.blocklist = {*ParseBlockRule("beta")};
  EXPECT_EQ(Rank("resources: {accelerators: H100:8}", o).candidates[0].provider, "alpha");
  EXPECT_FALSE(ParseBlockRule("a//b").ok());
  EXPECT_FALSE(ParseBlockRule("a/b/c/d").ok());
}

TEST(OptimizerTest, CpusMemoryAndMaxHourlyCost) {
  OptimizeResult cpu = Rank("resources: {cpus: 8+}");
  EXPECT_EQ(cpu.candidates[0].instance_type, "a-cpu-8");  // b-cpu-4 has too few vCPUs
  OptimizeResult mem = Rank("resources: {accelerators: H100:8, memory: 1800+}");
  EXPECT_EQ(mem.feasible, 2u);
  OptimizeResult capped =
      Rank("num_nodes: 2\nresources: {accelerators: H100:8, max_hourly_cost: 70}");
  EXPECT_EQ(capped.feasible, 1u);  // only beta b1 at 2 × 32 = 64
}

TEST(OptimizerTest, TimeObjectiveRanksByEstimatedHours) {
  OptimizeOptions o;
  o.objective = Objective::kTime;
  o.mfu = 0.5;
  OptimizeResult r =
      Rank("resources: {accelerators: {A100: 8, H100: 8}, accelerator_flops: 1.0e21}", o);
  // H100: 1e21 / (8 × 989e12 × 0.5) s = 70.8 h... per hour: / 3600.
  const double h100_hours = 1e21 / (8 * 989e12 * 0.5) / 3600;
  ASSERT_TRUE(r.candidates[0].estimated_hours.has_value());
  EXPECT_NEAR(*r.candidates[0].estimated_hours, h100_hours, 1e-9);
  EXPECT_EQ(r.candidates[0].accelerator, "H100");
  EXPECT_DOUBLE_EQ(r.candidates[0].hourly_cost, 32);  // equal time: cheaper first
  EXPECT_EQ(r.candidates.back().accelerator, "A100");
  auto no_flops = Optimize(Task("resources: {accelerators: H100:8}"), SmallCatalog(), o);
  ASSERT_FALSE(no_flops.ok());
  EXPECT_THAT(no_flops.status().message(), HasSubstr("accelerator_flops"));
}

TEST(OptimizerTest, TopLimitsCandidatesButNotTheFeasibleCount) {
  OptimizeOptions o;
  o.top = 2;
  OptimizeResult r = Rank("resources: {accelerators: H100:8}", o);
  EXPECT_EQ(r.candidates.size(), 2u);
  EXPECT_EQ(r.feasible, 5u);
}

TEST(OptimizerTest, UnknownProviderIsAnError) {
  OptimizeOptions o;
  o.providers = {"alhpa"};
  auto r = Optimize(Task("resources: {accelerators: H100:8}"), SmallCatalog(), o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("did you mean 'alpha'?"));
}

TEST(OptimizerTest, InfeasibleTasksSayWhichConstraintRemovedTheLastCandidates) {
  EXPECT_THAT(Rank("resources: {accelerators: H100:4}").infeasible_reason,
              HasSubstr("no instance has exactly 4 H100 per node"));
  EXPECT_THAT(Rank("resources: {accelerators: H100:4}").infeasible_reason,
              HasSubstr("comes in 1, 8"));
  EXPECT_THAT(Rank("resources: {accelerators: H10:8}").infeasible_reason,
              HasSubstr("no offering has accelerator 'H10' (did you mean 'H100'?)"));
  EXPECT_THAT(Rank("resources: {accelerators: H100:8, region: b3}").infeasible_reason,
              HasSubstr("no H100:8 offering in region 'b3'"));
  EXPECT_THAT(Rank("resources: {accelerators: H200:8, use_spot: true}").infeasible_reason,
              HasSubstr("has a spot price"));
  EXPECT_THAT(Rank("num_nodes: 4\nresources: {accelerators: H100:8, max_hourly_cost: 100}")
                  .infeasible_reason,
              HasSubstr("the cheapest match costs $128.00/h for 4 node(s)"));
  EXPECT_THAT(Rank("resources: {accelerators: H100:8, cpus: 300+}").infeasible_reason,
              HasSubstr("at least 300 vCPUs"));
  OptimizeOptions o;
  o.blocklist = {*ParseBlockRule("alpha"), *ParseBlockRule("beta")};
  EXPECT_THAT(Rank("resources: {accelerators: H100:8}", o).infeasible_reason, HasSubstr("blocked"));
  std::string multi = Rank("resources: {accelerators: {H100: 3, H200: 3}}").infeasible_reason;
  EXPECT_THAT(multi, HasSubstr("no alternative is feasible"));
  EXPECT_THAT(multi, HasSubstr("H100:3"));
  EXPECT_THAT(multi, HasSubstr("H200:3"));
}

}  // namespace
}  // namespace awan::optimizer

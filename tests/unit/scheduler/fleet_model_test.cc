#include "awan/scheduler/fleet_model.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace awan::scheduler {
namespace {

using ::testing::HasSubstr;

const std::string kExamples = std::string(AWAN_SOURCE_DIR) + "/examples/fleets/";

TEST(FleetModelTest, DatesAreUtcMidnights) {
  EXPECT_EQ(ParseDate("1970-01-01"), 0);
  EXPECT_EQ(ParseDate("2026-01-01"), 1767225600);
  EXPECT_EQ(*ParseDate("2026-07-01") - *ParseDate("2026-01-01"), 181 * 86400);
  EXPECT_EQ(ParseDate("2026-13-01"), std::nullopt);
  EXPECT_EQ(ParseDate("tomorrow"), std::nullopt);
  EXPECT_EQ(ParseDate("2026-01-01x"), std::nullopt);
}

TEST(FleetModelTest, SmallExampleLoads) {
  auto f = LoadFleetModel(kExamples + "small.yaml");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->pools.size(), 3u);
  EXPECT_EQ(f->TotalNodes(), 32);
  EXPECT_EQ(f->TotalAccelerators(), 256);
  EXPECT_EQ(f->Domains(), 3u);
  EXPECT_EQ(f->Regions(), 2u);
  ASSERT_EQ(f->contracts.size(), 1u);
  const Contract& c = f->contracts[0];
  EXPECT_EQ(c.CommittedAt(-1), 0);
  EXPECT_EQ(c.CommittedAt(0), 64);
  EXPECT_EQ(c.CommittedAt(181 * 86400 - 1), 64);
  EXPECT_EQ(c.CommittedAt(181 * 86400), 128);
  EXPECT_EQ(f->markets[1].max_spot, 32);
  EXPECT_EQ(f->teams[0].quota.at("H200"), 32);
  EXPECT_DOUBLE_EQ(f->teams[0].weight, 2);
}

TEST(FleetModelTest, The500kExampleHasTheAdvertisedShape) {
  auto f = LoadFleetModel(kExamples + "500k.yaml");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->TotalAccelerators(), 500000);
  EXPECT_EQ(f->TotalNodes(), 62500);
  EXPECT_EQ(f->AcceleratorsByProvider().size(), 5u);
  EXPECT_EQ(f->Regions(), 30u);
  for (const Pool& p : f->pools) EXPECT_EQ(p.accelerators_per_node, 8);
  // Contracts ramp over two years.
  for (const Contract& c : f->contracts) {
    ASSERT_GE(c.ramp.size(), 2u);
    EXPECT_LT(c.CommittedAt(0), c.CommittedAt(2 * 365 * 86400));
  }
}

TEST(FleetModelTest, ErrorsNameFileLineAndField) {
  auto e = ParseFleetModel(
      "start: 2026-01-01\npools:\n  - {provider: aws, region: r, accelerator: H100, node: 4}\n",
      "f.yaml");
  ASSERT_FALSE(e.ok());
  EXPECT_THAT(e.status().message(), HasSubstr("f.yaml:3:"));
  EXPECT_THAT(e.status().message(),
              HasSubstr("pools[0].node: unknown field (did you mean 'nodes'?)"));
  EXPECT_THAT(ParseFleetModel("pools: []\n", "f.yaml").status().message(),
              HasSubstr("start: is required"));
  EXPECT_THAT(ParseFleetModel("start: soon\npools: []\n", "f.yaml").status().message(),
              HasSubstr("start: must be a date YYYY-MM-DD"));
  EXPECT_THAT(ParseFleetModel("start: 2026-01-01\npools:\n  - {provider: aws, region: r, "
                              "accelerator: H100, nodes: 0}\n",
                              "f.yaml")
                  .status()
                  .message(),
              HasSubstr("pools[0].nodes: must be a number of at least 1"));
  EXPECT_THAT(
      ParseFleetModel(
          "start: 2026-01-01\npools:\n  - {provider: aws, region: r, accelerator: H100, nodes: 1}\n"
          "contracts:\n  - {provider: aws, accelerator: H100, price_per_accelerator_hour: 2}\n",
          "f.yaml")
          .status()
          .message(),
      HasSubstr("contracts[0].ramp: list the steps"));
  EXPECT_THAT(ParseFleetModel("start: 2026-01-01\npools: [\n", "f.yaml").status().message(),
              HasSubstr("YAML error"));
}

TEST(FleetModelTest, NumbersOutOfRangeAreErrorsNotOverflows) {
  const auto error = [](const std::string& pool_fields) {
    auto f = ParseFleetModel(
        "start: 2026-01-01\npools:\n  - {provider: aws, region: r, "
        "accelerator: H100, " +
            pool_fields + "}\n",
        "f.yaml");
    EXPECT_FALSE(f.ok()) << pool_fields;
    return f.ok() ? std::string() : std::string(f.status().message());
  };
  EXPECT_THAT(error("nodes: 2147483648"),
              HasSubstr("f.yaml:3:58: pools[0].nodes: must be a number of at least 1 and at most "
                        "1000000, not 2147483648"));
  EXPECT_THAT(error("nodes: 1.5"), HasSubstr("pools[0].nodes: must be a whole number, not 1.5"));
  EXPECT_THAT(error("nodes: 4, accelerators_per_node: 1e12"),
              HasSubstr("pools[0].accelerators_per_node: must be a number of at least 1 and at "
                        "most 1024"));
  std::string many = "start: 2026-01-01\npools:\n";
  for (int i = 0; i < 11; ++i) {
    many +=
        fmt::format("  - {{provider: aws, region: r{}, accelerator: H100, nodes: 1000000}}\n", i);
  }
  EXPECT_THAT(ParseFleetModel(many, "f.yaml").status().message(),
              HasSubstr("11000000 nodes in all; a fleet file holds at most 10000000"));
}

}  // namespace
}  // namespace awan::scheduler

#include "awan/scheduler/capacity.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace awan::scheduler {
namespace {

FleetModel TwoPools() {
  auto f = ParseFleetModel(R"(start: 2026-01-01
pools:
  - {name: a, provider: p, region: r, domain: a, accelerator: H100, accelerators_per_node: 8, nodes: 4}
  - {name: b, provider: p, region: r, domain: b, accelerator: H100, accelerators_per_node: 8, nodes: 2}
  - {name: c, provider: q, region: s, domain: c, accelerator: H200, accelerators_per_node: 8, nodes: 2}
)",
                           "t.yaml");
  EXPECT_TRUE(f.ok()) << f.status();
  return *f;
}

TEST(CapacityTest, GangsAreAllOrNothingInsideOnePool) {
  const FleetModel f = TwoPools();
  Capacity c(f);
  EXPECT_EQ(c.PoolsFor("H100").size(), 2u);
  // 3 whole nodes do not fit in pool b (2 nodes): nothing is taken.
  EXPECT_FALSE(c.PlaceIn(1, {"H100", 3, 8}).has_value());
  EXPECT_EQ(c.FreeAccelerators(1), 16);
  auto gang = c.PlaceIn(0, {"H100", 3, 8});
  ASSERT_TRUE(gang.has_value());
  EXPECT_EQ(gang->nodes.size(), 3u);
  EXPECT_EQ(std::set<uint32_t>(gang->nodes.begin(), gang->nodes.end()).size(), 3u);
  EXPECT_EQ(c.FreeAccelerators(0), 8);
  // 2 more whole nodes: pool a has one left, so no partial gang there.
  EXPECT_FALSE(c.PlaceIn(0, {"H100", 2, 8}).has_value());
  EXPECT_EQ(c.FreeAccelerators(0), 8);
  c.Release(*gang);
  EXPECT_EQ(c.FreeAccelerators(0), 32);
  EXPECT_TRUE(c.PlaceIn(0, {"H100", 4, 8}).has_value());
}

TEST(CapacityTest, WrongAcceleratorOrOversizedNodesNeverFit) {
  const FleetModel f = TwoPools();
  Capacity c(f);
  EXPECT_FALSE(c.EverFits(0, {"H200", 1, 8}));
  EXPECT_FALSE(c.EverFits(0, {"H100", 1, 16}));
  EXPECT_FALSE(c.EverFits(0, {"H100", 5, 8}));
  EXPECT_FALSE(c.PlaceIn(2, {"H100", 1, 1}).has_value());
}

TEST(CapacityTest, BestFitKeepsWholeNodesFree) {
  const FleetModel f = TwoPools();
  Capacity c(f);
  auto first = c.PlaceIn(1, {"H100", 1, 4});
  auto second = c.PlaceIn(1, {"H100", 1, 2});
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->nodes[0], second->nodes[0]);           // packed onto the partly used node
  EXPECT_TRUE(c.PlaceIn(1, {"H100", 1, 8}).has_value());  // the other node stayed whole
}

TEST(CapacityTest, UnavailablePoolsPlaceNothing) {
  const FleetModel f = TwoPools();
  Capacity c(f);
  c.SetAvailable(0, false);
  EXPECT_FALSE(c.PlaceIn(0, {"H100", 1, 1}).has_value());
  EXPECT_EQ(c.TotalFree(), 32);
  c.SetAvailable(0, true);
  EXPECT_TRUE(c.PlaceIn(0, {"H100", 1, 1}).has_value());
}

// Random places and releases never over-allocate a node, and free counts always add up.
TEST(CapacityTest, RandomOperationsKeepTheBooksConsistent) {
  const FleetModel f = TwoPools();
  Capacity c(f);
  std::mt19937 rng(7);
  std::vector<Placement> live;
  std::vector<std::vector<int>> used = {std::vector<int>(4), std::vector<int>(2),
                                        std::vector<int>(2)};
  for (int step = 0; step < 5000; ++step) {
    if (!live.empty() && rng() % 3 == 0) {
      const size_t i = rng() % live.size();
      for (uint32_t n : live[i].nodes) used[live[i].pool][n] -= live[i].per_node;
      c.Release(live[i]);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      const uint32_t pool = rng() % 3;
      const Need need{pool == 2 ? "H200" : "H100", 1 + static_cast<int>(rng() % 2),
                      1 + static_cast<int>(rng() % 8)};
      if (auto p = c.PlaceIn(pool, need)) {
        ASSERT_EQ(static_cast<int>(p->nodes.size()), need.nodes);
        for (uint32_t n : p->nodes) {
          used[pool][n] += need.per_node;
          ASSERT_LE(used[pool][n], 8) << "node over-allocated";
        }
        live.push_back(*p);
      }
    }
    for (uint32_t pool = 0; pool < 3; ++pool) {
      int64_t free = 0;
      for (int u : used[pool]) free += 8 - u;
      ASSERT_EQ(c.FreeAccelerators(pool), free);
    }
  }
}

}  // namespace
}  // namespace awan::scheduler

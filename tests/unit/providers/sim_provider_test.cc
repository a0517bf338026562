// The emulated cloud's books: all-or-nothing capacity, quota, outages, injected failures, release,
// preemption, delay. (The sim provider is a product feature and the test double for real clouds.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "awan/catalog/loader.h"
#include "awan/providers/sim.h"

namespace awan::providers {
namespace {

using ::testing::HasSubstr;

catalog::Catalog Source() {
  catalog::Catalog c;
  catalog::LoadReport report;
  EXPECT_TRUE(catalog::ParseAwanCatalog(R"(
provider: cloud
regions: {r1: [r1a, r1b], r2: []}
offerings:
  - {instance_type: gpu8, accelerator: H100, accelerator_count: 8, vcpus: 96, memory_gib: 1024, price: 40, spot_price: 12}
  - {instance_type: cpu, vcpus: 8, memory_gib: 32, price: 0.4}
)",
                                        "cloud.yaml", c, report)
                  .ok());
  c.Finalize();
  return c;
}

SimConfig Config() {
  SimConfig c;
  c.name = "sim1";
  c.emulates = "cloud";
  c.default_capacity = 4;
  c.capacity["r1/r1a/gpu8"] = 2;
  c.delay_min_ms = 100;
  c.delay_max_ms = 100;
  return c;
}

Offer GpuOffer(const std::string& region, const std::string& zone, int nodes, bool spot = false) {
  return {region, zone, "gpu8", "H100", 8, spot, nodes};
}

const ProviderError* Error(const ProvisionResult& r) { return std::get_if<ProviderError>(&r); }
const Allocation* Alloc(const ProvisionResult& r) { return std::get_if<Allocation>(&r); }

TEST(SimProviderTest, SellsTheEmulatedProvidersOfferingsUnderItsOwnName) {
  const catalog::Catalog source = Source();
  SimProvider sim(Config(), source);
  catalog::Catalog c;
  sim.AddOfferings(c);
  c.Finalize();
  EXPECT_EQ(c.size(), 6u);  // 2 types × (2 zones + 1 zoneless region)
  EXPECT_TRUE(c.HasProvider("sim1"));
  EXPECT_FALSE(c.HasProvider("cloud"));
}

TEST(SimProviderTest, CapacityIsAllOrNothingAndReleaseGivesItBack) {
  const catalog::Catalog source = Source();
  SimProvider sim(Config(), source);
  auto first = sim.Provision(1, GpuOffer("r1", "r1a", 2), 1000);
  ASSERT_NE(Alloc(first), nullptr);
  EXPECT_EQ(Alloc(first)->hosts.size(), 2u);
  EXPECT_EQ(Alloc(first)->ready_at, 1100);
  auto gang = sim.Provision(2, GpuOffer("r1", "r1a", 1), 1000);
  ASSERT_NE(Error(gang), nullptr);
  EXPECT_EQ(Error(gang)->kind, ErrorKind::kCapacityUnavailable);
  EXPECT_THAT(Error(gang)->message, HasSubstr("0 free of 2"));
  // A 5-node gang in a zone of 4 takes nothing at all.
  auto big = sim.Provision(3, GpuOffer("r1", "r1b", 5), 1000);
  ASSERT_NE(Error(big), nullptr);
  EXPECT_EQ(sim.NodesHeld(), 2);
  sim.Release(Alloc(first)->id);
  sim.Release(Alloc(first)->id);  // idempotent
  EXPECT_EQ(sim.NodesHeld(), 0);
  EXPECT_NE(Alloc(sim.Provision(4, GpuOffer("r1", "r1a", 2), 1000)), nullptr);
}

TEST(SimProviderTest, QuotaPerRegion) {
  const catalog::Catalog source = Source();
  SimConfig config = Config();
  config.quota["r1"] = 3;
  SimProvider sim(config, source);
  ASSERT_NE(Alloc(sim.Provision(1, GpuOffer("r1", "r1b", 2), 0)), nullptr);
  auto over = sim.Provision(2, GpuOffer("r1", "r1a", 2), 0);
  ASSERT_NE(Error(over), nullptr);
  EXPECT_EQ(Error(over)->kind, ErrorKind::kQuotaExceeded);
  EXPECT_NE(Alloc(sim.Provision(3, GpuOffer("r2", "", 2), 0)), nullptr);  // another region
}

TEST(SimProviderTest, OutagesOfARegionOrTheWholeProvider) {
  const catalog::Catalog source = Source();
  SimProvider sim(Config(), source);
  sim.SetOutage("r1", 5000);
  auto down = sim.Provision(1, GpuOffer("r1", "r1a", 1), 1000);
  ASSERT_NE(Error(down), nullptr);
  EXPECT_EQ(Error(down)->kind, ErrorKind::kProviderDown);
  EXPECT_EQ(Error(down)->scope, ErrorScope::kRegion);
  EXPECT_NE(Alloc(sim.Provision(2, GpuOffer("r2", "", 1), 1000)), nullptr);
  EXPECT_NE(Alloc(sim.Provision(3, GpuOffer("r1", "r1a", 1), 6000)), nullptr);  // the outage ended
  sim.SetOutage("", 0);
  auto all = sim.Provision(4, GpuOffer("r2", "", 1), 7000);
  ASSERT_NE(Error(all), nullptr);
  EXPECT_EQ(Error(all)->scope, ErrorScope::kDefault);
  sim.Restore("");
  EXPECT_NE(Alloc(sim.Provision(5, GpuOffer("r2", "", 1), 7000)), nullptr);
}

TEST(SimProviderTest, InjectedFailuresAndInvalidRequests) {
  const catalog::Catalog source = Source();
  SimConfig config = Config();
  config.failures.push_back({ErrorKind::kTransient, "r2", "", 1.0});
  SimProvider sim(config, source);
  auto failed = sim.Provision(1, GpuOffer("r2", "", 1), 0);
  ASSERT_NE(Error(failed), nullptr);
  EXPECT_EQ(Error(failed)->kind, ErrorKind::kTransient);
  auto unknown = sim.Provision(2, Offer{"r9", "", "gpu8", "H100", 8, false, 1}, 0);
  EXPECT_EQ(Error(unknown)->kind, ErrorKind::kInvalidRequest);
  auto no_spot = sim.Provision(3, Offer{"r1", "r1a", "cpu", "", 0, true, 1}, 0);
  EXPECT_EQ(Error(no_spot)->kind, ErrorKind::kInvalidRequest);
  EXPECT_EQ(sim.NodesHeld(), 0);
}

TEST(SimProviderTest, PreemptionByHandAndByRate) {
  const catalog::Catalog source = Source();
  SimConfig config = Config();
  config.spot_preemptions_per_hour = 1e6;  // effectively certain within a second
  SimProvider sim(config, source);
  auto spot = sim.Provision(1, GpuOffer("r1", "r1b", 1, true), 0);
  auto demand = sim.Provision(2, GpuOffer("r2", "", 1), 0);
  ASSERT_NE(Alloc(spot), nullptr);
  auto preempted = sim.TakePreempted(1000);
  ASSERT_EQ(preempted.size(), 1u);
  EXPECT_EQ(preempted[0], Alloc(spot)->id);  // only spot allocations are preempted by the rate
  EXPECT_TRUE(sim.Preempt(Alloc(demand)->hosts[0]));
  EXPECT_EQ(sim.TakePreempted(1000), std::vector<std::string>{Alloc(demand)->id});
  EXPECT_FALSE(sim.Preempt("no-such-host"));
}

TEST(SimProviderTest, BooksListUsageAgainstCapacity) {
  const catalog::Catalog source = Source();
  SimProvider sim(Config(), source);
  ASSERT_NE(Alloc(sim.Provision(1, GpuOffer("r1", "r1a", 2), 0)), nullptr);
  bool found = false;
  for (const auto& u : sim.Books()) {
    if (u.region == "r1" && u.zone == "r1a" && u.instance_type == "gpu8") {
      EXPECT_EQ(u.used, 2);
      EXPECT_EQ(u.capacity, 2);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace awan::providers

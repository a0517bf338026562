#include "awan/scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>

namespace awan::scheduler {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

FleetModel Fleet(const std::string& extra = "") {
  auto f = ParseFleetModel(R"(start: 2026-01-01
pools:
  - {name: p-a, provider: p, region: r1, domain: a, accelerator: H100, accelerators_per_node: 8, nodes: 4}
  - {name: q-b, provider: q, region: r2, domain: b, accelerator: H100, accelerators_per_node: 8, nodes: 4}
)" + extra,
                           "t.yaml");
  EXPECT_TRUE(f.ok()) << f.status();
  return *f;
}

JobSpec Job(int64_t id, int nodes, int priority = 0, bool preemptible = false,
            std::string team = "t", std::optional<int64_t> duration = std::nullopt) {
  JobSpec j;
  j.id = id;
  j.team = std::move(team);
  j.priority = priority;
  j.alternatives = {{"H100", nodes, 8}};
  j.preemptible = preemptible;
  j.duration_s = duration;
  j.submit_s = id;
  return j;
}

std::vector<int64_t> Started(const std::vector<Decision>& d) {
  std::vector<int64_t> out;
  for (const Decision& x : d) {
    if (x.kind == Decision::Kind::kStart) out.push_back(x.job);
  }
  return out;
}
std::vector<int64_t> Preempted(const std::vector<Decision>& d) {
  std::vector<int64_t> out;
  for (const Decision& x : d) {
    if (x.kind == Decision::Kind::kPreempt) out.push_back(x.job);
  }
  return out;
}

TEST(SchedulerTest, PoliciesAreChosenByName) {
  for (const std::string& name : PolicyNames()) EXPECT_EQ(MakePolicy(name)->name(), name);
  EXPECT_EQ(MakePolicy("lottery"), nullptr);
}

TEST(SchedulerTest, GangsAreNeverPartial) {
  const FleetModel f = Fleet();
  Scheduler s(f, MakePolicy("fifo"));
  s.Submit(Job(1, 5));  // no pool has 5 nodes: never placed, not even partly, and it blocks nobody
  s.Submit(Job(2, 4));
  s.Submit(Job(3, 4));
  s.Submit(Job(4, 1));
  EXPECT_THAT(Started(s.Schedule(0)), ElementsAre(2, 3));  // job 4 finds no room left
  EXPECT_EQ(s.capacity().TotalFree(), 0);
  EXPECT_EQ(s.running().count(1), 0u);
  Scheduler p(f, MakePolicy("backfill"));
  p.Submit(Job(1, 5));
  p.Submit(Job(2, 4));
  EXPECT_THAT(Started(p.Schedule(0)), ElementsAre(2));
  EXPECT_EQ(p.running().at(2).placement.nodes.size(), 4u);
}

TEST(SchedulerTest, HigherPriorityPreemptsOnlyPreemptibleLowerJobs) {
  const FleetModel f = Fleet();
  Scheduler s(f, MakePolicy("priority"));
  s.Submit(Job(1, 4, 0, /*preemptible=*/false));
  s.Submit(Job(2, 4, 0, /*preemptible=*/true));
  EXPECT_THAT(Started(s.Schedule(0)), UnorderedElementsAre(1, 2));
  s.Submit(Job(3, 4, /*priority=*/5));
  auto d = s.Schedule(1);
  EXPECT_THAT(Preempted(d), ElementsAre(2));
  EXPECT_THAT(Started(d), ElementsAre(3));
  EXPECT_TRUE(s.running().count(1));  // not preemptible: kept
  EXPECT_EQ(s.queued(), 1u);          // job 2 waits again
  // Equal priority never preempts, preemptible or not.
  s.Submit(Job(4, 4, 5));
  EXPECT_TRUE(Preempted(s.Schedule(2)).empty());
}

TEST(SchedulerTest, PreemptionTakesOnlyTheJobsTheGangNeeds) {
  // One 2-node pool; each node runs two 4-GPU preemptible jobs. An 8-GPU job needs one whole node:
  // releasing the most recent first frees node b's job 4, node a's job 3, then node b's job 2 —
  // node b is whole; job 3 (on node a) was not needed and keeps running.
  const FleetModel f = *ParseFleetModel(R"(start: 2026-01-01
pools:
  - {name: p-a, provider: p, region: r1, domain: a, accelerator: H100, accelerators_per_node: 8, nodes: 2}
)",
                                        "t.yaml");
  Scheduler s(f, MakePolicy("priority"));
  for (int id = 1; id <= 4; ++id) {
    JobSpec j = Job(id, 1, 0, /*preemptible=*/true);
    j.alternatives = {{"H100", 1, 4}};
    s.Submit(j);
    s.Schedule(id);  // started at t = id: job 4 is the most recent
  }
  ASSERT_EQ(s.running().size(), 4u);
  const uint32_t node_of_4 = s.running().at(4).placement.nodes[0];
  s.Submit(Job(5, 1, 5));
  auto d = s.Schedule(10);
  EXPECT_THAT(Started(d), ElementsAre(5));
  EXPECT_EQ(Preempted(d).size(), 2u);
  EXPECT_EQ(s.running().size(), 3u);
  EXPECT_EQ(s.running().at(5).placement.nodes[0], node_of_4);
  for (int64_t id : Preempted(d)) EXPECT_EQ(s.running().count(id), 0u);
}

TEST(SchedulerTest, QuotasAllowBorrowingAndReclaimIt) {
  const FleetModel f = Fleet(R"(teams:
  - {name: x, weight: 1, quota: {H100: 32}}
  - {name: y, weight: 1, quota: {H100: 32}}
)");
  Scheduler s(f, MakePolicy("priority"));
  // x runs within its quota (4 nodes = 32), then borrows y's idle quota (4 more).
  s.Submit(Job(1, 4, 0, false, "x"));
  s.Submit(Job(2, 4, 0, false, "x"));
  EXPECT_THAT(Started(s.Schedule(0)), UnorderedElementsAre(1, 2));
  EXPECT_FALSE(s.running().at(1).borrowed);
  EXPECT_TRUE(s.running().at(2).borrowed);
  EXPECT_EQ(s.TeamUsage("x", "H100"), 64);
  // y, within its quota, reclaims: the borrowed job goes, the one within quota stays.
  s.Submit(Job(3, 2, 0, false, "y"));
  auto d = s.Schedule(1);
  EXPECT_THAT(Preempted(d), ElementsAre(2));
  EXPECT_THAT(Started(d), ElementsAre(3));
  EXPECT_TRUE(s.running().count(1));
}

TEST(SchedulerTest, CommittedCapacityIsUsedFirst) {
  // Provider q has a contract for 16 H100s; p (listed first) has none.
  const FleetModel f = Fleet(R"(contracts:
  - {name: q-h100, provider: q, accelerator: H100, price_per_accelerator_hour: 2, ramp: [{from: 2026-01-01, accelerators: 16}]}
)");
  Scheduler s(f, MakePolicy("fifo"));
  s.Submit(Job(1, 2));
  s.Submit(Job(2, 2));
  s.Schedule(0);
  EXPECT_EQ(s.capacity().pool(s.running().at(1).placement.pool).provider, "q");
  EXPECT_TRUE(s.running().at(1).committed);
  // The commitment is used up: the next job goes to on-demand capacity.
  EXPECT_EQ(s.capacity().pool(s.running().at(2).placement.pool).provider, "p");
  EXPECT_FALSE(s.running().at(2).committed);
}

TEST(SchedulerTest, AnOutageRequeuesExactlyTheAffectedJobs) {
  const FleetModel f = Fleet();
  Scheduler s(f, MakePolicy("fifo"));
  for (int id = 1; id <= 4; ++id) s.Submit(Job(id, 2));
  s.Schedule(0);
  std::vector<int64_t> on_q;
  for (const auto& [id, r] : s.running()) {
    if (s.capacity().pool(r.placement.pool).provider == "q") on_q.push_back(id);
  }
  ASSERT_EQ(on_q.size(), 2u);
  std::sort(on_q.begin(), on_q.end());
  EXPECT_EQ(s.SetOutage("q", "", true), on_q);
  EXPECT_EQ(s.running().size(), 2u);
  EXPECT_EQ(s.queued(), 2u);
  EXPECT_TRUE(Started(s.Schedule(1)).empty());  // p is full, q is down
  s.SetOutage("q", "", false);
  EXPECT_EQ(Started(s.Schedule(2)).size(), 2u);
}

TEST(SchedulerTest, BackfillUsesHolesWithoutDelayingTheHead) {
  const FleetModel f = Fleet();
  Scheduler s(f, MakePolicy("backfill"));
  s.Submit(Job(1, 4, 0, false, "t", 100));  // fills p until t=100
  s.Submit(Job(2, 2, 0, false, "t", 100));  // half of q until t=100
  s.Schedule(0);
  s.Submit(Job(3, 4, 0, false, "t", 50));   // the head: needs a whole pool, waits for t=100
  s.Submit(Job(4, 2, 0, false, "t", 50));   // ends at 60 < 100: may use q's free half
  s.Submit(Job(5, 2, 0, false, "t", 500));  // would end after 100 and q is the head's pool: waits
  auto d = s.Schedule(10);
  EXPECT_THAT(Started(d), ElementsAre(4));
  // Without backfill the head blocks everything behind it.
  Scheduler fifo(f, MakePolicy("fifo"));
  fifo.Submit(Job(1, 4, 0, false, "t", 100));
  fifo.Submit(Job(2, 2, 0, false, "t", 100));
  fifo.Schedule(0);
  fifo.Submit(Job(3, 4, 0, false, "t", 50));
  fifo.Submit(Job(4, 2, 0, false, "t", 50));
  EXPECT_TRUE(Started(fifo.Schedule(10)).empty());
}

TEST(SchedulerTest, FairShareServesTheTeamWithLessFirst) {
  const FleetModel f = Fleet(R"(teams:
  - {name: big, weight: 1, quota: {H100: 64}}
  - {name: small, weight: 1, quota: {H100: 64}}
)");
  Scheduler s(f, MakePolicy("fairshare"));
  s.Submit(Job(1, 4, 0, false, "big"));
  s.Schedule(0);
  s.Submit(Job(2, 4, 0, false, "big"));
  s.Submit(Job(3, 4, 0, false, "small"));  // submitted later, but its team uses nothing yet
  EXPECT_THAT(Started(s.Schedule(1)), ElementsAre(3));
}

TEST(SchedulerTest, MarketLimitsCapOnDemandAndSpotServesPreemptibleJobs) {
  // p: 8 committed, at most 8 more on demand, 16 spot; q has no capacity for H100 on its market.
  const FleetModel f = Fleet(R"(contracts:
  - {name: c, provider: p, accelerator: H100, price_per_accelerator_hour: 2, ramp: [{from: 2026-01-01, accelerators: 8}]}
on_demand:
  - {provider: p, accelerator: H100, max_on_demand: 8, max_spot: 16}
  - {provider: q, accelerator: H100, max_on_demand: 0}
)");
  Scheduler s(f, MakePolicy("fifo"));
  s.Submit(Job(1, 1));                           // committed
  s.Submit(Job(2, 1));                           // on demand (the limit's 8)
  s.Submit(Job(3, 1, 0, /*preemptible=*/true));  // spot
  s.Submit(Job(4, 1, 0, /*preemptible=*/true));  // spot (16 reached)
  s.Submit(Job(5, 1));                           // no room left on any market: waits
  EXPECT_THAT(Started(s.Schedule(0)), ElementsAre(1, 2, 3, 4));
  EXPECT_EQ(s.running().at(1).tier, Tier::kCommitted);
  EXPECT_EQ(s.running().at(2).tier, Tier::kOnDemand);
  EXPECT_EQ(s.running().at(3).tier, Tier::kSpot);
  EXPECT_EQ(s.running().at(4).tier, Tier::kSpot);
  EXPECT_EQ(s.capacity().TotalFree(), 64 - 32);  // the books have room, the markets do not
  s.Finish(2);
  EXPECT_THAT(Started(s.Schedule(1)), ElementsAre(5));
  EXPECT_EQ(s.running().at(5).tier, Tier::kOnDemand);
}

TEST(SchedulerTest, AGangMaySpanTheCommitmentAndOnDemand) {
  const FleetModel f = Fleet(R"(contracts:
  - {name: c, provider: p, accelerator: H100, price_per_accelerator_hour: 2, ramp: [{from: 2026-01-01, accelerators: 16}]}
on_demand:
  - {provider: p, accelerator: H100, max_on_demand: 16}
)");
  Scheduler s(f, MakePolicy("fifo"));
  s.Submit(Job(1, 4));  // 32 = 16 committed + 16 on demand, all in pool p-a
  EXPECT_THAT(Started(s.Schedule(0)), ElementsAre(1));
  const Running& r = s.running().at(1);
  EXPECT_EQ(r.committed_accelerators, 16);
  EXPECT_EQ(r.tier, Tier::kOnDemand);
  EXPECT_FALSE(r.committed);
  EXPECT_EQ(s.capacity().pool(r.placement.pool).provider, "p");
}

TEST(SchedulerTest, TheCommitmentFollowsTheContractRamp) {
  const FleetModel f = Fleet(R"(contracts:
  - {name: c, provider: p, accelerator: H100, price_per_accelerator_hour: 2,
     ramp: [{from: 2026-01-01, accelerators: 8}, {from: 2026-01-02, accelerators: 24}]}
)");
  Scheduler s(f, MakePolicy("fifo"));
  s.Submit(Job(1, 2));
  s.Schedule(0);
  EXPECT_EQ(s.running().at(1).committed_accelerators, 8);  // only 8 committed on day one
  s.Submit(Job(2, 2));
  s.Schedule(86400);  // day two: 24 committed, 8 of them in use
  EXPECT_EQ(s.running().at(2).committed_accelerators, 16);
  EXPECT_TRUE(s.running().at(2).committed);
}

TEST(SchedulerTest, AJobNoPoolCanTakeNowDoesNotBlockTheQueue) {
  // q is down; job 1 asks for more than p's market allows: neither blocks job 2 under FIFO.
  const FleetModel f = Fleet(R"(on_demand:
  - {provider: p, accelerator: H100, max_on_demand: 16}
)");
  Scheduler s(f, MakePolicy("fifo"));
  s.SetOutage("q", "", true);
  s.Submit(Job(1, 3));
  s.Submit(Job(2, 1));
  EXPECT_THAT(Started(s.Schedule(0)), ElementsAre(2));
  EXPECT_EQ(s.queued(), 1u);
  s.SetOutage("q", "", false);  // q is back: job 1 fits there
  EXPECT_THAT(Started(s.Schedule(1)), ElementsAre(1));
}

TEST(SchedulerTest, ABlockedHeadIsTriedAgainOnceCapacityIsFreed) {
  const FleetModel f = Fleet();
  Scheduler s(f, MakePolicy("fifo"));
  s.Submit(Job(1, 4));
  s.Submit(Job(2, 4));
  s.Schedule(0);
  s.Submit(Job(3, 4));
  EXPECT_TRUE(Started(s.Schedule(1)).empty());
  EXPECT_TRUE(Started(s.Schedule(2)).empty());  // nothing changed: not even tried
  s.Finish(2);
  EXPECT_THAT(Started(s.Schedule(3)), ElementsAre(3));
}

// Random operations under every policy; after each, the books must add up: every pool's free plus
// its running jobs' accelerators is its size, team usage and market use are the sums over running
// jobs, and no job is lost or duplicated.
TEST(SchedulerTest, BooksAddUpUnderRandomOperations) {
  const FleetModel f = Fleet(R"(contracts:
  - {name: c, provider: p, accelerator: H100, price_per_accelerator_hour: 2, ramp: [{from: 2026-01-01, accelerators: 16}]}
on_demand:
  - {provider: p, accelerator: H100, max_on_demand: 24, max_spot: 8}
teams:
  - {name: x, weight: 1, quota: {H100: 24}}
  - {name: y, weight: 2, quota: {H100: 24}}
)");
  for (const std::string& policy : PolicyNames()) {
    SCOPED_TRACE(policy);
    Scheduler s(f, MakePolicy(policy));
    std::mt19937_64 rng(42);
    int64_t next_id = 1, submitted = 0, finished = 0;
    for (int step = 0; step < 3000; ++step) {
      const int op = static_cast<int>(rng() % 10);
      if (op < 5) {
        JobSpec j = Job(next_id++, 1, static_cast<int>(rng() % 3), rng() % 2 == 0,
                        rng() % 2 ? "x" : "y", static_cast<int64_t>(rng() % 100));
        j.alternatives = {{"H100", 1 + static_cast<int>(rng() % 3), 1 << (rng() % 4)}};
        j.submit_s = step;
        s.Submit(j);
        ++submitted;
      } else if (op < 8 && !s.running().empty()) {
        std::vector<int64_t> ids;
        for (const auto& [id, r] : s.running()) ids.push_back(id);
        std::sort(ids.begin(), ids.end());
        s.Finish(ids[rng() % ids.size()]);
        ++finished;
      } else if (op == 8) {
        s.SetOutage(rng() % 2 ? "p" : "q", "", rng() % 3 == 0);
      }
      s.Schedule(step);
      std::map<uint32_t, int64_t> used;
      std::map<std::string, int64_t> team;
      int64_t market[2][3] = {};
      for (const auto& [id, r] : s.running()) {
        const Need& need = r.spec.alternatives[r.alternative];
        ASSERT_EQ(r.placement.nodes.size(), static_cast<size_t>(need.nodes));
        used[r.placement.pool] += need.accelerators();
        team[r.spec.team] += need.accelerators();
        const size_t m = s.MarketOf(r.placement.pool);
        market[m][0] += r.committed_accelerators;
        if (r.tier != Tier::kCommitted)
          market[m][static_cast<int>(r.tier)] += need.accelerators() - r.committed_accelerators;
      }
      for (uint32_t p = 0; p < s.capacity().pool_count(); ++p) {
        ASSERT_EQ(s.capacity().FreeAccelerators(p) + used[p], s.capacity().pool(p).accelerators())
            << "step " << step;
      }
      ASSERT_EQ(s.TeamUsage("x", "H100"), team["x"]);
      ASSERT_EQ(s.TeamUsage("y", "H100"), team["y"]);
      for (size_t m = 0; m < s.markets().size(); ++m) {
        for (int t = 0; t < 3; ++t)
          ASSERT_EQ(s.markets()[m].in_use[t], market[m][t]) << "market " << m;
      }
      ASSERT_EQ(s.running().size() + s.queued(), static_cast<size_t>(submitted - finished))
          << "step " << step;
    }
  }
}

TEST(SchedulerTest, AWithdrawnJobLeavesTheQueueAndUnblocksThoseBehindIt) {
  const FleetModel fleet = Fleet();
  Scheduler s(fleet, MakePolicy("fifo"));
  s.Submit(Job(1, 4));
  s.Submit(Job(2, 4));
  EXPECT_THAT(Started(s.Schedule(0)), ElementsAre(1, 2));
  s.Submit(Job(3, 4));  // waits: both pools are full, and FIFO keeps 4 behind it
  s.Submit(Job(4, 1));
  JobSpec never = Job(5, 9);  // bigger than any pool
  s.Submit(never);
  EXPECT_TRUE(Started(s.Schedule(1)).empty());
  EXPECT_EQ(s.queued(), 3u);
  EXPECT_TRUE(s.Withdraw(Job(3, 4)));
  EXPECT_FALSE(s.Withdraw(Job(3, 4)));
  EXPECT_TRUE(s.Withdraw(never));
  EXPECT_EQ(s.queued(), 1u);
  s.Finish(1);
  EXPECT_THAT(Started(s.Schedule(2)), ElementsAre(4));
  EXPECT_FALSE(s.Withdraw(Job(4, 1)));  // running, not queued
}

TEST(SchedulerTest, AdoptedJobsHoldTheirPoolAndCanBePreempted) {
  const FleetModel fleet = Fleet();
  Scheduler s(fleet, MakePolicy("priority"));
  EXPECT_TRUE(s.Adopt(Job(1, 4, 0, true), 1, 0));  // in q-b, as a restarted server finds it
  EXPECT_FALSE(s.Adopt(Job(2, 1), 1, 0));          // no room left there
  EXPECT_FALSE(s.Adopt(Job(1, 1), 0, 0));          // already running
  EXPECT_EQ(s.running().at(1).placement.pool, 1u);
  s.Submit(Job(3, 4));
  EXPECT_THAT(Started(s.Schedule(1)), ElementsAre(3));
  EXPECT_EQ(s.running().at(3).placement.pool, 0u);  // not on top of the adopted job
  s.Submit(Job(4, 4, 5));
  const auto d = s.Schedule(2);
  EXPECT_THAT(Preempted(d), ElementsAre(1));
  EXPECT_THAT(Started(d), ElementsAre(4));
}

}  // namespace
}  // namespace awan::scheduler

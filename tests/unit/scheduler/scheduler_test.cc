#include "awan/scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

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

JobSpec Job(int64_t id, int nodes, int priority = 0, bool preemptible = false, std::string team = "t",
            std::optional<int64_t> duration = std::nullopt) {
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

}  // namespace
}  // namespace awan::scheduler

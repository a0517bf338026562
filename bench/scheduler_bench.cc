// Scheduler benchmark (issue 5) on examples/fleets/500k.yaml (500,000 accelerators, 62,500 nodes),
// a runner printing figures against the targets:
//   1. capacity books alone: one gang placement with the fleet ~70% busy;
//   2. incremental placement of one gang job through the scheduler (Submit + Schedule) with the
//      fleet ~70% busy and a blocked queue of 10,000 jobs behind — target p50 <= 50 µs, p99 <= 1
//      ms;
//   3. one full scheduling pass over 100,000 queued jobs on the empty fleet, per policy, and one
//      over 100,000 high-priority jobs on a fleet full of preemptible ones — target <= 2 s.
// Run: build/release/bench/scheduler_bench   (figures recorded in docs/performance.md)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "awan/scheduler/capacity.h"
#include "awan/scheduler/scheduler.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace awan::scheduler;

const std::vector<std::string> kTypes = {"H100", "H200", "B200"};

double Us(Clock::time_point since) {
  return std::chrono::duration<double, std::micro>(Clock::now() - since).count();
}

// Accelerator types in proportion to the fleet's capacity of each.
const std::string& PickType(std::mt19937_64& rng, const FleetModel& fleet) {
  static std::vector<const std::string*> by_accelerator;
  if (by_accelerator.empty()) {
    for (const Pool& p : fleet.pools) by_accelerator.push_back(&p.accelerator);
  }
  return *by_accelerator[rng() % by_accelerator.size()];
}

// A mixed job: 1, 2, 4 or 8 accelerators on one node (70%), or a gang of 2-32 whole nodes.
JobSpec MixedJob(int64_t id, std::mt19937_64& rng, const FleetModel& fleet) {
  JobSpec job;
  job.id = id;
  job.team = fleet.teams[static_cast<size_t>(rng() % fleet.teams.size())].name;
  job.submit_s = id;
  job.duration_s = 600 + static_cast<int64_t>(rng() % 36000);
  const int kind = static_cast<int>(rng() % 10);
  const std::string& acc = PickType(rng, fleet);
  if (kind < 7) {
    job.alternatives = {{acc, 1, 1 << (rng() % 4)}};
  } else {
    job.alternatives = {{acc, 2 + static_cast<int>(rng() % 31), 8}};
  }
  return job;
}

double Percentile(std::vector<double>& v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

int main() {
  auto fleet = LoadFleetModel(std::string(AWAN_SOURCE_DIR) + "/examples/fleets/500k.yaml");
  if (!fleet.ok()) {
    fmt::print(stderr, "{}\n", std::string(fleet.status().message()));
    return 1;
  }
  fmt::print("fleet {}: {} accelerators on {} nodes, {} pools\n\n", fleet->name,
             fleet->TotalAccelerators(), fleet->TotalNodes(), fleet->pools.size());

  // 1. The capacity books alone.
  {
    const auto t0 = Clock::now();
    Capacity capacity(*fleet);
    const double build_ms = Us(t0) / 1000;
    std::mt19937_64 rng(1);
    int64_t placed = 0;
    const int64_t target = fleet->TotalAccelerators() * 7 / 10;
    while (placed < target) {
      const std::string& acc = PickType(rng, *fleet);
      const int kind = static_cast<int>(rng() % 4);
      const Need need{acc, kind == 3 ? 8 : 1, kind == 0 ? 1 : kind == 1 ? 4 : 8};
      auto pools = capacity.PoolsFor(acc);
      if (!pools.empty() && capacity.PlaceIn(pools[rng() % pools.size()], need))
        placed += need.accelerators();
    }
    std::vector<double> us;
    for (int i = 0; i < 20000; ++i) {
      const Need need{kTypes[static_cast<size_t>(i) % 3], 1 + static_cast<int>(rng() % 16), 8};
      const auto start = Clock::now();
      std::optional<Placement> p;
      for (uint32_t pool : capacity.PoolsFor(need.accelerator)) {
        if ((p = capacity.PlaceIn(pool, need))) break;
      }
      us.push_back(Us(start));
      if (p) capacity.Release(*p);
    }
    fmt::print(
        "capacity books: built in {:.1f} ms; gang placement (1-16 nodes x 8, 70% busy): p50 {:.2f} "
        "us, "
        "p99 {:.2f} us\n",
        build_ms, Percentile(us, 0.5), Percentile(us, 0.99));
  }

  // 2. Incremental placement through the scheduler.
  {
    Scheduler s(*fleet, MakePolicy("priority"));
    std::mt19937_64 rng(2);
    int64_t id = 0;
    // Fill the fleet to ~70% with running jobs of 1-8 accelerators (a third preemptible); GB200
    // entirely, so that the queue behind waits on a GB200 gang that cannot start.
    for (uint32_t p = 0; p < s.capacity().pool_count(); ++p) {
      const Pool& pool = s.capacity().pool(p);
      const bool full = pool.accelerator == "GB200";
      int64_t busy = 0;
      while (busy < pool.accelerators() * (full ? 10 : 7) / 10) {
        JobSpec job;
        job.id = ++id;
        job.team = fleet->teams[static_cast<size_t>(id) % fleet->teams.size()].name;
        job.alternatives = {{pool.accelerator, 1, full ? 8 : 1 << (rng() % 4)}};
        job.preemptible = !full && rng() % 3 == 0;
        job.duration_s = 3600;
        busy += job.alternatives[0].accelerators();
        s.Submit(job);
      }
    }
    s.Schedule(0);
    const double busy_share = 1 - static_cast<double>(s.capacity().TotalFree()) /
                                      static_cast<double>(fleet->TotalAccelerators());
    for (int i = 0; i < 10000; ++i) {
      JobSpec job = MixedJob(++id, rng, *fleet);
      job.alternatives = {{"GB200", 1 + i % 8, 8}};
      s.Submit(job);
    }
    s.Schedule(1);
    std::vector<double> us;
    size_t started = 0;
    for (int i = 0; i < 20000; ++i) {
      JobSpec gang;
      gang.id = ++id;
      gang.team = fleet->teams[static_cast<size_t>(i) % fleet->teams.size()].name;
      gang.priority = 10;
      gang.submit_s = 2 + i;
      gang.duration_s = 3600;
      gang.alternatives = {{kTypes[rng() % kTypes.size()], 1 + static_cast<int>(rng() % 16), 8}};
      const auto start = Clock::now();
      s.Submit(gang);
      const auto decisions = s.Schedule(2 + i);
      us.push_back(Us(start));
      if (s.running().contains(gang.id)) {
        ++started;
        s.Finish(gang.id);
      }
    }
    fmt::print(
        "incremental gang placement via the scheduler (priority policy, fleet {:.0f}% busy with {} "
        "running "
        "jobs, {} queued behind a blocked head): {} of {} placed, p50 {:.1f} us, p99 {:.1f} us, "
        "max {:.0f} us "
        "(targets: p50 <= 50 us, p99 <= 1,000 us)\n",
        100 * busy_share, s.running().size(), s.queued(), started, us.size(), Percentile(us, 0.5),
        Percentile(us, 0.99), us.back());
  }

  // 3. Full passes over 100,000 queued jobs. First where every job fits (1-8 accelerators each,
  // about 375,000 in all), so the pass places all of them; then a mixed queue whose head blocks
  // once the fleet is full (FIFO semantics: the rest wait; backfill looks 500 further).
  for (const char* policy : {"fifo", "fairshare", "backfill"}) {
    Scheduler s(*fleet, MakePolicy(policy));
    std::mt19937_64 rng(5);
    for (int64_t id = 1; id <= 100000; ++id) {
      JobSpec job = MixedJob(id, rng, *fleet);
      job.alternatives = {{PickType(rng, *fleet), 1, 1 << (rng() % 4)}};
      s.Submit(job);
    }
    const auto start = Clock::now();
    const auto decisions = s.Schedule(0);
    fmt::print(
        "full pass, {:>9}: 100,000 queued jobs that all fit -> {} started ({:.0f}% of the fleet "
        "busy), "
        "in {:.0f} ms (target <= 2,000 ms)\n",
        policy, decisions.size(),
        100 * (1 - static_cast<double>(s.capacity().TotalFree()) /
                       static_cast<double>(fleet->TotalAccelerators())),
        Us(start) / 1000);
  }
  for (const char* policy : {"fifo", "priority", "fairshare", "backfill"}) {
    Scheduler s(*fleet, MakePolicy(policy));
    std::mt19937_64 rng(3);
    for (int64_t id = 1; id <= 100000; ++id) s.Submit(MixedJob(id, rng, *fleet));
    const auto start = Clock::now();
    const auto decisions = s.Schedule(0);
    fmt::print(
        "full pass, {:>9}: 100,000 queued on the empty fleet -> {} started ({:.0f}% of the fleet "
        "busy), {} "
        "still queued, in {:.0f} ms (target <= 2,000 ms)\n",
        policy, decisions.size(),
        100 * (1 - static_cast<double>(s.capacity().TotalFree()) /
                       static_cast<double>(fleet->TotalAccelerators())),
        s.queued(), Us(start) / 1000);
  }
  {
    // Preemption at scale: the fleet full of low-priority preemptible jobs, then 100,000 queued
    // high-priority jobs; one pass decides every preemption.
    Scheduler s(*fleet, MakePolicy("priority"));
    std::mt19937_64 rng(4);
    int64_t id = 0;
    for (uint32_t p = 0; p < s.capacity().pool_count(); ++p) {
      for (int n = 0; n < s.capacity().pool(p).nodes; ++n) {
        for (int k = 0; k < 2; ++k) {
          JobSpec low;
          low.id = ++id;
          low.team = fleet->teams[static_cast<size_t>(id) % fleet->teams.size()].name;
          low.alternatives = {{s.capacity().pool(p).accelerator, 1, 4}};
          low.preemptible = true;
          s.Submit(low);
        }
      }
    }
    s.Schedule(0);
    const size_t low_running = s.running().size();
    for (int i = 0; i < 100000; ++i) {
      JobSpec job = MixedJob(++id, rng, *fleet);
      job.priority = 5;
      job.submit_s = 1;
      s.Submit(job);
    }
    const auto start = Clock::now();
    const auto decisions = s.Schedule(1);
    size_t preempted = 0;
    for (const Decision& d : decisions) preempted += d.kind == Decision::Kind::kPreempt ? 1 : 0;
    fmt::print(
        "full pass,  priority: 100,000 high-priority queued on a fleet full of {} preemptible jobs "
        "-> {} "
        "started, {} preempted, in {:.0f} ms (target <= 2,000 ms)\n",
        low_running, decisions.size() - preempted, preempted, Us(start) / 1000);
  }
  return 0;
}

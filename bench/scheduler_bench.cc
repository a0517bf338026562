// Scheduler capacity benchmark (issue 5, first step): incremental placement of one gang job on
// examples/fleets/500k.yaml (62,500 nodes) with the fleet ~70% busy, each placement released after
// being timed. Target for the whole scheduler: p50 <= 50 µs, p99 <= 1 ms per gang placement.
// Run: build/release/bench/scheduler_bench   (figures recorded in docs/performance.md)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "awan/scheduler/capacity.h"
#include "awan/scheduler/scheduler.h"

int main() {
  using Clock = std::chrono::steady_clock;
  auto fleet = awan::scheduler::LoadFleetModel(std::string(AWAN_SOURCE_DIR) + "/examples/fleets/500k.yaml");
  if (!fleet.ok()) {
    fmt::print(stderr, "{}\n", std::string(fleet.status().message()));
    return 1;
  }
  const auto t0 = Clock::now();
  awan::scheduler::Capacity capacity(*fleet);
  const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  // Fill ~70% with a mix of jobs: 1-GPU, 4-GPU, whole nodes and 8-node gangs.
  std::mt19937_64 rng(1);
  const std::vector<std::string> types = {"H100", "H200", "B200", "GB200"};
  int64_t placed = 0;
  const int64_t target = fleet->TotalAccelerators() * 7 / 10;
  while (placed < target) {
    const std::string& acc = types[rng() % types.size()];
    const int kind = static_cast<int>(rng() % 4);
    const awan::scheduler::Need need{acc, kind == 3 ? 8 : 1, kind == 0 ? 1 : kind == 1 ? 4 : 8};
    auto pools = capacity.PoolsFor(acc);
    if (pools.empty()) continue;
    if (capacity.PlaceIn(pools[rng() % pools.size()], need)) placed += need.accelerators();
  }
  // Time one gang placement at a time: the first pool (in fleet order) where 16 × 8 H100 fit.
  std::vector<double> us;
  for (int i = 0; i < 20000; ++i) {
    const awan::scheduler::Need need{types[static_cast<size_t>(i) % 3], 1 + static_cast<int>(rng() % 16), 8};
    const auto start = Clock::now();
    std::optional<awan::scheduler::Placement> p;
    for (uint32_t pool : capacity.PoolsFor(need.accelerator)) {
      if ((p = capacity.PlaceIn(pool, need))) break;
    }
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    if (p) capacity.Release(*p);
  }
  std::sort(us.begin(), us.end());
  fmt::print("capacity books for 500k.yaml: {} nodes, built in {:.1f} ms; filled to {:.0f}% busy\n",
             fleet->TotalNodes(), build_ms, 100.0 * static_cast<double>(placed) / static_cast<double>(fleet->TotalAccelerators()));
  fmt::print("gang placement (1-16 nodes × 8, first pool that fits): p50 {:.2f} µs, p99 {:.2f} µs, max {:.1f} µs "
             "(targets: p50 <= 50 µs, p99 <= 1 ms)\n",
             us[us.size() / 2], us[us.size() * 99 / 100], us.back());

  // One full scheduling pass over 100,000 queued jobs on an empty 500k fleet (target <= 2 s on one
  // core). Jobs: 1, 2, 4 or 8 accelerators on one node, or gangs of 2-32 whole nodes, of four types.
  for (const char* policy : {"fifo", "backfill", "fairshare"}) {
    awan::scheduler::Scheduler scheduler(*fleet, awan::scheduler::MakePolicy(policy));
    std::mt19937_64 jobs_rng(2);
    for (int64_t id = 1; id <= 100000; ++id) {
      awan::scheduler::JobSpec job;
      job.id = id;
      job.team = fleet->teams[static_cast<size_t>(jobs_rng() % fleet->teams.size())].name;
      job.submit_s = id;
      job.duration_s = 600 + static_cast<int64_t>(jobs_rng() % 36000);
      const int kind = static_cast<int>(jobs_rng() % 10);
      const std::string& acc = types[jobs_rng() % types.size()];
      if (kind < 7) {
        job.alternatives = {{acc, 1, 1 << (jobs_rng() % 4)}};
      } else {
        job.alternatives = {{acc, 2 + static_cast<int>(jobs_rng() % 31), 8}};
      }
      scheduler.Submit(job);
    }
    const auto start = Clock::now();
    const auto decisions = scheduler.Schedule(0);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    fmt::print("full pass, {:>9}: 100,000 queued → {} started, {} still queued, in {:.0f} ms (target <= 2,000 ms)\n",
               policy, decisions.size(), scheduler.queued(), ms);
  }
  return 0;
}

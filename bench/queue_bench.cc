// The fleet scheduler inside the server (issue 5): what one pass of the controller's loop costs
// with N accelerator jobs waiting in the scheduler's queue, against the floor every pass pays
// anyway (the store's list of active jobs, measured in the same process), and how long a
// high-priority job takes from submit to RUNNING when it must preempt a running job first. The
// providers are emulated (sim, zero delay), so what is timed is awan's own work. A runner that
// prints figures:
//   build/release/bench/queue_bench        (figures recorded in docs/performance.md)
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "awan/catalog/loader.h"
#include "awan/controller/job_controller.h"
#include "awan/providers/fleet.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double Ms(F&& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string Gang(int priority, bool preemptible, const std::string& run) {
  return fmt::format(
      "num_nodes: 2\nresources: {{accelerators: H100:8}}\nscheduling: {{priority: {}, preemptible: "
      "{}}}\n"
      "run: {}\n",
      priority, preemptible, run);
}

}  // namespace

int main() {
  spdlog::set_level(spdlog::level::warn);
  const fs::path home = fs::temp_directory_path() / fmt::format("awan-queue-bench-{}", getpid());
  fs::remove_all(home);
  fs::create_directories(home);
  std::ofstream(home / "fleet.yaml") << R"(start: 2026-01-01
pools:
  - {name: cw, provider: coreweave, region: US-EAST-04, domain: cw, accelerator: H100, accelerators_per_node: 8, nodes: 2}
)";
  const std::string config = R"(providers:
  - {name: coreweave, kind: sim, emulates: coreweave, delay_ms: 0}
scheduler: {fleet: fleet.yaml, policy: priority}
)";
  std::ofstream(home / "config.yaml") << config;
  awan::catalog::LoadReport report;
  auto builtin = awan::catalog::BuiltinCatalog(report);
  const awan::providers::LocalResources machine = awan::providers::DetectLocalResources();
  auto fleet =
      awan::providers::ParseFleet(config, (home / "config.yaml").string(), *builtin, machine);
  if (!fleet.ok()) {
    fmt::print(stderr, "fleet: {}\n", std::string(fleet.status().message()));
    return 1;
  }
  auto store = awan::store::OpenStore((home / "awan.db").string());
  awan::controller::ControllerOptions options;
  options.home = home.string();
  options.cancel_grace_ms = 100;
  awan::controller::JobController controller(**store, machine, options, &*fleet);
  const auto until = [&](int64_t id, awan::store::JobState state) {
    while ((*store)->GetJob(id)->state != state) {
      controller.ReconcileOnce();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  // The pool is filled by one preemptible job; everything submitted after it waits.
  auto filler = controller.Submit(Gang(0, true, "sleep 600"), "filler.yaml", home.string());
  if (!filler.ok()) return 1;
  until(*filler, awan::store::JobState::kRunning);

  fmt::print(
      "Server loop with the fleet scheduler (policy priority), SQLite store, emulated provider\n");
  fmt::print("{:>8}  {:>16}  {:>16}  {:>20}\n", "QUEUED", "FIRST PASS (ms)", "PASS p50 (ms)",
             "LIST ACTIVE p50 (ms)");
  int queued = 0;
  for (int target : {1000, 10000}) {
    for (; queued < target; ++queued) {
      if (!controller.Submit(Gang(0, false, "'true'"), "wait.yaml", home.string()).ok()) return 1;
    }
    const double first = Ms([&] { controller.ReconcileOnce(); });  // parses and queues the new jobs
    std::vector<double> pass, list;
    for (int i = 0; i < 15; ++i) {
      pass.push_back(Ms([&] { controller.ReconcileOnce(); }));
      list.push_back(Ms([&] { (void)(*store)->ListJobs({100000, 0, true}); }));
    }
    const auto s = controller.scheduler_summary();
    if (s.queued != static_cast<size_t>(queued)) {
      fmt::print(stderr, "expected {} queued, the scheduler holds {}\n", queued, s.queued);
      return 1;
    }
    fmt::print("{:>8}  {:>16.1f}  {:>16.1f}  {:>20.1f}   (pass / list = {:.2f})\n", queued, first,
               Median(pass), Median(list), Median(pass) / Median(list));
    std::fflush(stdout);
  }
  // A priority-10 job preempts the filler: submit → RUNNING, driving the loop as its thread would.
  std::vector<double> latency;
  for (int i = 0; i < 5; ++i) {
    auto high = controller.Submit(Gang(10, false, "sleep 600"), "high.yaml", home.string());
    if (!high.ok()) return 1;
    latency.push_back(Ms([&] { until(*high, awan::store::JobState::kRunning); }));
    // The next round: the high job ends and the filler (first in the queue again) takes the pool
    // back.
    if (!controller.Cancel(*high).ok()) return 1;
    until(*high, awan::store::JobState::kCancelled);
    until(*filler, awan::store::JobState::kRunning);
  }
  fmt::print(
      "\nA priority-10 gang preempting a running one, {} queued behind: submit → RUNNING median "
      "{:.0f} ms "
      "(includes SIGTERM, the victim's exit and release; {} runs)\n",
      queued, Median(latency), latency.size());
  // Stop what still runs.
  const auto active = (*store)->ListJobs({100000, 0, true});
  for (const auto& job : active.ok() ? *active : std::vector<awan::store::JobRecord>{})
    (void)controller.Cancel(job.id);
  for (int i = 0; i < 200; ++i) {
    controller.ReconcileOnce();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  store->reset();
  fs::remove_all(home);
  return 0;
}

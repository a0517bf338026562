// The controller's loop when nothing changed (issue 10): one pass with 100,000 jobs queued that
// cannot start, side by side with the same pass over an empty queue, for both queues (arrival
// order on this machine, and the fleet scheduler over an emulated pool); and GET /v1/jobs?limit=100
// through a real in-process API server over loopback under that queue, side by side with an empty
// one. What is timed is awan's own work: the providers are this machine and an emulated cloud with
// no provisioning delay. A runner that prints figures:
//   build/release/bench/loop_bench [QUEUED]     (default 100000; figures in docs/performance.md)
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "awan/catalog/loader.h"
#include "awan/client/client.h"
#include "awan/controller/job_controller.h"
#include "awan/providers/fleet.h"
#include "awan/server/server.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

template <typename F>
double Ms(F&& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Figures {
  double pass_p50 = 0, pass_p99 = 0, list_p50 = 0, list_p99 = 0;
};

// Passes that find nothing changed, and GET /v1/jobs?limit=100, as they are now.
Figures Measure(awan::controller::JobController& controller, const awan::client::ApiClient& api) {
  for (int i = 0; i < 3; ++i) controller.ReconcileOnce();  // settle what was just submitted
  std::vector<double> pass, list;
  for (int i = 0; i < 300; ++i) pass.push_back(Ms([&] { controller.ReconcileOnce(); }));
  for (int i = 0; i < 300; ++i) {
    list.push_back(Ms([&] {
      auto r = api.Call("GET", "/v1/jobs?limit=100");
      if (!r.ok() || r->status != 200) std::abort();
    }));
  }
  return {Percentile(pass, 0.5), Percentile(pass, 0.99), Percentile(list, 0.5),
          Percentile(list, 0.99)};
}

int Run(const std::string& title, const fs::path& home, const awan::providers::Fleet& fleet,
        const std::string& filler, const std::string& waiting, int queued) {
  fs::remove_all(home);
  fs::create_directories(home);
  auto store = awan::store::OpenStore((home / "awan.db").string());
  if (!store.ok()) return 1;
  awan::controller::ControllerOptions options;
  options.home = home.string();
  options.cancel_grace_ms = 100;
  awan::controller::JobController controller(**store, awan::providers::DetectLocalResources(),
                                             options, &fleet);
  awan::server::ServerOptions sopts;
  sopts.token = "bench";
  const awan::catalog::Catalog catalog = fleet.BuildCatalog();
  awan::server::ApiServer server(controller, **store, catalog, sopts, &fleet);
  if (!server.Start().ok()) return 1;
  awan::client::ApiClient api("127.0.0.1", server.port(), "bench");
  auto first = controller.Submit(filler, "filler.yaml", home.string());
  if (!first.ok()) {
    fmt::print(stderr, "filler: {}\n", std::string(first.status().message()));
    return 1;
  }
  while ((*store)->GetJob(*first)->state != awan::store::JobState::kRunning) {
    controller.ReconcileOnce();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const Figures empty = Measure(controller, api);
  const auto fill = Clock::now();
  for (int i = 0; i < queued; ++i) {
    if (auto id = controller.Submit(waiting, "waiting.yaml", home.string()); !id.ok()) {
      fmt::print(stderr, "submit: {}\n", std::string(id.status().message()));
      return 1;
    }
  }
  const double submit_s = std::chrono::duration<double>(Clock::now() - fill).count();
  const double first_pass = Ms([&] { controller.ReconcileOnce(); });
  const Figures full = Measure(controller, api);
  fmt::print("{}\n", title);
  fmt::print("  {} jobs submitted in {:.1f} s; the first pass after them took {:.0f} ms\n", queued,
             submit_s, first_pass);
  fmt::print("  {:<34} {:>10} {:>10} {:>12} {:>12}\n", "", "pass p50", "pass p99", "jobs?limit",
             "jobs?limit");
  fmt::print("  {:<34} {:>10} {:>10} {:>12} {:>12}\n", "", "(ms)", "(ms)", "=100 p50", "=100 p99");
  fmt::print("  {:<34} {:>10.3f} {:>10.3f} {:>12.2f} {:>12.2f}\n", "empty queue", empty.pass_p50,
             empty.pass_p99, empty.list_p50, empty.list_p99);
  fmt::print("  {:<34} {:>10.3f} {:>10.3f} {:>12.2f} {:>12.2f}\n",
             fmt::format("{} queued that cannot start", queued), full.pass_p50, full.pass_p99,
             full.list_p50, full.list_p99);
  fmt::print("  (targets: pass p50 <= 1 ms, jobs?limit=100 p99 <= 5 ms with the queue)\n\n");
  std::fflush(stdout);
  (void)controller.Cancel(*first);
  for (int i = 0; i < 100; ++i) {
    controller.ReconcileOnce();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  server.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const int queued = argc > 1 ? std::atoi(argv[1]) : 100000;
  const fs::path home = fs::temp_directory_path() / fmt::format("awan-loop-bench-{}", getpid());
  const awan::providers::LocalResources machine = awan::providers::DetectLocalResources();
  fmt::print("awan controller loop, SQLite store, {} CPUs\n\n",
             std::thread::hardware_concurrency());

  // 1. Arrival order on this machine: a job holds every CPU; the queued ones want them all too.
  const awan::providers::Fleet local = awan::providers::LocalOnlyFleet(machine);
  const std::string all_cpus = fmt::format("resources: {{cpus: {}}}\n", machine.cpus);
  if (Run("1. arrival order (no scheduler:), this machine full", home / "arrival", local,
          all_cpus + "run: sleep 600\n", all_cpus + "run: 'true'\n", queued) != 0) {
    return 1;
  }

  // 2. The fleet scheduler: an emulated pool filled by one gang; the queued gangs wait.
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
  auto fleet =
      awan::providers::ParseFleet(config, (home / "config.yaml").string(), *builtin, machine);
  if (!fleet.ok()) {
    fmt::print(stderr, "fleet: {}\n", std::string(fleet.status().message()));
    return 1;
  }
  for (const std::string& e : fleet->errors) fmt::print(stderr, "fleet: {}\n", e);
  const std::string gang =
      "num_nodes: 2\nresources: {accelerators: H100:8}\nscheduling: {priority: 0}\n";
  const std::string filler_gang =
      "num_nodes: 2\nresources: {accelerators: H100:8}\nscheduling: {priority: 0, preemptible: "
      "true}\n";
  const int rc = Run("2. the fleet scheduler (policy priority), its pool full", home / "scheduler",
                     *fleet, filler_gang + "run: sleep 600\n", gang + "run: 'true'\n", queued);
  fs::remove_all(home);
  return rc;
}

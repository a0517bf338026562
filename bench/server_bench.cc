// Server benchmarks (issue 3), a runner that prints figures and ratios against a baseline measured
// in the same process: an in-process server (real SQLite store in a temp dir, real controller and
// local provider, real HTTP over loopback) driven by the real client library.
//   1. launch → RUNNING latency of a trivial job (target < 100 ms median)
//   2. GET /v1/jobs?limit=100 with 10,000 jobs stored (target p99 < 20 ms), baseline GET /v1/health
//   3. requests/s of GET /v1/jobs/ID with 32 concurrent clients, baseline GET /v1/health
// Run: build/release/bench/server_bench   (figures recorded in docs/performance.md)
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "awan/catalog/loader.h"
#include "awan/client/client.h"
#include "awan/controller/job_controller.h"
#include "awan/server/server.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1,
                    static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5))];
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Requests per second of `target` from `clients` threads for `seconds`.
double Throughput(const awan::client::ApiClient& client, const std::string& target, int clients,
                  double seconds) {
  std::atomic<int64_t> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&] {
      while (!stop) {
        auto r = client.Call("GET", target);
        if (r.ok() && r->status == 200) ++done;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return static_cast<double>(done) / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main() {
  spdlog::set_level(spdlog::level::warn);
  const fs::path home = fs::temp_directory_path() / fmt::format("awan-server-bench-{}", getpid());
  fs::remove_all(home);
  fs::create_directories(home);
  auto store = awan::store::OpenStore((home / "awan.db").string());
  if (!store.ok()) {
    fmt::print(stderr, "{}\n", std::string(store.status().message()));
    return 1;
  }
  awan::catalog::LoadReport report;
  auto catalog = awan::catalog::BuiltinCatalog(report);
  awan::controller::ControllerOptions copts;
  copts.home = home.string();
  awan::controller::JobController controller(**store, awan::providers::DetectLocalResources(),
                                             copts);
  (void)controller.Start();
  awan::server::ServerOptions sopts;
  sopts.token = "bench-token";
  awan::server::ApiServer server(controller, **store, *catalog, sopts);
  if (!server.Start().ok()) return 1;
  awan::client::ApiClient client("127.0.0.1", server.port(), "bench-token");
  fmt::print("awan server benchmark (in-process server on 127.0.0.1:{}, SQLite store, {} CPUs)\n\n",
             server.port(), std::thread::hardware_concurrency());

  // 1. launch → RUNNING.
  std::vector<double> launch;
  const nlohmann::json body{{"task_yaml", "name: trivial\nrun: 'true'\n"},
                            {"source", "bench"},
                            {"base_dir", home.string()}};
  for (int i = 0; i < 60; ++i) {
    const int64_t before = NowMs();
    auto r = client.Call("POST", "/v1/jobs", body.dump());
    if (!r.ok() || r->status != 201) return 1;
    const int64_t id = nlohmann::json::parse(r->body)["id"].get<int64_t>();
    for (;;) {
      auto job = (*store)->GetJob(id);
      if (job->started_at > 0 && awan::store::IsTerminal(job->state)) {
        if (i >= 10)
          launch.push_back(static_cast<double>(job->started_at - before));  // 10 warm-up runs
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  fmt::print("1. launch → RUNNING, trivial local job ({} runs; POST /v1/jobs sent → started_at)\n",
             launch.size());
  fmt::print("   median {:.1f} ms, p90 {:.1f} ms, max {:.1f} ms   (target: median < 100 ms)\n\n",
             Percentile(launch, 0.5), Percentile(launch, 0.9), Percentile(launch, 1.0));

  // 2. GET /v1/jobs with 10,000 jobs stored.
  const auto fill_start = Clock::now();
  const size_t have = (*store)->ListJobs({100000, 0, false})->size();
  for (size_t i = have; i < 10000; ++i) {
    // Finished jobs, as a server's history is: they are listed, not run again.
    auto id = (*store)->CreateJob(
        {"job" + std::to_string(i), 1, "run: 'true'\n", "bench", home.string()}, NowMs());
    if (id.ok()) {
      (void)(*store)->ApplyTransition(
          *id, awan::store::MakeTransition(awan::store::JobState::kPending,
                                           awan::store::JobState::kCancelled, "bench", NowMs()));
    }
  }
  fmt::print("2. GET /v1/jobs?limit=100 with 10,000 finished jobs stored (filled in {:.1f} s)\n",
             std::chrono::duration<double>(Clock::now() - fill_start).count());
  auto latency = [&](const std::string& target, int n) {
    std::vector<double> v;
    for (int i = 0; i < n; ++i) {
      const auto t0 = Clock::now();
      auto r = client.Call("GET", target);
      if (!r.ok() || r->status != 200) return std::vector<double>{};
      v.push_back(Ms(Clock::now() - t0));
    }
    return v;
  };
  auto health = latency("/v1/health", 500);
  auto first_page = latency("/v1/jobs?limit=100", 500);
  auto deep_page = latency("/v1/jobs?limit=100&before=5000", 500);
  fmt::print("   baseline GET /v1/health:           p50 {:.2f} ms, p99 {:.2f} ms\n",
             Percentile(health, 0.5), Percentile(health, 0.99));
  fmt::print(
      "   first page (newest 100):           p50 {:.2f} ms, p99 {:.2f} ms  ({:.1f}x baseline "
      "p50)\n",
      Percentile(first_page, 0.5), Percentile(first_page, 0.99),
      Percentile(first_page, 0.5) / Percentile(health, 0.5));
  fmt::print(
      "   a page in the middle (before=5000): p50 {:.2f} ms, p99 {:.2f} ms   (target: p99 < 20 "
      "ms)\n\n",
      Percentile(deep_page, 0.5), Percentile(deep_page, 0.99));

  // 3. Throughput with 32 concurrent clients.
  const double base_rps = Throughput(client, "/v1/health", 32, 3.0);
  const double status_rps = Throughput(client, "/v1/jobs/5000", 32, 3.0);
  fmt::print("3. 32 concurrent clients, 3 s each, one connection per request\n");
  fmt::print("   baseline GET /v1/health: {:.0f} requests/s\n", base_rps);
  fmt::print("   GET /v1/jobs/5000:       {:.0f} requests/s ({:.2f}x baseline)\n", status_rps,
             status_rps / base_rps);

  server.Stop();
  controller.Stop();
  store->reset();
  fs::remove_all(home);
  return 0;
}

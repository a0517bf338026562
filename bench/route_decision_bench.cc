// How long the gateway's balancer takes to route one request (Balancer::Acquire: the policy's pick
// under the balancer's lock), per policy, with 64 ready replicas and 256 requests in flight. The
// requests are the Mooncake conversation trace's (prefix blocks included) when ../shared/data is
// there, else synthetic conversations of the same shape. round_robin is the baseline in the same
// run. Issue 12's target: p99 ≤ 50 µs with 64 replicas. Usage: route_decision_bench [REQUESTS]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <string>
#include <vector>

#include "awan/gateway/balancer.h"
#include "awan/llm/replay.h"

using namespace awan;

int main(int argc, char** argv) {
  const size_t count = argc > 1 ? std::stoul(argv[1]) : 200000;
  std::vector<llm::TraceRequest> trace;
  const std::string path =
      std::string(AWAN_SHARED_DATA) + "/llm_inference/mooncake/conversation_trace.train.jsonl";
  std::string source = "synthetic conversations";
  if (std::filesystem::exists(path)) {
    auto t = llm::ReadTrace(path, "mooncake");
    if (t.ok()) {
      trace = std::move(*t);
      source = "the Mooncake conversation trace (" + std::to_string(trace.size()) + " requests)";
    }
  }
  if (trace.empty()) {  // 500 conversations of up to 8 turns, 24 blocks a turn on average
    for (uint64_t turn = 0; turn < 8; ++turn) {
      for (uint64_t conv = 0; conv < 500; ++conv) {
        llm::TraceRequest r;
        r.blocks.push_back(0);
        for (uint64_t k = 0; k < 3 * (turn + 1); ++k) r.blocks.push_back(conv * 1000 + k + 1);
        r.prompt_tokens = static_cast<int>(r.blocks.size()) * 512;
        r.output_tokens = 300;
        trace.push_back(std::move(r));
      }
    }
  }
  std::vector<gateway::ReplicaAddress> replicas;
  for (int i = 0; i < 64; ++i) replicas.push_back({std::to_string(i), "10.0.0.1", 8000 + i});
  fmt::print("route decision: 64 ready replicas, 256 requests in flight, {} decisions of {}\n",
             count, source);
  fmt::print("{:<16} {:>9} {:>9} {:>9} {:>9}\n", "POLICY", "P50_US", "P99_US", "MAX_US",
             "VS_RR_P99");
  double rr_p99 = 0;
  for (const char* name :
       {"round_robin", "least_load", "least_tokens", "prefix_affinity", "llm_score"}) {
    gateway::BalancerOptions options;
    options.metrics_stale_ms = int64_t{1} << 40;  // the metrics below stay fresh for the run
    gateway::Balancer balancer(*gateway::MakePolicy(name), options);
    balancer.SetReplicas(replicas);
    for (size_t i = 0; i < replicas.size(); ++i) {
      balancer.SetReady(replicas[i].id, true);
      // llm_score's inputs: every replica's scraped metrics known, all different.
      balancer.SetMetrics(replicas[i].id, {static_cast<double>(i % 7), static_cast<double>(i % 13),
                                           static_cast<double>(i % 10) / 10});
    }
    std::deque<gateway::Balancer::Lease> held;
    std::vector<double> us;
    us.reserve(count);
    for (size_t n = 0; n < count; ++n) {
      const llm::TraceRequest& t = trace[n % trace.size()];
      const gateway::RequestInfo info{t.prompt_tokens + t.output_tokens, t.blocks};
      const auto start = std::chrono::steady_clock::now();
      auto lease = balancer.Acquire("", info);
      const auto took = std::chrono::steady_clock::now() - start;
      us.push_back(std::chrono::duration<double, std::micro>(took).count());
      held.push_back(std::move(*lease));
      if (held.size() > 256) {
        balancer.Release(held.front(), gateway::Outcome::kOk);
        held.pop_front();
      }
    }
    std::sort(us.begin(), us.end());
    const double p50 = us[us.size() / 2], p99 = us[us.size() * 99 / 100], max = us.back();
    if (rr_p99 == 0) rr_p99 = p99;
    fmt::print("{:<16} {:>9.2f} {:>9.2f} {:>9.1f} {:>8.1f}x\n", name, p50, p99, max, p99 / rr_p99);
    for (auto& l : held) balancer.Release(l, gateway::Outcome::kOk);
  }
  fmt::print("(target: p99 ≤ 50 µs with 64 replicas)\n");
  return 0;
}

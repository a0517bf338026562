// Replay against a running route (issue 12): a trace sent in real time through a real gateway to
// emulated replicas, measured from the client — every request answered, TTFT and the prefix hits
// the replicas report; a prefix-affinity route finds more of its conversations cached than a
// round-robin one.
#include "awan/llm/live_replay.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "awan/gateway/gateway.h"
#include "awan/llm/replica_server.h"

namespace awan::llm {
namespace {

// 5 conversations of 5 turns, each turn's prompt its conversation so far (512-token blocks).
std::vector<TraceRequest> Conversations() {
  std::vector<TraceRequest> trace;
  for (int turn = 0; turn < 5; ++turn) {
    for (int c = 0; c < 5; ++c) {
      TraceRequest t;
      t.arrival_s = 0.02 * static_cast<double>(trace.size());
      t.prompt_tokens = 512 * (turn + 1);
      t.output_tokens = 4;
      for (int b = 0; b <= turn; ++b) t.blocks.push_back(static_cast<uint64_t>(c * 100 + b));
      trace.push_back(t);
    }
  }
  return trace;
}

TEST(LiveReplayTest, AConversationTraceThroughAGatewayRoute) {
  ReplicaServerOptions o;
  o.timing.prefill_s_per_token = 0.00001;
  o.timing.decode_s_per_step = 0.001;
  // Two fresh emulated replicas per route, so each route starts from empty caches.
  ReplicaServer a1(o), b1(o), a2(o), b2(o);
  std::vector<int> ports;
  for (ReplicaServer* s : {&a1, &b1, &a2, &b2}) {
    auto p = s->Start();
    ASSERT_TRUE(p.ok());
    ports.push_back(*p);
  }
  gateway::GatewayOptions go;
  go.health_interval_ms = 50;
  std::vector<gateway::RouteConfig> routes;
  for (const char* policy : {"prefix_affinity", "round_robin"}) {
    gateway::RouteConfig r;
    r.name = policy;
    r.policy = policy;
    r.readiness_path = "/health";
    const size_t first = routes.size() * 2;
    r.replicas = {{"a", "127.0.0.1", ports[first]}, {"b", "127.0.0.1", ports[first + 1]}};
    routes.push_back(r);
  }
  gateway::Gateway gw(go);
  auto route_ports = gw.Start(routes);
  ASSERT_TRUE(route_ports.ok()) << route_ports.status();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // readiness probes
  const auto trace = Conversations();
  std::vector<double> hits;
  for (size_t i = 0; i < routes.size(); ++i) {
    LiveReplayOptions live;
    live.url = "http://127.0.0.1:" + std::to_string(route_ports->at(i));
    live.label = routes[i].policy;
    const size_t first = i * 2;  // the replicas' token counters: the busiest over the mean
    live.replica_metrics = {"http://127.0.0.1:" + std::to_string(ports[first]) + "/metrics",
                            "http://127.0.0.1:" + std::to_string(ports[first + 1]) + "/metrics"};
    auto r = ReplayLive(trace, live);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->failed, 0);
    EXPECT_EQ(r->result.requests, 25);
    EXPECT_EQ(r->result.policy, routes[i].policy);
    EXPECT_GT(r->result.ttft_p50, 0);
    EXPECT_GE(r->result.e2e_p50, r->result.ttft_p50);
    EXPECT_GE(r->result.max_over_mean_load, 1.0);  // 1 when both replicas did the same work
    EXPECT_LT(r->result.max_over_mean_load, 2.0);  // 2: one replica did it all
    hits.push_back(r->result.prefix_hit_ratio);
  }
  // prefix_affinity: each turn after the first finds its conversation so far cached: (512 + 1024 +
  // 1536 + 2048) of 7,680 prompt tokens per conversation = 0.67, less the last token of a fully
  // cached prompt. Round robin sends a conversation's turns to the two replicas in turn (5
  // conversations, 2 replicas): each turn finds only the turn before last cached, 0.4.
  EXPECT_GT(hits[0], 0.6);
  EXPECT_GT(hits[0], hits[1] * 1.3);
  // A wrong address is a failure per request, not a crash.
  LiveReplayOptions nowhere;
  nowhere.url = "http://127.0.0.1:1";
  auto r = ReplayLive(std::vector<TraceRequest>(trace.begin(), trace.begin() + 3), nowhere);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->failed, 3);
  LiveReplayOptions unreadable = nowhere;
  unreadable.url = "http://127.0.0.1:" + std::to_string(route_ports->at(0));
  unreadable.replica_metrics = {"http://127.0.0.1:1/metrics"};
  EXPECT_THAT(std::string(ReplayLive(trace, unreadable).status().message()),
              ::testing::HasSubstr("http://127.0.0.1:1/metrics"));
  LiveReplayOptions ftp;
  ftp.url = "ftp://x";
  EXPECT_EQ(ReplayLive(trace, ftp).status().message(),
            "'ftp://x' is not an http:// or https:// URL");
}

TEST(LiveReplayTest, ReplicaTokenCountersAreReadFromVllmAndSglangText) {
  EXPECT_EQ(ReplicaTokensProcessed("# HELP vllm:prompt_tokens_total x\n"
                                   "vllm:prompt_tokens_total{model_name=\"m\"} 1200\n"
                                   "vllm:prompt_tokens_total{model_name=\"n\"} 300\n"
                                   "vllm:generation_tokens_total{model_name=\"m\"} 45\n"
                                   "vllm:prompt_tokens_total_created 17\n"),
            1545);
  EXPECT_EQ(
      ReplicaTokensProcessed("sglang:prompt_tokens_total 10\nsglang:generation_tokens_total 5\n"),
      15);
  EXPECT_EQ(ReplicaTokensProcessed("vllm:num_requests_running 3\n"), std::nullopt);
}

}  // namespace
}  // namespace awan::llm

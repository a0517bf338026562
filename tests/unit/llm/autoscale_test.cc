// Autoscaling (issue 12's token-aware targets beside QPS): the shared rule and its delays against
// hand-computed cases, and the autoscaled replay showing what tokens see that QPS cannot — the
// same request rate with prompts twenty times longer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "awan/controller/autoscaler.h"
#include "awan/llm/autoscale_replay.h"

namespace awan::llm {
namespace {

using ::testing::HasSubstr;

spec::ReplicaPolicy Policy(int min, int max) {
  spec::ReplicaPolicy p;
  p.min_replicas = min;
  p.max_replicas = max;
  p.upscale_delay_s = 0;
  p.downscale_delay_s = 0;
  return p;
}

TEST(AutoscalerTest, EachTargetAsksForTheCeilingOfItsSignalAndTheLargestWins) {
  spec::ReplicaPolicy p = Policy(1, 10);
  p.target_qps_per_replica = 5;
  p.target_tokens_in_flight_per_replica = 1000;
  // 12 QPS → 3; 4,500 tokens → 5: five, and the reason names the tokens.
  auto need = controller::DesiredReplicas(p, {12, 3, 4500, 0});
  EXPECT_EQ(need.replicas, 5);
  EXPECT_EQ(need.why, "4500 tokens in flight, target 1000 per replica");
  // Exactly on a multiple asks for no extra replica.
  EXPECT_EQ(controller::DesiredReplicas(p, {15, 0, 3000, 0}).replicas, 3);
  EXPECT_EQ(controller::DesiredReplicas(p, {0, 0, 0, 0}).replicas, 1);           // min
  EXPECT_EQ(controller::DesiredReplicas(p, {0, 0, 1'000'000, 0}).replicas, 10);  // max
  p.num_overprovision = 1;
  EXPECT_EQ(controller::DesiredReplicas(p, {12, 0, 0, 0}).replicas, 4);
  spec::ReplicaPolicy w = Policy(2, 8);
  w.target_waiting_per_replica = 2;
  need = controller::DesiredReplicas(w, {0, 0, 0, 6.5});
  EXPECT_EQ(need.replicas, 4);
  EXPECT_THAT(need.why, HasSubstr("requests waiting, target 2 per replica"));
  spec::ReplicaPolicy r = Policy(1, 8);
  r.target_tokens_per_second_per_replica = 8000;
  need = controller::DesiredReplicas(r, {0, 0, 0, 0, 20000});
  EXPECT_EQ(need.replicas, 3);
  EXPECT_EQ(need.why, "20000 tokens/s, target 8000 per replica");
}

TEST(AutoscalerTest, AChangeWaitsForItsDelayAndABreakStartsTheWaitAgain) {
  spec::ReplicaPolicy p = Policy(1, 10);
  p.upscale_delay_s = 10;
  p.downscale_delay_s = 30;
  controller::ScaleDelay d;
  int from = 0;
  EXPECT_FALSE(d.Step(p, 0, 3, &from));
  EXPECT_EQ(d.target(), 1);
  EXPECT_FALSE(d.Step(p, 9'999, 3));
  EXPECT_FALSE(d.Step(p, 10'500, 1));  // a break
  EXPECT_FALSE(d.Step(p, 11'000, 3));  // the wait starts again
  EXPECT_FALSE(d.Step(p, 20'999, 4));
  EXPECT_TRUE(d.Step(p, 21'000, 4, &from));
  EXPECT_EQ(from, 1);
  EXPECT_EQ(d.target(), 4);
  EXPECT_FALSE(d.Step(p, 22'000, 2));
  EXPECT_FALSE(d.Step(p, 51'999, 2));
  EXPECT_TRUE(d.Step(p, 52'000, 2, &from));
  EXPECT_EQ(from, 4);
  EXPECT_EQ(d.target(), 2);
}

TEST(AutoscalerTest, ReplayAutoscalersAreParsedAndMistakesNamed) {
  const spec::ReplicaPolicy base = Policy(1, 8);
  auto a = ParseAutoscaler("qps=4+tokens_in_flight=30000+tokens_per_s=9000", base);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->policy.target_qps_per_replica, 4);
  EXPECT_EQ(a->policy.target_tokens_per_second_per_replica, 9000);
  EXPECT_EQ(a->policy.target_tokens_in_flight_per_replica, 30000);
  EXPECT_EQ(a->policy.max_replicas, 8);
  for (const char* bad : {"qps", "qps=0", "qps=-1", "qps=x", "tokens=5", "qps=4+"}) {
    auto r = ParseAutoscaler(bad, base);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("--autoscalers")) << bad;
    EXPECT_THAT(r.status().message(), HasSubstr("tokens_in_flight")) << bad;  // the fix
  }
}

// Two requests a second for 10 minutes, every prompt `prompt` tokens long.
std::vector<TraceRequest> Steady(int prompt) {
  std::vector<TraceRequest> out;
  for (int i = 0; i < 1200; ++i) out.push_back({i * 0.5, prompt, 8, {}});
  return out;
}

TEST(AutoscalerTest, TokensInFlightSeeLongerPromptsWhereQpsSeesTheSameRate) {
  ReplayOptions o;
  o.model.prefill_s_per_token = 0.001;  // a 2,000-token prompt: 2 s of prefill on one replica
  o.slo_ttft_s = 5;
  AutoscaleOptions scaling;
  scaling.replica_start_s = 10;
  spec::ReplicaPolicy base = Policy(1, 16);
  base.upscale_delay_s = 5;
  base.downscale_delay_s = 30;
  const auto qps = *ParseAutoscaler("qps=1", base);
  const auto tokens = *ParseAutoscaler("tokens_in_flight=2000", base);
  auto short_prompts = ReplayAutoscaled(Steady(100), "least_load", {qps, tokens}, o, scaling);
  auto long_prompts = ReplayAutoscaled(Steady(2000), "least_load", {qps, tokens}, o, scaling);
  ASSERT_TRUE(short_prompts.ok()) << short_prompts.status();
  ASSERT_TRUE(long_prompts.ok()) << long_prompts.status();
  const AutoscaleResult& qs = (*short_prompts)[0];
  const AutoscaleResult& ts = (*short_prompts)[1];
  const AutoscaleResult& ql = (*long_prompts)[0];
  const AutoscaleResult& tl = (*long_prompts)[1];
  // QPS: 2 requests a second → 2 replicas, whatever the prompts.
  EXPECT_EQ(qs.peak_replicas, 2);
  EXPECT_EQ(ql.peak_replicas, 2);
  // Short prompts (0.1 s of prefill): well under one replica's tokens in flight → 1 replica.
  // Long ones (2 s each, two a second: 4 replicas busy) hold ~8,000+ tokens → 4 or more.
  EXPECT_EQ(ts.peak_replicas, 1);
  EXPECT_GE(tl.peak_replicas, 4);
  EXPECT_LT(ts.replica_hours, qs.replica_hours);  // fewer replicas where the work is light
  EXPECT_GT(tl.figures.goodput, 0.9);             // and enough where it is heavy
  EXPECT_LT(ql.figures.goodput, 0.2);             // where QPS's 2 replicas drown
  // Replica-hours: the run's replicas over its span (hand check on the fixed one: 1,200 requests
  // over ~600 s on 1 replica).
  EXPECT_NEAR(ts.replica_hours, ts.mean_replicas * (600.0 / 3600), 0.01);
  EXPECT_EQ(ts.figures.requests, 1200);
  EXPECT_THAT(AutoscaleJson(*long_prompts), HasSubstr("\"replica_hours\""));
  EXPECT_THAT(AutoscaleTable(*long_prompts, o, scaling), HasSubstr("tokens_in_flight=2000"));
}

}  // namespace
}  // namespace awan::llm

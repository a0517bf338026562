// The gateway's balancer: policies by name, readiness gating, passive ejection, retries on another
// replica, and in-flight counts that stay exact through random errors, timeouts, cancels and
// replica churn (a property test with a seeded generator and an injected clock).
#include "awan/gateway/balancer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "awan/spec/service.h"

namespace awan::gateway {
namespace {

using ::testing::HasSubstr;

std::vector<ReplicaAddress> Replicas(std::initializer_list<const char*> ids) {
  std::vector<ReplicaAddress> out;  // a replica's port follows from its id: "b" is always 9098
  for (const char* id : ids) {
    const std::string name = id;
    out.push_back({name, "127.0.0.1", 9000 + static_cast<unsigned char>(name.back())});
  }
  return out;
}

struct Fixture {
  explicit Fixture(std::string_view policy, BalancerOptions options = {}) {
    options.now_ms = [this] { return now; };
    balancer = std::make_unique<Balancer>(*MakePolicy(policy), std::move(options));
  }
  void AllReady(const std::vector<ReplicaAddress>& set) {
    balancer->SetReplicas(set);
    for (const auto& r : set) balancer->SetReady(r.id, true);
  }
  int64_t now = 1000;
  std::unique_ptr<Balancer> balancer;
};

TEST(BalancerTest, EveryPolicyTheServiceSpecNamesIsRegisteredAndUnknownOnesAreErrors) {
  for (const std::string& name : spec::LoadBalancingPolicies()) {
    EXPECT_TRUE(MakePolicy(name).ok()) << name;
  }
  auto bad = MakePolicy("random_walk");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(
      bad.status().message(),
      HasSubstr("policies: least_load, least_tokens, llm_score, prefix_affinity, round_robin"));
  EXPECT_THROW(RegisterPolicy("round_robin", [] { return *MakePolicy("least_load"); }),
               std::logic_error);
}

TEST(BalancerTest, LeastTokensPicksTheReplicaWithTheFewestTokensInFlight) {
  Fixture f("least_tokens");
  f.AllReady(Replicas({"a", "b", "c"}));
  auto big = f.balancer->Acquire("", {.tokens = 9000, .blocks = {}});   // a: 9000
  auto mid = f.balancer->Acquire("", {.tokens = 3000, .blocks = {}});   // b: 3000
  auto small = f.balancer->Acquire("", {.tokens = 100, .blocks = {}});  // c: 100
  auto next =
      f.balancer->Acquire("", {.tokens = 100, .blocks = {}});  // c again: fewest tokens (200 now)
  ASSERT_TRUE(big && mid && small && next);
  EXPECT_EQ(next->address().id, "c");
  f.balancer->Release(*big, Outcome::kOk);  // a: 0
  auto after = f.balancer->Acquire("", {.tokens = 100, .blocks = {}});
  EXPECT_EQ(after->address().id, "a");
  for (auto* l : {&*mid, &*small, &*next, &*after}) f.balancer->Release(*l, Outcome::kOk);
  for (const auto& st : f.balancer->Snapshot()) EXPECT_EQ(st.in_flight, 0) << st.id;
}

// Requests that share a prefix go where that prefix went; a different prefix may go elsewhere.
// One prefix shared by every request (a system prompt) cannot pull the load onto one replica:
// the bound keeps each replica within 1.25 × the mean requests in flight (+1).
TEST(BalancerTest, PrefixAffinityFollowsThePrefixWithinABoundedLoad) {
  Fixture f("prefix_affinity");
  f.AllReady(Replicas({"a", "b", "c", "d"}));
  const std::vector<uint64_t> chat1 = {1, 2, 3}, chat1_more = {1, 2, 3, 4}, chat2 = {7, 8};
  auto first = f.balancer->Acquire("", {.tokens = 10, .blocks = chat1});
  ASSERT_TRUE(first);
  const std::string home = first->address().id;
  f.balancer->Release(*first, Outcome::kOk);
  for (int i = 0; i < 5; ++i) {  // the same conversation, turn after turn: the same replica
    auto turn = f.balancer->Acquire("", {.tokens = 10, .blocks = chat1_more});
    EXPECT_EQ(turn->address().id, home);
    f.balancer->Release(*turn, Outcome::kOk);
  }
  auto other = f.balancer->Acquire("", {.tokens = 10, .blocks = chat2});
  EXPECT_NE(other->address().id, home);  // no match: the least loaded, in turn
  f.balancer->Release(*other, Outcome::kOk);

  // 400 requests in flight at once, all starting with one shared block.
  std::vector<Balancer::Lease> held;
  std::map<std::string, int> per_replica;
  for (uint64_t i = 0; i < 400; ++i) {
    const std::vector<uint64_t> blocks = {42, 1000 + i};
    auto l = f.balancer->Acquire("", {.tokens = 10, .blocks = blocks});
    ASSERT_TRUE(l);
    ++per_replica[l->address().id];
    held.push_back(*l);
  }
  ASSERT_EQ(per_replica.size(), 4u);
  for (const auto& [id, n] : per_replica) {
    EXPECT_LE(n, 1.25 * 100 + 2) << id;  // the bound: 1.25 × mean (+1), mean 100
  }
  for (auto& l : held) f.balancer->Release(l, Outcome::kOk);
  EXPECT_EQ(f.balancer->InFlight(), 0);
}

// llm_score: fresh metrics steer traffic away from a replica with a long queue and a full KV
// cache; once they are stale they count as unknown (the gateway's own counts decide).
TEST(BalancerTest, LlmScoreFollowsFreshMetricsAndIgnoresStaleOnes) {
  Fixture f("llm_score");
  f.AllReady(Replicas({"a", "b"}));
  f.balancer->SetMetrics("a", {.waiting = 50, .running = 64, .kv_usage = 0.95});
  f.balancer->SetMetrics("b", {.waiting = 0, .running = 2, .kv_usage = 0.10});
  std::map<std::string, int> seen;
  for (int i = 0; i < 20; ++i) {
    auto l = f.balancer->Acquire("", {.tokens = 10, .blocks = {}});
    ++seen[l->address().id];
    f.balancer->Release(*l, Outcome::kOk);
  }
  EXPECT_EQ(seen, (std::map<std::string, int>{{"b", 20}}));
  // 600 ms later (stale after 500 ms) both are unknown: equal scores, taken in turn.
  f.now += 600;
  seen.clear();
  for (int i = 0; i < 20; ++i) {
    auto l = f.balancer->Acquire("", {.tokens = 10, .blocks = {}});
    ++seen[l->address().id];
    f.balancer->Release(*l, Outcome::kOk);
  }
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 10}, {"b", 10}}));
  // Fresh again, and a: now the idle one.
  f.balancer->SetMetrics("a", {.waiting = 0, .running = 0, .kv_usage = 0.0});
  f.balancer->SetMetrics("b", {.waiting = 9, .running = 64, .kv_usage = 0.8});
  auto l = f.balancer->Acquire("", {.tokens = 10, .blocks = {}});
  EXPECT_EQ(l->address().id, "a");
  f.balancer->Release(*l, Outcome::kOk);
}

TEST(BalancerTest, LlmScoreKeepsAConversationAndBoundsASharedPrefix) {
  Fixture f("llm_score");
  f.AllReady(Replicas({"a", "b", "c", "d"}));
  const std::vector<uint64_t> chat = {1, 2, 3, 4};
  auto first = f.balancer->Acquire("", {.tokens = 10, .blocks = chat});
  const std::string home = first->address().id;
  f.balancer->Release(*first, Outcome::kOk);
  for (int i = 0; i < 5; ++i) {
    auto turn = f.balancer->Acquire("", {.tokens = 10, .blocks = chat});
    EXPECT_EQ(turn->address().id, home);
    f.balancer->Release(*turn, Outcome::kOk);
  }
  std::vector<Balancer::Lease> held;
  std::map<std::string, int> per_replica;
  for (uint64_t i = 0; i < 400; ++i) {
    const std::vector<uint64_t> blocks = {42, 1000 + i};
    auto l = f.balancer->Acquire("", {.tokens = 10, .blocks = blocks});
    ++per_replica[l->address().id];
    held.push_back(*l);
  }
  ASSERT_EQ(per_replica.size(), 4u);
  for (const auto& [id, n] : per_replica) EXPECT_LE(n, 1.25 * 100 + 2) << id;
  for (auto& h : held) f.balancer->Release(h, Outcome::kOk);
}

// The autoscaler reads means over its window from these counters: hand-computed integrals.
TEST(BalancerTest, LoadIntegralsAreTimeWeighted) {
  Fixture f("least_tokens");
  f.AllReady(Replicas({"a", "b"}));
  EXPECT_EQ(f.balancer->Integrals().request_seconds, 0);
  auto small = f.balancer->Acquire("", {100, {}});
  auto large = f.balancer->Acquire("", {300, {}});
  ASSERT_TRUE(small && large);
  f.balancer->SetMetrics("a", {4, 1, 0.5});  // 4 waiting from t = 1 s
  f.now += 1000;
  f.balancer->Release(*small, Outcome::kOk);  // 2 requests, 400 tokens for 1 s
  f.now += 2000;
  f.balancer->Release(*large, Outcome::kOk);  // then 1 request, 300 tokens for 2 s
  f.balancer->SetMetrics("a", {0, 0, 0});     // 4 waiting for 3 s
  f.now += 5000;                              // nothing in flight: the integrals stay
  const Balancer::LoadIntegrals i = f.balancer->Integrals();
  EXPECT_DOUBLE_EQ(i.request_seconds, 2 * 1 + 1 * 2);
  EXPECT_DOUBLE_EQ(i.token_seconds, 400 * 1 + 300 * 2);
  EXPECT_DOUBLE_EQ(i.waiting_seconds, 4 * 3);
  // Read while a request is in flight: counted up to now.
  auto one = f.balancer->Acquire("", {50, {}});
  f.now += 500;
  EXPECT_DOUBLE_EQ(f.balancer->Integrals().token_seconds, 1000 + 50 * 0.5);
  EXPECT_DOUBLE_EQ(f.balancer->Integrals().tokens_routed, 100 + 300 + 50);  // a plain counter
  f.balancer->Release(*one, Outcome::kOk);
  const auto stats = f.balancer->Snapshot();
  for (const auto& s : stats) EXPECT_EQ(s.tokens_in_flight, 0) << s.id;
}

TEST(BalancerTest, ReplicaMetricsAreReadFromVllmAndSglangText) {
  auto v = ParseReplicaMetrics(
      "# HELP vllm:num_requests_running x\n# TYPE vllm:num_requests_running gauge\n"
      "vllm:num_requests_running{model_name=\"m\",engine=\"0\"} 3\n"
      "vllm:num_requests_running{model_name=\"m\",engine=\"1\"} 2\n"
      "vllm:num_requests_waiting{model_name=\"a b}\"} 7 1700000000000\n"
      "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.25\n"
      "vllm:kv_cache_usage_perc{model_name=\"m\",engine=\"1\"} 0.5\n"
      "vllm:prefix_cache_hits_total{model_name=\"m\"} 99\n");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->running, 5);     // summed over engines
  EXPECT_EQ(v->waiting, 7);     // a timestamp after the value, a '}' inside a label
  EXPECT_EQ(v->kv_usage, 0.5);  // the fullest engine
  auto sg = ParseReplicaMetrics(
      "sglang:num_queue_reqs{name=\"x\"} 4\nsglang:num_running_reqs 6\nsglang:token_usage 0.7\n");
  ASSERT_TRUE(sg.has_value());
  EXPECT_EQ(sg->waiting, 4);
  EXPECT_EQ(sg->running, 6);
  EXPECT_EQ(sg->kv_usage, 0.7);
  EXPECT_FALSE(ParseReplicaMetrics("up 1\nvllm:num_requests_waiting NaN\n").has_value());
  EXPECT_FALSE(ParseReplicaMetrics("").has_value());
}

TEST(BalancerTest, RoundRobinTakesTurnsAndOnlyReadyReplicasTakeTraffic) {
  Fixture f("round_robin");
  f.balancer->SetReplicas(Replicas({"a", "b", "c"}));
  EXPECT_FALSE(f.balancer->Acquire().has_value());  // none passed its readiness probe yet
  f.balancer->SetReady("a", true);
  f.balancer->SetReady("c", true);
  std::map<std::string, int> seen;
  for (int i = 0; i < 10; ++i) {
    auto lease = f.balancer->Acquire();
    ASSERT_TRUE(lease.has_value());
    ++seen[lease->address().id];
    f.balancer->Release(*lease, Outcome::kOk);
  }
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 5}, {"c", 5}}));
  EXPECT_EQ(f.balancer->InFlight(), 0);
}

TEST(BalancerTest, LeastLoadPicksTheIdlestAndSpreadsTies) {
  Fixture f("least_load");
  f.AllReady(Replicas({"a", "b", "c"}));
  auto first = f.balancer->Acquire();
  auto second = f.balancer->Acquire();
  auto third = f.balancer->Acquire();
  std::set<std::string> ids = {first->address().id, second->address().id, third->address().id};
  EXPECT_EQ(ids.size(), 3u);  // one each while they are equally loaded
  const std::string idle = second->address().id;
  f.balancer->Release(*second, Outcome::kOk);
  auto fourth = f.balancer->Acquire();  // the only one with nothing in flight
  EXPECT_EQ(fourth->address().id, idle);
  for (auto* l : {&*first, &*third, &*fourth}) f.balancer->Release(*l, Outcome::kOk);
  EXPECT_EQ(f.balancer->InFlight(), 0);
}

TEST(BalancerTest, ConsecutiveFailuresEjectAReplicaForAWhile) {
  BalancerOptions o;
  o.eject_after_failures = 3;
  o.ejection_ms = 5000;
  Fixture f("round_robin", o);
  f.AllReady(Replicas({"a", "b"}));
  // Failures on a; a success in between starts the count again.
  const auto fail_on_a = [&](Outcome outcome) {
    for (;;) {
      auto l = f.balancer->Acquire();
      const bool on_a = l->address().id == "a";
      f.balancer->Release(*l, on_a ? outcome : Outcome::kOk);
      if (on_a) return;
    }
  };
  fail_on_a(Outcome::kConnectError);
  fail_on_a(Outcome::kServerError);
  fail_on_a(Outcome::kOk);
  fail_on_a(Outcome::kCancelled);  // a client going away says nothing about a
  fail_on_a(Outcome::kTimeout);
  fail_on_a(Outcome::kConnectError);
  EXPECT_FALSE(f.balancer->Snapshot()[0].ejected);
  fail_on_a(Outcome::kServerError);  // the third in a row
  EXPECT_TRUE(f.balancer->Snapshot()[0].ejected);
  EXPECT_EQ(f.balancer->Snapshot()[0].ejections, 1);
  for (int i = 0; i < 6; ++i) {
    auto l = f.balancer->Acquire();
    EXPECT_EQ(l->address().id, "b");
    f.balancer->Release(*l, Outcome::kOk);
  }
  f.now += 5000;  // the ejection ends
  std::set<std::string> ids;
  for (int i = 0; i < 2; ++i) {
    auto l = f.balancer->Acquire();
    ids.insert(l->address().id);
    f.balancer->Release(*l, Outcome::kOk);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"a", "b"}));
}

TEST(BalancerTest, ARetryGoesToAnotherReplica) {
  BalancerOptions o;
  o.eject_after_failures = 1000;  // this test is about the retry, not the ejection
  Fixture f("least_load", o);
  f.AllReady(Replicas({"a", "b"}));
  for (int i = 0; i < 20; ++i) {
    auto first = f.balancer->Acquire();
    const std::string failed = first->address().id;
    f.balancer->Release(*first, Outcome::kConnectError);
    auto retry = f.balancer->Acquire(failed);
    ASSERT_TRUE(retry.has_value());
    EXPECT_NE(retry->address().id, failed);
    f.balancer->Release(*retry, Outcome::kOk);
  }
  f.AllReady(Replicas({"a"}));
  EXPECT_FALSE(f.balancer->Acquire("a").has_value());  // nowhere else to go
}

TEST(BalancerTest, ChurnKeepsCountsAndHealthOfReplicasThatStay) {
  Fixture f("round_robin");
  f.AllReady(Replicas({"a", "b"}));
  auto on_a = f.balancer->Acquire();
  ASSERT_EQ(on_a->address().id, "a");
  f.balancer->SetReplicas(Replicas({"b", "c"}));  // a leaves with a request in flight
  EXPECT_EQ(f.balancer->InFlight(), 1);
  const auto snap = f.balancer->Snapshot();
  ASSERT_EQ(snap.size(), 3u);
  EXPECT_TRUE(snap[0].ready);    // b kept its readiness
  EXPECT_FALSE(snap[1].ready);   // c waits for its probe
  EXPECT_FALSE(snap[2].in_set);  // a drains
  for (int i = 0; i < 4; ++i) {
    auto l = f.balancer->Acquire();
    EXPECT_EQ(l->address().id, "b");
    f.balancer->Release(*l, Outcome::kOk);
  }
  f.balancer->Release(*on_a, Outcome::kOk);
  f.balancer->Release(*on_a, Outcome::kOk);  // a second release of one lease changes nothing
  EXPECT_EQ(f.balancer->InFlight(), 0);
  EXPECT_EQ(f.balancer->Snapshot().size(), 2u);  // a is gone once drained
}

// Random requests, outcomes, cancels, readiness flips, clock jumps and replica churn: a pick is
// always a ready, not ejected, not excluded replica of the current set; no count goes negative;
// the counts equal the leases held; all zero at rest.
TEST(BalancerTest, InFlightCountsStayExactUnderRandomChurn) {
  for (const std::string& policy : PolicyNames()) {
    for (uint32_t seed = 1; seed <= 20; ++seed) {
      std::mt19937 rng(seed);
      BalancerOptions o;
      o.eject_after_failures = 2;
      o.ejection_ms = 300;
      Fixture f(policy, o);
      const std::vector<ReplicaAddress> pool = Replicas({"r0", "r1", "r2", "r3", "r4", "r5"});
      std::vector<Balancer::Lease> held;
      std::set<std::string> in_set;
      const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
      for (int step = 0; step < 2000; ++step) {
        const int op = pick(100);
        if (op < 5) {  // a new replica set: a random subset of the pool
          std::vector<ReplicaAddress> next;
          in_set.clear();
          for (const auto& r : pool) {
            if (pick(2) == 0) {
              next.push_back(r);
              in_set.insert(r.id);
            }
          }
          f.balancer->SetReplicas(next);
        } else if (op < 15) {  // a probe's verdict
          f.balancer->SetReady(pool[static_cast<size_t>(pick(6))].id, pick(4) != 0);
        } else if (op < 20) {
          f.now += pick(200);
        } else if (op < 60) {  // a request, sometimes a retry avoiding a replica
          const std::string exclude = pick(3) == 0 ? pool[static_cast<size_t>(pick(6))].id : "";
          auto lease = f.balancer->Acquire(exclude);
          if (!lease) continue;
          const std::string id = lease->address().id;
          ASSERT_NE(id, exclude);
          ASSERT_EQ(in_set.count(id), 1u) << id << " is not in the set";
          bool usable = false;  // the clock has not moved since the pick
          for (const auto& s : f.balancer->Snapshot()) {
            if (s.id == id && s.in_set) usable = s.ready && !s.ejected;
          }
          ASSERT_TRUE(usable) << id << " was not ready, or ejected";
          held.push_back(std::move(*lease));
        } else if (!held.empty()) {  // a request ends: ok, error, timeout or cancel
          const size_t i = static_cast<size_t>(pick(static_cast<int>(held.size())));
          f.balancer->Release(held[i], static_cast<Outcome>(pick(5)));
          held.erase(held.begin() + static_cast<std::ptrdiff_t>(i));
        }
        int64_t sum = 0;
        for (const auto& s : f.balancer->Snapshot()) {
          ASSERT_GE(s.in_flight, 0) << s.id;
          sum += s.in_flight;
        }
        ASSERT_EQ(sum, static_cast<int64_t>(held.size()))
            << "policy " << policy << " seed " << seed << " step " << step;
      }
      for (auto& l : held) f.balancer->Release(l, Outcome::kCancelled);
      EXPECT_EQ(f.balancer->InFlight(), 0);
      for (const auto& s : f.balancer->Snapshot()) EXPECT_TRUE(s.in_set) << s.id;
    }
  }
}

}  // namespace
}  // namespace awan::gateway

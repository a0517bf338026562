// Which replica takes a request, for one service's route in the gateway. The balancer keeps each
// replica's requests in flight and health, asks a load-balancing policy (registered by name) for
// a pick among the usable ones, and ejects a replica after consecutive failures for a while
// (passive health), beside the active probes that mark it ready or not.
//
// Contract: every Acquire that returns a lease is matched by exactly one Release of that lease;
// then the in-flight counts are exact — never negative, and zero at rest — even when the replica
// set changes while requests are in flight (a removed replica's count lives on in its leases).
// Thread-safe: the gateway's worker threads share one balancer per route. Time is injected.
#pragma once

#include <climits>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace awan::gateway {

// One replica as the server describes it.
struct ReplicaAddress {
  std::string id;  // stable across updates of the set ("echo-3")
  std::string host;
  int port = 0;
  friend bool operator==(const ReplicaAddress&, const ReplicaAddress&) = default;
};

// How a request on a replica ended, as far as the replica's health is concerned.
enum class Outcome {
  kOk,            // an answer, whatever its status below 500
  kConnectError,  // no connection, or it broke before the answer began
  kServerError,   // 5xx
  kTimeout,       // no answer in time
  kCancelled,     // the client went away: says nothing about the replica
};

// What a replica's own /metrics said (vLLM's or SGLang's gauges; replica_metrics.h).
struct ReplicaMetrics {
  double waiting = 0;   // requests queued (vllm:num_requests_waiting)
  double running = 0;   // requests in its batch (vllm:num_requests_running)
  double kv_usage = 0;  // KV cache in use, 0..1 (vllm:kv_cache_usage_perc)
};

// What a policy sees of one replica: its place in the set and its load.
struct Candidate {
  size_t index = 0;              // in the balancer's current set
  int64_t in_flight = 0;         // requests this gateway has on it now
  int64_t tokens_in_flight = 0;  // their tokens (prompt + output), as RequestInfo estimated them
  const ReplicaAddress* address = nullptr;
  // Its latest metrics when fresh (BalancerOptions::metrics_stale_ms), else null: unknown.
  const ReplicaMetrics* metrics = nullptr;
  int64_t routed_since_metrics = 0;  // requests this gateway sent it since those metrics
};

// A scraped /metrics text (Prometheus exposition) read for the gauges above: vLLM's
// vllm:num_requests_waiting, vllm:num_requests_running, vllm:kv_cache_usage_perc (or the older
// vllm:gpu_cache_usage_perc), or SGLang's sglang:num_queue_reqs, sglang:num_running_reqs,
// sglang:token_usage; summed over label sets (KV use: the largest). nullopt when none is there.
std::optional<ReplicaMetrics> ParseReplicaMetrics(std::string_view text);

// What the gateway knows of a request before it is routed (LLM-aware policies; empty for others).
struct RequestInfo {
  int64_t tokens = 0;                // prompt + expected output tokens
  std::span<const uint64_t> blocks;  // the prompt's prefix-block hashes (llm::BlockHashes)
};

// A load-balancing policy. Called under the balancer's lock; keeps whatever state it wants between
// picks (HAProxy-style incremental state), told when the set changes.
class Policy {
 public:
  virtual ~Policy() = default;
  // The set now has `size` replicas (indices 0..size-1); earlier indices mean nothing any more.
  virtual void Reset(size_t size) = 0;
  // One of `usable` (not empty: the replicas that are ready, not ejected and not excluded). The
  // result must be one of them.
  virtual size_t Pick(const std::vector<Candidate>& usable, const RequestInfo& request) = 0;
};

using PolicyFactory = std::function<std::unique_ptr<Policy>()>;

// Policies by name. The built-ins are registered on first use: round_robin, least_load,
// least_tokens (fewest tokens in flight), prefix_affinity (the replica that was sent the longest
// prefix of the request's blocks, within a bounded load) and llm_score (queue depth and KV-cache
// use from the replicas' metrics, with prefix affinity; see docs/llm.md). A name registered twice
// fails loudly (std::logic_error).
void RegisterPolicy(std::string name, PolicyFactory factory);
absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(std::string_view name);
std::vector<std::string> PolicyNames();

struct BalancerOptions {
  int eject_after_failures = 3;     // consecutive connect errors, 5xx or timeouts
  int64_t ejection_ms = 10000;      // how long an ejected replica takes no new requests
  std::function<int64_t()> now_ms;  // injected clock; steady clock when empty
  int64_t metrics_stale_ms = 500;   // a replica's metrics older than this count as unknown
};

class Balancer {
 public:
  Balancer(std::unique_ptr<Policy> policy, BalancerOptions options);
  ~Balancer();
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  struct ReplicaState;  // internal; shared with the leases on it
  // A request's hold on a replica, from Acquire to Release.
  struct Lease {
    std::shared_ptr<ReplicaState> replica;
    int64_t tokens = 0;
    const ReplicaAddress& address() const;
  };

  // The replicas from now on. Replicas whose id stays keep their counts and health; new ones start
  // not ready until SetReady says otherwise (the readiness probe gates them).
  void SetReplicas(const std::vector<ReplicaAddress>& replicas);
  // The active health check's verdict on a replica (ignored for an id not in the set).
  void SetReady(std::string_view id, bool ready);
  // What the replica's /metrics said just now (ignored for an id not in the set).
  void SetMetrics(std::string_view id, const ReplicaMetrics& metrics);

  // A replica for a new request, or nullopt when none is usable. `exclude`: a replica id not to
  // use (the one a retried request already failed on); "" for none.
  // `request`: what LLM-aware policies route on; its tokens count in flight until Release.
  std::optional<Lease> Acquire(std::string_view exclude = "", const RequestInfo& request = {});
  // Ends the lease's request with `outcome`.
  void Release(Lease& lease, Outcome outcome);

  struct Stats {
    std::string id;
    bool ready = false, ejected = false, in_set = true;
    int64_t in_flight = 0;
    int64_t requests = 0, failures = 0, ejections = 0;
    int64_t tokens_in_flight = 0;           // as RequestInfo estimated them (LLM-aware routes)
    std::optional<ReplicaMetrics> metrics;  // its /metrics, when fresh
  };
  // Every replica in the set, then removed ones that still have requests in flight.
  std::vector<Stats> Snapshot() const;
  int64_t InFlight() const;  // over every replica, removed ones included
  // Load integrated over time since the balancer began (counters, Prometheus-style): requests in
  // flight × seconds, their tokens × seconds, and the replicas' waiting requests (fresh metrics)
  // × seconds. Over a window, a counter's increase over the window's length is the mean — what
  // the autoscaler reads (controller/autoscaler.h).
  struct LoadIntegrals {
    double request_seconds = 0, token_seconds = 0, waiting_seconds = 0;
    double tokens_routed = 0;  // and a plain counter: tokens of the requests routed (their rate)
  };
  LoadIntegrals Integrals() const;

 private:
  int64_t Now() const;

  void Integrate(int64_t now);  // brings the integrals up to `now`; under mu_

  mutable std::mutex mu_;
  std::unique_ptr<Policy> policy_;  // guarded by mu_
  // Guarded by mu_: the integrals (in ms) up to integrated_at_, and what is in flight now.
  LoadIntegrals integrals_ms_;
  int64_t integrated_at_ = INT64_MIN;
  int64_t requests_now_ = 0, tokens_now_ = 0;
  double waiting_now_ = 0;
  const BalancerOptions options_;
  std::vector<std::shared_ptr<ReplicaState>> replicas_;  // guarded by mu_
  std::vector<std::shared_ptr<ReplicaState>> draining_;  // guarded by mu_: removed, still busy
};

}  // namespace awan::gateway

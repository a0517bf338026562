// The gateway: awan's data plane in front of a service's replicas (its own process, so it keeps
// routing while the control plane is down or restarting). Each route listens on its own address
// and relays HTTP/1.1 requests to its replicas, keep-alive on both sides: a replica is picked by
// the route's balancer (balancer.h); a request that fails before its replica answered anything
// (connect error, broken connection, timeout before the response headers) is retried once on a
// different replica; responses — SSE and chunked streams included — are relayed as they arrive,
// without buffering and without a total-duration limit; a client that goes away while its
// response streams closes the upstream connection (the replica sees the request cancelled). An
// active health check asks each replica's readiness path about twice a second; only replicas that
// answered 200 take traffic.
//
// Thread-compatible: Start, SetReplicas and Stop from one thread; the network runs on the
// gateway's own thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/gateway/balancer.h"
#include "awan/gateway/managed.h"

namespace awan::gateway {

struct RouteConfig {
  std::string name;  // the service
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port (Start says which)
  std::string policy = "least_load";
  std::string readiness_path = "/";
  std::vector<ReplicaAddress> replicas;
  // API keys: when set, only requests with `Authorization: Bearer KEY` whose SHA-256 (hex) is one
  // of `key_hashes` are relayed; others get 401.
  bool require_key = false;
  std::vector<std::string> key_hashes;
  // HTTPS towards clients (TLS 1.2+, OpenSSL) with this certificate chain and key (PEM files);
  // empty: plain HTTP.
  std::string tls_certfile, tls_keyfile;
  // Managed endpoints tried in this order when no replica answered a completion request: none
  // ready, or each tried failed before its answer began (connect error, timeout, 429, 5xx). An
  // endpoint that fails the same way is skipped for its Retry-After or its cooldown (managed.h).
  std::vector<ManagedEndpoint> fallbacks;
  // For the autoscaler (RouteCounters), whatever the policy: estimate each request's tokens from
  // its prompt, and read the replicas' /metrics for their waiting requests.
  bool count_tokens = false;
  bool read_metrics = false;
};

struct GatewayOptions {
  // Where GET /metrics (Prometheus text) and GET /health are served; port -1: nowhere, 0: any.
  std::string admin_host = "127.0.0.1";
  int admin_port = -1;
  int64_t health_interval_ms = 500;
  int64_t health_timeout_ms = 1000;
  int64_t connect_timeout_ms = 2000;
  int64_t response_header_timeout_ms = 120000;  // until the replica's first byte of an answer
  int64_t client_idle_timeout_ms = 60000;       // a kept-alive client between requests
  // On an llm_score route: how often each replica's /metrics is read (stale after
  // balancer.metrics_stale_ms).
  int64_t metrics_interval_ms = 100;
  BalancerOptions balancer;
};

class Gateway {
 public:
  explicit Gateway(GatewayOptions options = {});
  ~Gateway();  // stops
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Listens for every route and starts relaying; the ports bound, in route order. A route's port
  // is bound with SO_REUSEPORT, so several gateways on one machine serve it side by side.
  absl::StatusOr<std::vector<int>> Start(const std::vector<RouteConfig>& routes);
  // Makes the routes these (after Start): a new one listens, one no longer named stops listening
  // (its requests under way finish), one whose policy or address changed is made again, and the
  // others get the replicas given. Errors name the routes that could not listen; the rest apply.
  absl::Status SetRoutes(const std::vector<RouteConfig>& routes);
  // The admin listener's port (-1 when none).
  int admin_port() const;
  // Each route's counters (what the gateway reports to the server for the autoscaler): requests
  // answered since it began, requests in flight, and per replica.
  struct RouteCounters {
    std::string name;
    uint64_t requests_total = 0;
    int64_t in_flight = 0;
    int64_t tokens_in_flight = 0;  // LLM-aware routes: prompt + expected output of those requests
    double waiting = 0;            // requests queued at the replicas (fresh /metrics; llm_score)
    Balancer::LoadIntegrals integrals;  // the same over time, for means over a window
    std::vector<Balancer::Stats> replicas;
  };
  std::vector<RouteCounters> Counters() const;
  // A route's replicas from now on (the server's view of the service); unknown routes are ignored.
  void SetReplicas(const std::string& route, const std::vector<ReplicaAddress>& replicas);
  // The route's balancer state, for tests and metrics.
  std::vector<Balancer::Stats> Snapshot(const std::string& route) const;
  // Prometheus text exposition: per replica requests, failures, ejections, in flight and
  // readiness; per route retries, answers by status class and a request-duration histogram.
  std::string MetricsText() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace awan::gateway

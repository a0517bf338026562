// A service: long-lived replicas of a task behind awan's gateway. A task file with a `service:`
// section is a service; the section follows SkyPilot's (SkyServe) so its files load unchanged,
// plus awan's own `spread:`. Plain data, produced by the task parser. See docs/services.md.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace awan::spec {

inline constexpr int kMaxReplicas = 10000;
inline constexpr double kMaxProbeDelayS = 86400;      // initial_delay_seconds
inline constexpr double kMaxProbeTimeoutS = 3600;     // timeout_seconds
inline constexpr double kMaxScaleDelayS = 7 * 86400;  // up/downscale_delay_seconds

// The load-balancing policies a route may name (`load_balancing_policy`).
inline const std::vector<std::string>& LoadBalancingPolicies() {
  static const std::vector<std::string> kPolicies = {"round_robin", "least_load", "least_tokens",
                                                     "prefix_affinity", "llm_score"};
  return kPolicies;
}

// When a replica takes traffic: its probe answers 200.
struct ReadinessProbe {
  std::string path = "/";
  std::optional<std::string> post_data;  // sent with POST when given (JSON text); else GET
  double initial_delay_s = 1200;  // failures before this are not counted (SkyPilot's default)
  double timeout_s = 15;
  std::vector<std::pair<std::string, std::string>> headers;

  friend bool operator==(const ReadinessProbe&, const ReadinessProbe&) = default;
};

// How many replicas. `replicas: N` is min = max = N; autoscaling between min and max follows
// target_qps_per_replica (SkyServe's) and/or target_in_flight_per_replica (awan's own: requests
// under way at the gateways, for long requests such as LLM generations) — the larger need wins.
struct ReplicaPolicy {
  int min_replicas = 1;
  int max_replicas = 1;
  std::optional<double> target_qps_per_replica;
  std::optional<double> target_in_flight_per_replica;
  // awan's own, for LLM services (docs/llm.md): tokens (prompt + expected output) of the requests
  // the gateways hold open, and requests queued at the replicas (their vllm:num_requests_waiting).
  std::optional<double> target_tokens_in_flight_per_replica;
  std::optional<double> target_waiting_per_replica;
  std::optional<double> target_tokens_per_second_per_replica;  // the rate of tokens routed
  double upscale_delay_s = 300;
  double downscale_delay_s = 1200;
  int num_overprovision = 0;
  // Spot replicas with an on-demand fallback: this many replicas always on demand, and (dynamic)
  // on demand in place of spot replicas that cannot be had.
  int base_ondemand_fallback_replicas = 0;
  bool dynamic_ondemand_fallback = false;

  bool autoscales() const { return max_replicas > min_replicas; }
  bool has_target() const {
    return target_qps_per_replica || target_in_flight_per_replica ||
           target_tokens_in_flight_per_replica || target_waiting_per_replica ||
           target_tokens_per_second_per_replica;
  }
  friend bool operator==(const ReplicaPolicy&, const ReplicaPolicy&) = default;
};

// awan's own: the replicas are placed on at least this many providers and regions, so that one
// outage never takes the whole service.
struct Spread {
  int providers = 1;
  int regions = 1;
  friend bool operator==(const Spread&, const Spread&) = default;
};

struct TlsFiles {
  std::string keyfile, certfile;  // absolute paths
  friend bool operator==(const TlsFiles&, const TlsFiles&) = default;
};

// A managed model endpoint the route falls back to (`fallbacks:`, awan's own; tried in order when
// no replica answers a completion). Secrets are named, never written: the gateway reads the key
// from `api_key_env` (its environment) or `api_key_file`. See docs/llm.md.
inline const std::vector<std::string>& FallbackKinds() {
  static const std::vector<std::string> kKinds = {"openai", "azure_openai", "bedrock", "vertex"};
  return kKinds;
}
struct FallbackSpec {
  std::string kind;  // FallbackKinds()
  std::string name;  // defaults to the kind, then "-2", "-3"... when repeated
  std::string base_url;
  std::string model;
  std::string deployment, api_version;  // azure_openai
  std::string region;            // bedrock (AWS credentials from the gateway's environment), vertex
  std::string project;           // vertex
  std::string credentials_file;  // vertex: a service-account key ($GOOGLE_APPLICATION_CREDENTIALS)
  std::string api_key_env, api_key_file, ca_file;
  double timeout_s = 30;   // connect + until the answer's first byte
  double cooldown_s = 10;  // after a failure without Retry-After
  friend bool operator==(const FallbackSpec&, const FallbackSpec&) = default;
};

struct ServiceSpec {
  ReadinessProbe readiness_probe;
  ReplicaPolicy replica_policy;
  std::string load_balancing_policy = "least_load";
  // The port the replicas listen on; nullopt: the task's first `resources.ports`.
  std::optional<int> port;
  Spread spread;
  std::optional<TlsFiles> tls;  // the gateway's certificate towards clients
  // awan's own `auth: api_key`: the gateway answers only requests with `Authorization: Bearer KEY`
  // for a key of the service (`awan serve keys create`).
  bool api_key = false;
  std::vector<FallbackSpec> fallbacks;

  friend bool operator==(const ServiceSpec&, const ServiceSpec&) = default;
};

}  // namespace awan::spec

// What the controller tells about services (plain data): each service with its replicas as the
// replica manager sees them now. See docs/services.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "awan/spec/service.h"
#include "awan/store/records.h"

namespace awan::controller {

struct ReplicaView {
  int64_t id = 0;  // the replica's job id
  int version = 0;
  std::string provider, region, zone;
  // PENDING, PROVISIONING, STARTING (running, not yet ready), READY, NOT_READY, PREEMPTED,
  // RECOVERING, SHUTTING_DOWN; for replicas that ended: the job's terminal state.
  std::string state;
  bool ready = false;
  std::string host;  // where the gateway reaches it ("" until it runs)
  int port = 0;
  bool draining = false;  // being taken out: no new traffic
  bool spot = false;      // on spot capacity (else on demand)
  int64_t started_at = 0;
  double qps = 0;     // requests per second through the gateways, over the last window
  int in_flight = 0;  // requests under way at the gateways
};

struct ServiceView {
  store::ServiceRecord record;
  // READY (a replica is ready), REPLICA_INIT (replicas, none ready yet), NO_REPLICA,
  // SHUTTING_DOWN, DOWN, FAILED.
  std::string status;
  std::string endpoint;  // http://GATEWAY_HOST:PORT — where clients send requests
  int desired = 0;       // replicas wanted now
  std::string policy;
  std::string readiness_path = "/";
  std::vector<ReplicaView> replicas;  // live ones, oldest first
  double qps = 0;                     // the whole service's, through every gateway that reported
  int in_flight = 0;
  int64_t tokens_in_flight = 0;  // LLM routes: prompt + expected output tokens of those requests
  double waiting = 0;            // requests queued at the replicas (their /metrics)
  // What the gateways must gather for the autoscaler beyond requests: "tokens_in_flight" (read
  // each request's prompt) and "waiting" (read the replicas' /metrics).
  std::vector<std::string> autoscale_signals;
  bool api_key = false;                       // `auth: api_key`: the gateway checks keys
  std::vector<std::string> key_hashes;        // SHA-256 of the valid keys
  std::string tls_certfile, tls_keyfile;      // `tls:`: the gateway serves HTTPS with these
  std::vector<spec::FallbackSpec> fallbacks;  // managed endpoints (secrets named, not held)
};

// What a gateway tells the server about one route (POST /v1/gateway/sync): counters since the
// gateway started, so the server computes rates over its own window.
struct RouteLoad {
  std::string name;
  uint64_t requests_total = 0;
  int in_flight = 0;
  int64_t tokens_in_flight = 0;  // LLM routes: prompt + expected output tokens of those requests
  double waiting = 0;            // requests queued at the replicas, from their fresh /metrics
  // The same integrated over time since the gateway began (counters: request-, token- and
  // waiting-seconds), so the server takes their means over its load window.
  double request_seconds_total = 0, token_seconds_total = 0, waiting_seconds_total = 0;
  double tokens_routed_total = 0;  // tokens of the requests routed (a counter: their rate)
  struct Replica {
    std::string id;
    uint64_t requests_total = 0;
    int in_flight = 0;
  };
  std::vector<Replica> replicas;
};

// How a service's update replaces its replicas.
enum class UpdateMode { kRolling, kBlueGreen };

}  // namespace awan::controller

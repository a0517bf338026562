// JSON shapes of the REST API (docs/api.md), shared by the server that writes them and the CLI that
// reads them. Field names here are a contract: `awan status --json` prints these objects.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/controller/services.h"
#include "awan/store/records.h"

namespace awan::server {

inline constexpr const char* kApiVersion = "v1";
inline constexpr const char* kAwanVersion = "0.1.0";

// {"id", "name", "state", "exit_code", "placement": {"provider", "region", "zone", "instance_type",
//  "num_nodes"}, "submitted_at", "started_at", "ended_at", "reason", "cancel_requested", "source",
//  "recoveries", "restarts_on_errors"}
// recoveries: how many times the job was placed again (preempted, a node lost, restarted after an
// error); restarts_on_errors: those counted against job_recovery.max_restarts_on_errors.
// Times are ISO 8601 UTC strings, null until they happen; zone/exit_code null when unknown.
std::string JobJson(const store::JobRecord& job);

// "2026-11-22T12:00:00.123Z"
std::string IsoTime(int64_t ms_since_epoch);

// The job object as a client reads it back (GET /v1/jobs/{id}, the list, launch and cancel
// answers). Times as sent ("" for null); `nodes` only from GET /v1/jobs/{id}.
struct JobView {
  int64_t id = 0;
  std::string name, state;
  std::optional<int> exit_code;
  std::string provider, region, zone, instance_type;  // "" until placed
  int num_nodes = 1;
  std::string submitted_at, started_at, ended_at, reason, source;
  bool cancel_requested = false;
  int recoveries = 0, restarts_on_errors = 0;
  struct Node {
    int rank = 0;
    std::string provider, host;
  };
  std::vector<Node> nodes;
};
struct EventView {
  std::string time, type, message;
};

// GET /v1/server: {"url", "pid", "store", "home", "version", "machine": {"hostname", "cpus",
// "memory_gib", "gpus": [{"index", "name"}]}, "scheduler": {...} or null}.
struct SchedulerView {
  std::string policy, fleet;
  int64_t queued = 0, running = 0, accelerators_in_use = 0, accelerators_total = 0;
};
struct ServerView {
  std::string url;
  int64_t pid = 0;
  std::string store, home, version;
  std::string hostname;
  int cpus = 0;
  double memory_gib = 0;
  struct Gpu {
    int index = 0;
    std::string name;
  };
  std::vector<Gpu> gpus;
  std::optional<SchedulerView> scheduler;  // null when the fleet scheduler is off
};
std::string ServerJson(const ServerView& server);
// The "scheduler" member alone ("null" when none); `awan server status --json` prints it too.
std::string SchedulerJson(const std::optional<SchedulerView>& scheduler);

// GET /v1/sim/books: [{"provider", "region", "zone" (null when none), "instance_type", "used",
// "capacity"}], one row per emulated offering.
struct SimBookRow {
  std::string provider, region, zone, instance_type;
  int64_t used = 0, capacity = 0;
};
std::string SimBooksJson(const std::vector<SimBookRow>& books);

// The 202 answer of POST /v1/sim/preempt ({"provider", "node"}), /outage ({"provider", "region",
// "until"}: ms since epoch, 0 until restored) and /restore ({"provider", "region"}).
struct SimAnswer {
  std::string provider, node, region;
  int64_t until = 0;
};
std::string SimPreemptJson(const SimAnswer& answer);
std::string SimOutageJson(const SimAnswer& answer);
std::string SimRestoreJson(const SimAnswer& answer);

// POST /v1/optimize: {"chosen" (the first candidate, or null), "candidates": [{"provider",
// "region", "zone" (null when none), "instance_type", "accelerator" (null when none),
// "accelerator_count", "num_nodes", "spot", "hourly_cost"}], "feasible", "infeasible_reason"
// (only when there is no candidate)}.
struct PlacementView {
  std::string provider, region, zone, instance_type, accelerator;
  int accelerator_count = 0, num_nodes = 1;
  bool spot = false;
  double hourly_cost = 0;
};
struct OptimizeView {
  std::vector<PlacementView> candidates;
  bool feasible = false;
  std::string infeasible_reason;
};
std::string OptimizeJson(const OptimizeView& result);

// A service (GET /v1/services/{name}; the list is {"services": [...]}): {"id", "name", "status",
// "endpoint", "policy", "version", "update_mode", "desired_replicas", "readiness_path", "source",
// "created_at", "reason", "qps", "in_flight", "auth" ("none" | "api_key"), "api_key_sha256" (the
// valid keys' hashes, for gateways), "tls" (null or {"certfile", "keyfile"}: the gateway serves
// HTTPS), "replicas": [{"id", "version", "provider", "region",
// "zone", "state", "ready", "host", "port", "draining", "qps", "in_flight"}]}. `awan serve status
// NAME --json` prints this object; gateways read the list for their routes.
std::string ServiceJson(const controller::ServiceView& service);
std::string ServiceListJson(const std::vector<controller::ServiceView>& services);

// Each: InvalidArgument saying what is missing or of the wrong type when the text is not that
// shape.
absl::StatusOr<JobView> DecodeJob(std::string_view json);
absl::StatusOr<std::vector<JobView>> DecodeJobList(std::string_view json);  // {"jobs": [...]}
absl::StatusOr<std::vector<EventView>> DecodeEvents(std::string_view json);
absl::StatusOr<ServerView> DecodeServer(std::string_view json);
absl::StatusOr<std::vector<SimBookRow>> DecodeSimBooks(std::string_view json);
absl::StatusOr<SimAnswer> DecodeSimAnswer(std::string_view json);
absl::StatusOr<OptimizeView> DecodeOptimize(std::string_view json);
// POST /v1/gateway/sync, a gateway's counters: {"gateway": ID, "routes": [{"name",
// "requests_total", "in_flight", "replicas": [{"id", "requests_total", "in_flight"}]}]}; the answer
// is the list of services.
std::string GatewaySyncJson(const std::string& gateway,
                            const std::vector<controller::RouteLoad>& routes);
absl::StatusOr<std::pair<std::string, std::vector<controller::RouteLoad>>> DecodeGatewaySync(
    std::string_view json);
absl::StatusOr<controller::ServiceView> DecodeService(std::string_view json);
absl::StatusOr<std::vector<controller::ServiceView>> DecodeServiceList(std::string_view json);
// The message of an error answer ({"error": {"message"}}), or nullopt when the body is not one.
std::optional<std::string> DecodeErrorMessage(std::string_view json);

}  // namespace awan::server

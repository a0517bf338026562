// Persisted records: jobs, their events, the nodes they run on, providers. Plain data with a
// record_version so older rows can be read after a schema change. Times are milliseconds since the
// Unix epoch (0 = not yet).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace awan::store {

// PENDING → PROVISIONING → RUNNING → SUCCEEDED | FAILED | CANCELLED. A preempted or lost job goes
// RUNNING → PREEMPTED → RECOVERING → PENDING and is placed again; a managed job whose code failed
// and may restart (job_recovery) goes RUNNING → RECOVERING → PENDING.
enum class JobState {
  kPending,
  kProvisioning,
  kRunning,
  kSucceeded,
  kFailed,
  kCancelled,
  kPreempted,
  kRecovering,
};
std::string_view JobStateName(JobState state);  // "PENDING", ...
std::optional<JobState> ParseJobState(std::string_view name);
bool IsTerminal(JobState state);
// The lifecycle's edges; the store refuses any other transition.
bool IsAllowedTransition(JobState from, JobState to);

inline constexpr int kJobRecordVersion = 1;

struct JobRecord {
  int64_t id = 0;
  std::string name;
  JobState state = JobState::kPending;
  std::optional<int> exit_code;
  // Placement (empty until provisioned).
  std::string provider, region, zone, instance_type;
  int num_nodes = 1;
  // The task as submitted, so the job can be run again after a restart.
  std::string task_yaml;
  std::string task_source;    // the file name it came from
  std::string task_base_dir;  // where its relative paths are resolved
  int64_t submitted_at = 0, started_at = 0, ended_at = 0;
  std::string reason;  // of the last transition
  bool cancel_requested = false;
  bool retry_until_up = false;  // keep trying (capped backoff) when every placement fails
  int record_version = kJobRecordVersion;
  // A replica of a service (0: a job of its own): the service, the version of its task it runs,
  // and the port it was told to listen on (AWAN_REPLICA_PORT).
  int64_t service_id = 0;
  int service_version = 0;
  int replica_port = 0;
  // Managed jobs: transitions to RECOVERING so far (after preemption, a lost node or an error),
  // and those that were restarts after an error counted against max_restarts_on_errors.
  int recoveries = 0;
  int restarts_on_errors = 0;
};

struct NewJob {
  std::string name;
  int num_nodes = 1;
  std::string task_yaml, task_source, task_base_dir;
  bool retry_until_up = false;
  int64_t service_id = 0;  // a replica of this service
  int service_version = 0;
  int replica_port = 0;
};

struct JobEvent {
  int64_t job_id = 0;
  int64_t time = 0;
  std::string type;  // "submitted", "state", "cancel_requested", "log", ...
  std::string message;
};

// One node of a job as a provider started it.
struct NodeRecord {
  int64_t job_id = 0;
  int rank = 0;
  std::string provider;
  std::string host;
  std::string workdir;     // the node's folder on this machine
  std::string gpus;        // CUDA_VISIBLE_DEVICES given to it
  std::string allocation;  // the provider's allocation id ("" for the local machine)
  // The provider's own handle on the node (providers::NodeHandle): only the provider reads it.
  // "" until the node started.
  std::string handle;
};

// A service: a task whose replicas (jobs with its service_id) run until it is taken down.
// ACTIVE → SHUTTING_DOWN (down requested: its replicas are being cancelled) → DOWN (none left).
// FAILED: replicas kept failing before they were ever ready, so no more are started (an update
// makes it ACTIVE again).
enum class ServiceState { kActive, kShuttingDown, kDown, kFailed };
std::string_view ServiceStateName(ServiceState state);  // "ACTIVE", ...
std::optional<ServiceState> ParseServiceState(std::string_view name);

struct ServiceRecord {
  int64_t id = 0;
  std::string name;  // unique among the services that are not DOWN
  ServiceState state = ServiceState::kActive;
  int version = 1;  // of the task; an update adds one
  std::string task_yaml, task_source, task_base_dir;
  std::string update_mode;  // of the last update: "rolling" or "blue_green"
  int port = 0;             // where gateways serve it (the endpoint's port)
  int64_t created_at = 0, updated_at = 0, ended_at = 0;
  std::string reason;  // of the last state change
};

struct ServiceEvent {
  int64_t service_id = 0;
  int64_t time = 0;
  std::string type;  // "created", "replica", "scale", "update", "state", ...
  std::string message;
};

// An API key of a service (`auth: api_key`): only its SHA-256 is kept; the key itself is shown
// once, when it is created.
struct ServiceKey {
  int64_t id = 0;
  int64_t service_id = 0;
  std::string label;
  std::string sha256;                      // hex
  int64_t created_at = 0, revoked_at = 0;  // revoked_at 0: valid
};

struct ProviderRecord {
  std::string name;
  std::string kind;
  std::string config;  // JSON
  int64_t updated_at = 0;
};

}  // namespace awan::store

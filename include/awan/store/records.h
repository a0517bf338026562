// Persisted records: jobs, their events, the nodes they run on, providers. Plain data with a
// record_version so older rows can be read after a schema change. Times are milliseconds since the
// Unix epoch (0 = not yet).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace awan::store {

// PENDING → PROVISIONING → RUNNING → SUCCEEDED | FAILED | CANCELLED; PREEMPTED and RECOVERING are
// for the providers of later issues.
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
};

struct NewJob {
  std::string name;
  int num_nodes = 1;
  std::string task_yaml, task_source, task_base_dir;
  bool retry_until_up = false;
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

struct ProviderRecord {
  std::string name;
  std::string kind;
  std::string config;  // JSON
  int64_t updated_at = 0;
};

}  // namespace awan::store

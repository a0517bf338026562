// The durable store: jobs, events, nodes, services and providers. SQLite (WAL) by default,
// PostgreSQL when given a postgresql:// URL. Every state change is one transaction that checks the
// current state, writes the new one and appends its event, so a crash never leaves a half-written
// transition. Implementations are thread-safe (calls are serialised on one connection).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/store/records.h"

namespace awan::store {

struct Transition {
  JobState from = JobState::kPending;
  JobState to = JobState::kPending;
  std::string reason;
  int64_t time = 0;
  std::optional<int> exit_code;
  // Placement, when the transition assigns one.
  std::optional<std::string> provider, region, zone, instance_type;
  // A restart after the job's code failed, counted against job_recovery.max_restarts_on_errors
  // (every transition to RECOVERING counts one recovery).
  bool error_restart = false;
};

inline Transition MakeTransition(JobState from, JobState to, std::string reason, int64_t time) {
  Transition t;
  t.from = from;
  t.to = to;
  t.reason = std::move(reason);
  t.time = time;
  return t;
}

struct JobQuery {
  size_t limit = 100;        // at most this many, newest first
  int64_t before_id = 0;     // page: only jobs with id < before_id (0 = from the newest)
  bool active_only = false;  // only non-terminal jobs
  // nullopt: every job; 0: jobs of their own (no service's replicas); N: service N's replicas.
  std::optional<int64_t> service_id = std::nullopt;
};

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite:/path/awan.db" or "postgresql://user@host:port/db" (never a password).
  virtual std::string Describe() const = 0;
  virtual absl::StatusOr<int> SchemaVersion() = 0;

  // Inserts a PENDING job and its "submitted" event; returns its id.
  virtual absl::StatusOr<int64_t> CreateJob(const NewJob& job, int64_t now) = 0;
  // Applies `t` if the job is in `t.from` (FailedPrecondition otherwise, nothing written).
  virtual absl::Status ApplyTransition(int64_t id, const Transition& t) = 0;
  // Marks a job for cancellation and records the event; no effect on a terminal job.
  virtual absl::Status RequestCancel(int64_t id, int64_t now) = 0;
  virtual absl::Status AddEvent(const JobEvent& event) = 0;
  virtual absl::StatusOr<JobRecord> GetJob(int64_t id) = 0;  // NotFound for an unknown id
  virtual absl::StatusOr<std::vector<JobRecord>> ListJobs(const JobQuery& query) = 0;
  virtual absl::StatusOr<std::vector<JobEvent>> ListEvents(int64_t job_id) = 0;

  virtual absl::Status PutNode(const NodeRecord& node) = 0;  // insert or replace (job_id, rank)
  virtual absl::StatusOr<std::vector<NodeRecord>> ListNodes(int64_t job_id) = 0;

  // Inserts an ACTIVE service and its "created" event; AlreadyExists when a service that is not
  // DOWN has the name. `s.id`, `state`, times are set here.
  virtual absl::StatusOr<int64_t> CreateService(const ServiceRecord& s, int64_t now) = 0;
  // Writes the service's state, version, task, update mode, port and reason (its name and id
  // stay), with `event` in its history in the same transaction.
  virtual absl::Status UpdateService(const ServiceRecord& s, const ServiceEvent& event) = 0;
  virtual absl::StatusOr<ServiceRecord> GetService(int64_t id) = 0;
  // The service of that name that is not DOWN, else the newest one of that name; NotFound.
  virtual absl::StatusOr<ServiceRecord> FindService(std::string_view name) = 0;
  // Newest first; `active_only`: not DOWN.
  virtual absl::StatusOr<std::vector<ServiceRecord>> ListServices(bool active_only) = 0;
  virtual absl::Status AddServiceEvent(const ServiceEvent& event) = 0;
  virtual absl::StatusOr<std::vector<ServiceEvent>> ListServiceEvents(int64_t service_id) = 0;

  // Keys of a service: a new one's id; all of them (revoked ones too), oldest first; revoking one
  // (NotFound for an unknown id; nothing for one already revoked).
  virtual absl::StatusOr<int64_t> AddServiceKey(const ServiceKey& key) = 0;
  virtual absl::StatusOr<std::vector<ServiceKey>> ListServiceKeys(int64_t service_id) = 0;
  virtual absl::Status RevokeServiceKey(int64_t service_id, int64_t key_id, int64_t now) = 0;

  virtual absl::Status PutProvider(const ProviderRecord& provider) = 0;
  virtual absl::StatusOr<std::vector<ProviderRecord>> ListProviders() = 0;
};

// Opens (creating and migrating as needed) the store named by `url`: a postgresql:// or postgres://
// URL, "sqlite:PATH", or a plain file path (SQLite).
absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url);

}  // namespace awan::store

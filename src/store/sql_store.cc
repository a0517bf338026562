// Store over a SqlBackend: schema migrations, and every operation as one transaction.
#include <fmt/format.h>

#include <mutex>

#include "awan/common/status_macros.h"
#include "awan/store/store.h"
#include "sql_backend.h"

namespace awan::store {
namespace {

// Versioned migrations, applied in order inside one transaction each. Never edit a released one:
// add the next.
struct Migration {
  int version;
  const char* sqlite;
  const char* postgres;
};

constexpr const char* kV1Common = R"(
CREATE TABLE job_events (
  id {pk},
  job_id BIGINT NOT NULL REFERENCES jobs(id),
  time BIGINT NOT NULL,
  type TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX job_events_by_job ON job_events(job_id, id);
CREATE TABLE nodes (
  job_id BIGINT NOT NULL REFERENCES jobs(id),
  rank INTEGER NOT NULL,
  provider TEXT NOT NULL,
  host TEXT NOT NULL,
  pid BIGINT NOT NULL DEFAULT 0,
  pid_start BIGINT NOT NULL DEFAULT 0,
  workdir TEXT NOT NULL,
  gpus TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, rank)
);
CREATE TABLE providers (
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  config TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
)";

constexpr const char* kV1Jobs = R"(
CREATE TABLE jobs (
  id {pk},
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  exit_code INTEGER,
  provider TEXT NOT NULL DEFAULT '',
  region TEXT NOT NULL DEFAULT '',
  zone TEXT NOT NULL DEFAULT '',
  instance_type TEXT NOT NULL DEFAULT '',
  num_nodes INTEGER NOT NULL,
  task_yaml TEXT NOT NULL,
  task_source TEXT NOT NULL,
  task_base_dir TEXT NOT NULL,
  submitted_at BIGINT NOT NULL,
  started_at BIGINT NOT NULL DEFAULT 0,
  ended_at BIGINT NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  record_version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX jobs_by_state ON jobs(state);
)";

// `sql` with each {pk} made the dialect's auto-increment primary key.
std::string WithPrimaryKeys(std::string sql, Dialect d) {
  const std::string pk =
      d == Dialect::kSqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY";
  for (size_t at = sql.find("{pk}"); at != std::string::npos; at = sql.find("{pk}")) {
    sql.replace(at, 4, pk);
  }
  return sql;
}

std::string V1(Dialect d) { return WithPrimaryKeys(std::string(kV1Jobs) + kV1Common, d); }

// v2: failover — the allocation a node belongs to, and jobs that retry until a provider has room.
std::string V2(Dialect) {
  return "ALTER TABLE nodes ADD COLUMN allocation TEXT NOT NULL DEFAULT '';\n"
         "ALTER TABLE jobs ADD COLUMN retry_until_up INTEGER NOT NULL DEFAULT 0;\n";
}

// v3: a node's handle is its provider's business: one opaque column instead of the local
// machine's pid and start time (kept as "PID:START", the process-group providers' form).
std::string V3(Dialect) {
  return "ALTER TABLE nodes ADD COLUMN handle TEXT NOT NULL DEFAULT '';\n"
         "UPDATE nodes SET handle = CAST(pid AS TEXT) || ':' || CAST(pid_start AS TEXT) "
         "WHERE pid <> 0;\n"
         "ALTER TABLE nodes DROP COLUMN pid;\n"
         "ALTER TABLE nodes DROP COLUMN pid_start;\n";
}

// v4: services, their events, and which jobs are a service's replicas.
std::string V4(Dialect d) {
  std::string sql = R"(
CREATE TABLE services (
  id {pk},
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  version INTEGER NOT NULL,
  task_yaml TEXT NOT NULL,
  task_source TEXT NOT NULL,
  task_base_dir TEXT NOT NULL,
  update_mode TEXT NOT NULL DEFAULT '',
  port INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL DEFAULT 0,
  reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX services_by_name ON services(name);
CREATE TABLE service_events (
  id {pk},
  service_id BIGINT NOT NULL REFERENCES services(id),
  time BIGINT NOT NULL,
  type TEXT NOT NULL,
  message TEXT NOT NULL
);
CREATE INDEX service_events_by_service ON service_events(service_id, id);
ALTER TABLE jobs ADD COLUMN service_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN service_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN replica_port INTEGER NOT NULL DEFAULT 0;
CREATE INDEX jobs_by_service ON jobs(service_id, id);
)";
  return WithPrimaryKeys(sql, d);
}

// v5: services' API keys (their SHA-256 only).
std::string V5(Dialect d) {
  std::string sql = R"(
CREATE TABLE service_keys (
  id {pk},
  service_id BIGINT NOT NULL REFERENCES services(id),
  label TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX service_keys_by_service ON service_keys(service_id, id);
)";
  return WithPrimaryKeys(sql, d);
}

// v6: managed jobs — how many times a job was recovered (placed again after its nodes were lost,
// or restarted after an error), and how many of those were restarts counted against
// job_recovery.max_restarts_on_errors.
std::string V6(Dialect) {
  return "ALTER TABLE jobs ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;\n"
         "ALTER TABLE jobs ADD COLUMN restarts_on_errors INTEGER NOT NULL DEFAULT 0;\n";
}

const std::vector<std::function<std::string(Dialect)>>& Migrations() {
  static const std::vector<std::function<std::string(Dialect)>> kMigrations = {V1, V2, V3,
                                                                               V4, V5, V6};
  return kMigrations;
}

constexpr const char* kJobColumns =
    "id, name, state, exit_code, provider, region, zone, instance_type, num_nodes, task_yaml, "
    "task_source, task_base_dir, submitted_at, started_at, ended_at, reason, cancel_requested, "
    "record_version, retry_until_up, service_id, service_version, replica_port, recoveries, "
    "restarts_on_errors";

constexpr const char* kServiceColumns =
    "id, name, state, version, task_yaml, task_source, task_base_dir, update_mode, port, "
    "created_at, updated_at, ended_at, reason";

int64_t Int(const std::optional<std::string>& v) { return v ? std::stoll(*v) : 0; }
std::string Str(const std::optional<std::string>& v) { return v.value_or(""); }

JobRecord JobFromRow(const SqlRow& r) {
  JobRecord j;
  j.id = Int(r[0]);
  j.name = Str(r[1]);
  j.state = ParseJobState(Str(r[2])).value_or(JobState::kFailed);
  if (r[3]) j.exit_code = static_cast<int>(Int(r[3]));
  j.provider = Str(r[4]);
  j.region = Str(r[5]);
  j.zone = Str(r[6]);
  j.instance_type = Str(r[7]);
  j.num_nodes = static_cast<int>(Int(r[8]));
  j.task_yaml = Str(r[9]);
  j.task_source = Str(r[10]);
  j.task_base_dir = Str(r[11]);
  j.submitted_at = Int(r[12]);
  j.started_at = Int(r[13]);
  j.ended_at = Int(r[14]);
  j.reason = Str(r[15]);
  j.cancel_requested = Int(r[16]) != 0;
  j.record_version = static_cast<int>(Int(r[17]));
  j.retry_until_up = Int(r[18]) != 0;
  j.service_id = Int(r[19]);
  j.service_version = static_cast<int>(Int(r[20]));
  j.replica_port = static_cast<int>(Int(r[21]));
  j.recoveries = static_cast<int>(Int(r[22]));
  j.restarts_on_errors = static_cast<int>(Int(r[23]));
  return j;
}

ServiceRecord ServiceFromRow(const SqlRow& r) {
  ServiceRecord s;
  s.id = Int(r[0]);
  s.name = Str(r[1]);
  s.state = ParseServiceState(Str(r[2])).value_or(ServiceState::kFailed);
  s.version = static_cast<int>(Int(r[3]));
  s.task_yaml = Str(r[4]);
  s.task_source = Str(r[5]);
  s.task_base_dir = Str(r[6]);
  s.update_mode = Str(r[7]);
  s.port = static_cast<int>(Int(r[8]));
  s.created_at = Int(r[9]);
  s.updated_at = Int(r[10]);
  s.ended_at = Int(r[11]);
  s.reason = Str(r[12]);
  return s;
}

class SqlStore final : public Store {
 public:
  explicit SqlStore(std::unique_ptr<SqlBackend> db) : db_(std::move(db)) {}

  absl::Status Migrate() {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(db_->ExecScript(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
        "applied_at BIGINT NOT NULL)"));
    ASSIGN_OR_RETURN(auto current, Version());
    const auto& migrations = Migrations();
    if (current > static_cast<int>(migrations.size())) {
      return absl::FailedPreconditionError(
          fmt::format("{}: schema version {} is newer than this awan knows ({}); upgrade awan",
                      db_->Describe(), current, migrations.size()));
    }
    for (int v = current + 1; v <= static_cast<int>(migrations.size()); ++v) {
      RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
        RETURN_IF_ERROR(db_->ExecScript(migrations[static_cast<size_t>(v - 1)](db_->dialect())));
        return db_
            ->Exec("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                   {int64_t{v}, int64_t{0}})
            .status();
      }));
    }
    return absl::OkStatus();
  }

  std::string Describe() const override { return db_->Describe(); }

  absl::StatusOr<int> SchemaVersion() override {
    std::lock_guard<std::mutex> lock(mu_);
    return Version();
  }

  absl::StatusOr<int64_t> CreateJob(const NewJob& job, int64_t now) override {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t id = 0;
    RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(
          auto rows,
          db_->Exec(
              "INSERT INTO jobs (name, state, num_nodes, task_yaml, task_source, task_base_dir, "
              "submitted_at, reason, record_version, retry_until_up, service_id, service_version, "
              "replica_port) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
              "RETURNING id",
              {job.name, std::string(JobStateName(JobState::kPending)), int64_t{job.num_nodes},
               job.task_yaml, job.task_source, job.task_base_dir, now, std::string("submitted"),
               int64_t{kJobRecordVersion}, int64_t{job.retry_until_up ? 1 : 0}, job.service_id,
               int64_t{job.service_version}, int64_t{job.replica_port}}));
      id = Int(rows.at(0)[0]);
      return InsertEvent({id, now, "submitted",
                          fmt::format("{} submitted ({} node{})", job.task_source, job.num_nodes,
                                      job.num_nodes == 1 ? "" : "s")});
    }));
    return id;
  }

  absl::Status ApplyTransition(int64_t id, const Transition& t) override {
    if (!IsAllowedTransition(t.from, t.to)) {
      return absl::InvalidArgumentError(fmt::format("job {}: {} → {} is not a lifecycle transition",
                                                    id, JobStateName(t.from), JobStateName(t.to)));
    }
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> absl::Status {
      std::string sql = "UPDATE jobs SET state = $1, reason = $2";
      std::vector<SqlValue> params = {std::string(JobStateName(t.to)), t.reason};
      auto add = [&](const char* column, SqlValue value) {
        params.push_back(std::move(value));
        sql += fmt::format(", {} = ${}", column, params.size());
      };
      if (t.to == JobState::kRunning) add("started_at", t.time);
      if (IsTerminal(t.to)) add("ended_at", t.time);
      if (t.exit_code) add("exit_code", int64_t{*t.exit_code});
      if (t.provider) add("provider", *t.provider);
      if (t.region) add("region", *t.region);
      if (t.zone) add("zone", *t.zone);
      if (t.instance_type) add("instance_type", *t.instance_type);
      if (t.to == JobState::kRecovering) sql += ", recoveries = recoveries + 1";
      if (t.error_restart) sql += ", restarts_on_errors = restarts_on_errors + 1";
      params.push_back(id);
      sql += fmt::format(" WHERE id = ${}", params.size());
      params.push_back(std::string(JobStateName(t.from)));
      sql += fmt::format(" AND state = ${} RETURNING id", params.size());
      ASSIGN_OR_RETURN(auto rows, db_->Exec(sql, params));
      if (rows.empty()) {
        ASSIGN_OR_RETURN(auto current, db_->Exec("SELECT state FROM jobs WHERE id = $1", {id}));
        if (current.empty()) return absl::NotFoundError(fmt::format("no job {}", id));
        return absl::FailedPreconditionError(
            fmt::format("job {} is {}, not {}", id, Str(current.at(0)[0]), JobStateName(t.from)));
      }
      std::string message = fmt::format("{} → {}", JobStateName(t.from), JobStateName(t.to));
      if (!t.reason.empty()) message += ": " + t.reason;
      return InsertEvent({id, t.time, "state", message});
    });
  }

  absl::Status RequestCancel(int64_t id, int64_t now) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto job, Get(id));
      if (IsTerminal(job.state) || job.cancel_requested) return absl::OkStatus();
      RETURN_IF_ERROR(db_->Exec("UPDATE jobs SET cancel_requested = 1 WHERE id = $1", {id}));
      return InsertEvent({id, now, "cancel_requested", "cancel requested"});
    });
  }

  absl::Status AddEvent(const JobEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InsertEvent(event);
  }

  absl::StatusOr<JobRecord> GetJob(int64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    return Get(id);
  }

  absl::StatusOr<std::vector<JobRecord>> ListJobs(const JobQuery& q) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string sql = fmt::format("SELECT {} FROM jobs WHERE 1 = 1", kJobColumns);
    std::vector<SqlValue> params;
    if (q.before_id > 0) {
      params.push_back(q.before_id);
      sql += fmt::format(" AND id < ${}", params.size());
    }
    if (q.active_only) {
      sql += " AND state NOT IN ('SUCCEEDED', 'FAILED', 'CANCELLED')";
    }
    if (q.service_id) {
      params.push_back(*q.service_id);
      sql += fmt::format(" AND service_id = ${}", params.size());
    }
    params.push_back(static_cast<int64_t>(q.limit));
    sql += fmt::format(" ORDER BY id DESC LIMIT ${}", params.size());
    ASSIGN_OR_RETURN(auto rows, db_->Exec(sql, params));
    std::vector<JobRecord> jobs;
    jobs.reserve(rows.size());
    for (const SqlRow& r : rows) jobs.push_back(JobFromRow(r));
    return jobs;
  }

  absl::StatusOr<std::vector<JobEvent>> ListEvents(int64_t job_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    RETURN_IF_ERROR(Get(job_id));
    ASSIGN_OR_RETURN(
        auto rows,
        db_->Exec(
            "SELECT job_id, time, type, message FROM job_events WHERE job_id = $1 ORDER BY id",
            {job_id}));
    std::vector<JobEvent> events;
    for (const SqlRow& r : rows) events.push_back({Int(r[0]), Int(r[1]), Str(r[2]), Str(r[3])});
    return events;
  }

  absl::Status PutNode(const NodeRecord& n) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> absl::Status {
      RETURN_IF_ERROR(db_->Exec("DELETE FROM nodes WHERE job_id = $1 AND rank = $2",
                                {n.job_id, int64_t{n.rank}}));
      return db_
          ->Exec(
              "INSERT INTO nodes (job_id, rank, provider, host, workdir, gpus, allocation, handle) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
              {n.job_id, int64_t{n.rank}, n.provider, n.host, n.workdir, n.gpus, n.allocation,
               n.handle})
          .status();
    });
  }

  absl::StatusOr<std::vector<NodeRecord>> ListNodes(int64_t job_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(
        auto rows,
        db_->Exec(
            "SELECT job_id, rank, provider, host, workdir, gpus, allocation, handle FROM nodes "
            "WHERE job_id = $1 ORDER BY rank",
            {job_id}));
    std::vector<NodeRecord> nodes;
    for (const SqlRow& r : rows) {
      nodes.push_back({Int(r[0]), static_cast<int>(Int(r[1])), Str(r[2]), Str(r[3]), Str(r[4]),
                       Str(r[5]), Str(r[6]), Str(r[7])});
    }
    return nodes;
  }

  absl::StatusOr<int64_t> CreateService(const ServiceRecord& s, int64_t now) override {
    std::lock_guard<std::mutex> lock(mu_);
    int64_t id = 0;
    RETURN_IF_ERROR(InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(auto live, db_->Exec("SELECT id FROM services WHERE name = $1 AND state <> "
                                            "'DOWN'",
                                            {s.name}));
      if (!live.empty()) {
        return absl::AlreadyExistsError(fmt::format(
            "service {} is already up (take it down first, or `awan serve update` it)", s.name));
      }
      ASSIGN_OR_RETURN(
          auto rows,
          db_->Exec("INSERT INTO services (name, state, version, task_yaml, task_source, "
                    "task_base_dir, update_mode, port, created_at, updated_at, reason) VALUES ($1, "
                    "$2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id",
                    {s.name, std::string(ServiceStateName(ServiceState::kActive)),
                     int64_t{s.version}, s.task_yaml, s.task_source, s.task_base_dir, s.update_mode,
                     int64_t{s.port}, now, std::string("created")}));
      id = Int(rows.at(0)[0]);
      return InsertServiceEvent(
          {id, now, "created", fmt::format("{} created from {}", s.name, s.task_source)});
    }));
    return id;
  }

  absl::Status UpdateService(const ServiceRecord& s, const ServiceEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> absl::Status {
      ASSIGN_OR_RETURN(
          auto rows,
          db_->Exec("UPDATE services SET state = $1, version = $2, task_yaml = $3, task_source = "
                    "$4, task_base_dir = $5, update_mode = $6, port = $7, updated_at = $8, "
                    "ended_at = $9, reason = $10 WHERE id = $11 RETURNING id",
                    {std::string(ServiceStateName(s.state)), int64_t{s.version}, s.task_yaml,
                     s.task_source, s.task_base_dir, s.update_mode, int64_t{s.port}, event.time,
                     s.ended_at, s.reason, s.id}));
      if (rows.empty()) return absl::NotFoundError(fmt::format("no service {}", s.id));
      return InsertServiceEvent(event);
    });
  }

  absl::StatusOr<ServiceRecord> GetService(int64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(
        auto rows,
        db_->Exec(fmt::format("SELECT {} FROM services WHERE id = $1", kServiceColumns), {id}));
    if (rows.empty()) return absl::NotFoundError(fmt::format("no service {}", id));
    return ServiceFromRow(rows.at(0));
  }

  absl::StatusOr<ServiceRecord> FindService(std::string_view name) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(
        auto rows,
        db_->Exec(fmt::format("SELECT {} FROM services WHERE name = $1 ORDER BY (state <> 'DOWN') "
                              "DESC, id DESC LIMIT 1",
                              kServiceColumns),
                  {std::string(name)}));
    if (rows.empty()) return absl::NotFoundError(fmt::format("no service named {}", name));
    return ServiceFromRow(rows.at(0));
  }

  absl::StatusOr<std::vector<ServiceRecord>> ListServices(bool active_only) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto rows, db_->Exec(fmt::format(
                                    "SELECT {} FROM services{} ORDER BY id DESC", kServiceColumns,
                                    active_only ? " WHERE state <> 'DOWN'" : "")));
    std::vector<ServiceRecord> out;
    for (const SqlRow& r : rows) out.push_back(ServiceFromRow(r));
    return out;
  }

  absl::Status AddServiceEvent(const ServiceEvent& event) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InsertServiceEvent(event);
  }

  absl::StatusOr<std::vector<ServiceEvent>> ListServiceEvents(int64_t service_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto rows, db_->Exec("SELECT service_id, time, type, message FROM "
                                          "service_events WHERE service_id = $1 ORDER BY id",
                                          {service_id}));
    std::vector<ServiceEvent> events;
    for (const SqlRow& r : rows) events.push_back({Int(r[0]), Int(r[1]), Str(r[2]), Str(r[3])});
    return events;
  }

  absl::StatusOr<int64_t> AddServiceKey(const ServiceKey& k) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto rows,
                     db_->Exec("INSERT INTO service_keys (service_id, label, sha256, created_at) "
                               "VALUES ($1, $2, $3, $4) RETURNING id",
                               {k.service_id, k.label, k.sha256, k.created_at}));
    return Int(rows.at(0)[0]);
  }

  absl::StatusOr<std::vector<ServiceKey>> ListServiceKeys(int64_t service_id) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto rows, db_->Exec("SELECT id, service_id, label, sha256, created_at, "
                                          "revoked_at FROM service_keys WHERE service_id = $1 "
                                          "ORDER BY id",
                                          {service_id}));
    std::vector<ServiceKey> out;
    for (const SqlRow& r : rows) {
      out.push_back({Int(r[0]), Int(r[1]), Str(r[2]), Str(r[3]), Int(r[4]), Int(r[5])});
    }
    return out;
  }

  absl::Status RevokeServiceKey(int64_t service_id, int64_t key_id, int64_t now) override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto rows, db_->Exec("SELECT revoked_at FROM service_keys WHERE id = $1 AND "
                                          "service_id = $2",
                                          {key_id, service_id}));
    if (rows.empty()) return absl::NotFoundError(fmt::format("no key {} of this service", key_id));
    if (Int(rows.at(0)[0]) != 0) return absl::OkStatus();
    return db_->Exec("UPDATE service_keys SET revoked_at = $1 WHERE id = $2", {now, key_id})
        .status();
  }

  absl::Status PutProvider(const ProviderRecord& p) override {
    std::lock_guard<std::mutex> lock(mu_);
    return InTransaction([&]() -> absl::Status {
      RETURN_IF_ERROR(db_->Exec("DELETE FROM providers WHERE name = $1", {p.name}));
      return db_
          ->Exec("INSERT INTO providers (name, kind, config, updated_at) VALUES ($1, $2, $3, $4)",
                 {p.name, p.kind, p.config, p.updated_at})
          .status();
    });
  }

  absl::StatusOr<std::vector<ProviderRecord>> ListProviders() override {
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(
        auto rows, db_->Exec("SELECT name, kind, config, updated_at FROM providers ORDER BY name"));
    std::vector<ProviderRecord> out;
    for (const SqlRow& r : rows) out.push_back({Str(r[0]), Str(r[1]), Str(r[2]), Int(r[3])});
    return out;
  }

 private:
  absl::StatusOr<int> Version() {
    ASSIGN_OR_RETURN(auto rows, db_->Exec("SELECT MAX(version) FROM schema_migrations"));
    return rows.empty() ? 0 : static_cast<int>(Int(rows.at(0)[0]));
  }

  absl::StatusOr<JobRecord> Get(int64_t id) {
    ASSIGN_OR_RETURN(
        auto rows, db_->Exec(fmt::format("SELECT {} FROM jobs WHERE id = $1", kJobColumns), {id}));
    if (rows.empty()) return absl::NotFoundError(fmt::format("no job {}", id));
    return JobFromRow(rows.at(0));
  }

  absl::Status InsertEvent(const JobEvent& e) {
    return db_
        ->Exec("INSERT INTO job_events (job_id, time, type, message) VALUES ($1, $2, $3, $4)",
               {e.job_id, e.time, e.type, e.message})
        .status();
  }

  absl::Status InsertServiceEvent(const ServiceEvent& e) {
    return db_
        ->Exec(
            "INSERT INTO service_events (service_id, time, type, message) VALUES ($1, $2, $3, $4)",
            {e.service_id, e.time, e.type, e.message})
        .status();
  }

  // Runs `body` in a transaction; rolls back on error. Requires mu_.
  absl::Status InTransaction(const std::function<absl::Status()>& body) {
    RETURN_IF_ERROR(db_->Begin());
    absl::Status s = body();
    if (!s.ok()) {
      db_->Rollback();
      return s;
    }
    return db_->Commit();
  }

  std::mutex mu_;
  std::unique_ptr<SqlBackend> db_;  // guarded by mu_
};

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenStore(std::string_view url) {
  absl::StatusOr<std::unique_ptr<SqlBackend>> backend;
  const std::string u(url);
  if (u.rfind("postgresql://", 0) == 0 || u.rfind("postgres://", 0) == 0) {
    backend = OpenPostgres(u);
  } else {
    backend = OpenSqlite(u.rfind("sqlite:", 0) == 0 ? u.substr(7) : u);
  }
  RETURN_IF_ERROR(backend);
  auto store = std::make_unique<SqlStore>(std::move(*backend));
  RETURN_IF_ERROR(store->Migrate());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace awan::store

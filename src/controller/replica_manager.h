// The replica manager: keeps each service's replicas at the number wanted, spread as asked, and
// ready. A replica is a job with its service's id — placed, started, recovered after a preemption
// or a lost node, and stopped by the same units as any job (placer, node runner, recovery); this
// unit only decides how many there are, where they should rather not go (`spread`), and which to
// take out: one that never became ready within `initial_delay_seconds`, one not ready for too long,
// old versions during an update (rolling: one at a time, never below the wanted number ready;
// blue-green: all at once when the new ones are ready), and all of them when the service goes
// down. A replica leaves the gateways' routes `drain_ms` before it is stopped. Readiness probes run
// on threads of their own, never on the loop. Every decision is an event on the service.
// Threading: loop thread, except Post and Views (any thread).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "active_jobs.h"
#include "awan/controller/autoscaler.h"
#include "awan/controller/options.h"
#include "awan/controller/services.h"
#include "awan/providers/fleet.h"
#include "awan/spec/task.h"
#include "workers.h"

namespace awan::controller {

// A replica to create: a job running the service's task (`ReplicaTaskYaml`).
struct ReplicaRequest {
  int64_t service_id = 0;
  std::string service_name;
  int version = 0;
  int port = 0;
  std::string task_yaml, source, base_dir;
  std::vector<std::string> spread_away_from;  // ActiveJob::spread_away_from
};

class ReplicaManager {
 public:
  struct Hooks {
    std::function<absl::StatusOr<int64_t>(const ReplicaRequest&)> create;  // the job's id
    std::function<void(int64_t job_id)> cancel;
    std::function<void()> wake;  // the loop has something to do
  };
  ReplicaManager(ActiveJobs& jobs, const providers::Fleet& fleet, const ControllerOptions& options,
                 Hooks hooks);
  ~ReplicaManager();

  // Loads the services that are not DOWN and their live replicas (before the loop starts; the
  // replicas' jobs are recovered by the job recovery).
  void Recover();
  // Runs `command` on the loop thread at the next pass (service changes from the API go through
  // here, so only the loop writes a service).
  void Post(std::function<void()> command);
  // Loop thread: re-reads service `id` from the store (after a change the loop made).
  void Reload(int64_t id);
  void Pass();
  // Any thread: every service the manager holds, as of its last pass.
  std::vector<ServiceView> Views() const;
  // Any thread: a gateway's counters (the load book).
  void ReportLoad(const std::string& gateway, std::vector<RouteLoad> routes);

 private:
  struct Replica {
    int64_t id = 0;
    int version = 0;
    int port = 0;
    store::JobState state = store::JobState::kPending;
    std::string provider, region, zone;
    std::string host;
    int64_t running_since = 0;  // the job's started_at when its host was looked up
    int64_t watched_since = 0;  // when this manager began probing that start (a restart: later)
    bool ready = false, ever_ready = false;
    int failures = 0;  // consecutive failed probes
    int64_t not_ready_since = 0;
    bool probing = false;
    int64_t next_probe = 0;
    bool draining = false;
    int64_t stop_at = 0;  // draining: when its job is cancelled
    bool cancel_sent = false;
    bool spot = false;  // its task asks for spot capacity
  };
  struct Service {
    store::ServiceRecord record;
    std::shared_ptr<const spec::Task> task;
    std::map<int64_t, Replica> replicas;  // live ones, by job id
    int ended_before_ready = 0;           // in a row
    int64_t retry_create_at = 0;          // after a failed create
    // The autoscaler: replicas wanted now, and since when the load has asked for more (fewer).
    ScaleDelay scale;
    std::vector<std::string> key_hashes;  // of its valid API keys
    // Back onto the spread after an outage (Respread): the extra replica under way, and when to
    // try again after one landed where the others already are.
    int64_t respread_id = 0;
    int64_t respread_after = 0;
    int64_t respread_backoff_ms = 0;
  };
  // Rates from the load book: the route's, and each replica's by id.
  struct Traffic {
    double qps = 0;
    int in_flight = 0;
    int64_t tokens_in_flight = 0;
    double waiting = 0;
    LoadSignals signals;  // for the autoscaler: QPS, and the others' means over the window
    std::map<std::string, std::pair<double, int>> replicas;  // id → (qps, in flight)
  };
  Traffic LoadOf(const std::string& route) const;
  void Autoscale(Service& s, const Traffic& load);

  int64_t Now() const { return jobs_.Now(); }
  void Load(const store::ServiceRecord& record);
  void LoadKeys(Service& s);
  void Refresh(Service& s);
  void Probe(Service& s, Replica& r);
  void Decide(Service& s);
  // `on_demand`: the replica's task with use_spot turned off (the on-demand fallback).
  // Returns the last replica created (0: none).
  int64_t Create(Service& s, int count, bool on_demand = false);
  // Replicas that an outage pushed together, moved back onto `spread` one at a time. The extra
  // replica of a move under way is taken out of `current`, so the caller's own scaling (a lost
  // replica replaced meanwhile) neither counts it nor takes it out.
  void Respread(Service& s, std::vector<Replica*>& current);
  // A spot service's on-demand fallback: replicas of the current version wanted of each kind.
  struct Mix {
    int spot = 0, on_demand = 0;
  };
  bool HasFallback(const Service& s) const;
  Mix Wanted(const Service& s, int desired, int spot_ready) const;
  void Drain(Service& s, Replica& r, const std::string& why);
  void SetState(Service& s, store::ServiceState state, const std::string& why);
  void Event(Service& s, const std::string& type, const std::string& message);
  int Desired(const Service& s) const;
  void Publish();

  ActiveJobs& jobs_;
  const providers::Fleet& fleet_;
  const ControllerOptions& options_;
  Hooks hooks_;
  Workers probes_;
  std::map<int64_t, Service> services_;  // by id

  // The load book: per gateway, per route, samples of its counters (time, the report) within the
  // window. Guarded by book_mu_.
  mutable std::mutex book_mu_;
  std::map<std::string, std::map<std::string, std::vector<std::pair<int64_t, RouteLoad>>>> book_;

  mutable std::mutex mu_;
  std::vector<std::function<void()>> inbox_;  // guarded by mu_
  std::vector<ServiceView> views_;            // guarded by mu_
};

// A TCP port of this machine no one listens on now (the OS's choice), for a replica or an
// endpoint; 0 when none could be had.
int FreePort();

}  // namespace awan::controller

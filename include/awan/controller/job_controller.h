// The job controller: a reconcile loop that moves jobs through their lifecycle on the providers of
// a fleet. It is made of small units, each with its contract in its header under src/controller/:
//   admission    parses and checks a task once, at submission (admission.h)
//   active set   the jobs that have not ended, in memory, written through to the store
//                (active_jobs.h)
//   queue        which pending jobs to start: arrival order, or the fleet scheduler (job_queue.h,
//                fleet_queue.h)
//   placer       the failover walk, blocks, attempts and retries (placer.h)
//   node runner  starts, watches, signals and releases nodes through the Provider interface
//                (node_runner.h)
//   recovery     what a restart does with the jobs a previous server left (recovery.h)
//   replicas     each service's replicas — jobs like any other — kept at the number wanted, spread
//                and ready (replica_manager.h)
// Every transition is written to the store before it is acted on; the store is the truth at a
// restart, and the loop reads its in-memory copy, not the store, on every pass.
// Threading: Start() runs the loop on its own thread, which owns all in-memory state. Submit() and
// Cancel() may be called from any thread: they write to the (thread-safe) store, post to the loop's
// inbox and wake it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/catalog/catalog.h"
#include "awan/controller/options.h"
#include "awan/controller/services.h"
#include "awan/providers/fleet.h"
#include "awan/providers/local.h"
#include "awan/storage/storage.h"
#include "awan/store/store.h"

namespace awan::controller {

class ActiveJobs;
class Admission;
class JobQueue;
class NodeRunner;
class Placer;
class ReplicaManager;
struct ReplicaRequest;
class Workers;

class JobController {
 public:
  // Without a fleet, jobs run on this machine only (the `local` provider). With one, each job is
  // placed by the optimizer over what the fleet sells and provisioned with failover; the fleet
  // must outlive the controller.
  JobController(store::Store& store, providers::LocalResources machine, ControllerOptions options,
                const providers::Fleet* fleet = nullptr);
  ~JobController();
  JobController(const JobController&) = delete;
  JobController& operator=(const JobController&) = delete;

  // Parses and checks the task (InvalidArgument naming the file, line and field, or saying why no
  // provider can ever run it) and stores it PENDING. Returns the job id.
  absl::StatusOr<int64_t> Submit(std::string_view task_yaml, std::string_view source,
                                 const std::string& base_dir, bool retry_until_up = false);
  // Records a cancel request (NotFound for an unknown job; nothing for a finished one).
  absl::Status Cancel(int64_t id);
  // An outage is over (`awan sim restore`): the failover blocks of that provider (region) are
  // lifted, so jobs and replicas may be placed there again at once rather than when they expire.
  void ProviderBack(const std::string& provider, const std::string& region);

  // Services (docs/services.md). Each call checks its input on the calling thread (InvalidArgument
  // naming the file, line and field), then the loop applies it: only the loop writes a service.
  // A new service, stored ACTIVE with the endpoint port it is served on; its replicas start on
  // the loop. `name` overrides the file's `name:`.
  absl::StatusOr<store::ServiceRecord> CreateService(std::string_view yaml, std::string_view source,
                                                     const std::string& base_dir,
                                                     const std::string& name);
  // A new version of the service's task; its replicas are replaced as `mode` says.
  absl::StatusOr<store::ServiceRecord> UpdateService(const std::string& name, std::string_view yaml,
                                                     std::string_view source,
                                                     const std::string& base_dir, UpdateMode mode);
  // Takes the service down: its replicas leave the routes, then stop.
  absl::StatusOr<store::ServiceRecord> DownService(const std::string& name);
  // The services that are not DOWN, as of the loop's last pass.
  std::vector<ServiceView> Services() const;
  // API keys of a service (`auth: api_key`): a new key (shown only now; its id and text), the
  // keys (hashes, never the keys), and revoking one. Gateways learn them at their next poll.
  absl::StatusOr<std::pair<int64_t, std::string>> CreateServiceKey(const std::string& name,
                                                                   const std::string& label);
  absl::StatusOr<std::vector<store::ServiceKey>> ServiceKeys(const std::string& name);
  absl::Status RevokeServiceKey(const std::string& name, int64_t key_id);
  // A gateway's counters (any thread): the autoscaler's and `serve status`'s QPS and in-flight.
  void ReportLoad(const std::string& gateway, std::vector<RouteLoad> routes);

  // Reconciles the jobs a previous server left, then starts the loop thread.
  absl::Status Start();
  void Stop();
  // One pass of the loop (tests call it with the thread not started).
  void ReconcileOnce();
  // Reconciles jobs left by a previous server (called by Start()).
  void Recover();

  std::string JobDir(int64_t id) const;
  std::string LogPath(int64_t id) const;
  const providers::LocalResources& machine() const { return machine_; }
  // The stores buckets live in (`awan storage ls|delete`).
  const storage::Storage& storage() const { return *storage_; }

  SchedulerSummary scheduler_summary() const;
  // The providers of the fleet that can never run `task` (a disk tier, buckets, a gang bigger
  // than the machine); why goes to `why`.
  std::vector<std::string> ProvidersThatNever(const spec::Task& task,
                                              std::vector<std::string>& why) const;

 private:
  int64_t Now() const;
  void Wake();
  // Stores a job PENDING (its folder made) and posts it to the loop.
  absl::StatusOr<int64_t> CreateJob(store::NewJob job, std::shared_ptr<const spec::Task> task,
                                    std::vector<std::string> spread_away_from);
  absl::StatusOr<int64_t> CreateReplica(const ReplicaRequest& req);
  // Parses a service file and checks that its replicas can run.
  absl::StatusOr<spec::Task> CheckService(std::string_view yaml, std::string_view source,
                                          const std::string& base_dir,
                                          const std::string& name) const;
  // Runs `command` on the loop and waits for its answer.
  absl::StatusOr<store::ServiceRecord> OnLoop(
      std::function<absl::StatusOr<store::ServiceRecord>()> command);
  void Loop();
  void TakeProviderEvents();
  void OnProviderEvents(providers::Provider* provider,
                        const std::vector<providers::NodeEvent>& events);

  store::Store& store_;
  const providers::LocalResources machine_;
  const ControllerOptions options_;
  std::unique_ptr<providers::Fleet> owned_fleet_;  // this machine alone, when no fleet is given
  const providers::Fleet* fleet_;
  catalog::Catalog catalog_;  // what the fleet sells

  std::unique_ptr<storage::Storage> storage_;  // buckets (docs/storage.md)
  std::unique_ptr<ActiveJobs> jobs_;
  std::unique_ptr<Workers> workers_;
  std::unique_ptr<NodeRunner> runner_;
  std::unique_ptr<Placer> placer_;
  std::unique_ptr<JobQueue> queue_;
  std::unique_ptr<Admission> admission_;
  std::unique_ptr<ReplicaManager> services_;

  // Loop thread: when each slow provider is asked for its events next, and whether it is being
  // asked.
  std::map<const providers::Provider*, int64_t> next_events_;
  std::map<const providers::Provider*, bool> events_in_flight_;

  mutable std::mutex mu_;
  SchedulerSummary summary_;  // guarded by mu_
  std::condition_variable wake_cv_;
  bool wake_ = false;      // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace awan::controller

// The job controller: a reconcile loop that moves jobs through their lifecycle on the local
// provider. Every transition is written to the store before it is acted on (the store is the truth;
// memory only caches what is running). On start it first reconciles what a previous server left: a
// node still running is adopted again, one that finished while the server was down is recorded with
// its real exit code, one that died without a status is FAILED with the reason, and a job whose
// start never happened is queued again — no job runs twice. With a fleet scheduler (`scheduler:` in
// the fleet config), accelerator jobs are queued in awan's fleet scheduler — the same one `awan
// simulate` drives — which decides when each starts, in which pool of its fleet file, and which
// running jobs it preempts; the controller then provisions the job in that pool's provider and
// region, and tells the scheduler when it ends. CPU-only jobs are placed directly, as without a
// scheduler. Threading: Start() runs the loop on its own thread, which owns all in-memory state.
// Submit() and Cancel() may be called from any thread: they write to the (thread-safe) store and
// wake the loop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/catalog/catalog.h"
#include "awan/optimizer/optimizer.h"
#include "awan/providers/failover.h"
#include "awan/providers/fleet.h"
#include "awan/providers/local.h"
#include "awan/spec/task.h"
#include "awan/store/store.h"

namespace awan::controller {

struct ControllerOptions {
  std::string home;                  // job folders go under home/jobs/<id>/
  int64_t cancel_grace_ms = 5000;    // SIGTERM, then SIGKILL after this long
  int64_t poll_interval_ms = 50;     // how often running nodes are looked at
  int64_t block_ms = 5 * 60 * 1000;  // how long a failed zone/region/provider is skipped
  int64_t retry_base_ms = 2000, retry_cap_ms = 60000;  // --retry-until-up backoff
  std::function<int64_t()> now_ms;  // the clock (default: system clock, ms since epoch)
};

class JobController {
 public:
  // Without a fleet, jobs run on this machine only. With one, each job is placed by the optimizer
  // over what the fleet sells and provisioned with failover; the fleet must outlive the controller.
  JobController(store::Store& store, providers::LocalResources machine, ControllerOptions options,
                const providers::Fleet* fleet = nullptr);
  ~JobController();
  JobController(const JobController&) = delete;
  JobController& operator=(const JobController&) = delete;

  // Parses and checks the task (InvalidArgument naming the file, line and field, or saying why this
  // machine can never run it) and stores it PENDING. Returns the job id.
  absl::StatusOr<int64_t> Submit(std::string_view task_yaml, std::string_view source,
                                 const std::string& base_dir, bool retry_until_up = false);
  // Records a cancel request (NotFound for an unknown job; nothing for a finished one).
  absl::Status Cancel(int64_t id);

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

  // What the fleet scheduler holds, as of the loop's last pass (for `awan server status`).
  struct SchedulerSummary {
    bool enabled = false;
    std::string policy, fleet_file;
    size_t queued = 0, running = 0;
    int64_t accelerators_in_use = 0, accelerators_total = 0;
  };
  SchedulerSummary scheduler_summary() const;

 private:
  struct Need {  // per node
    double cpus = 1;
    double memory_gib = 0;
    int gpus = 0;
    std::string gpu_name;
  };
  struct Running {
    Need need;  // local machine resources held (none for other providers)
    providers::Provider* provider = nullptr;  // nullptr: the local machine's own accounting
    std::string allocation;                   // the provider's allocation id
    bool preempted = false;
    int num_nodes = 1;
    std::vector<int> gpus;  // all GPU indices held
    std::vector<providers::NodeHandle> nodes;
    std::vector<std::string> node_dirs;
    std::optional<int64_t> kill_at;  // set once stopping: SIGKILL when the grace period ends
  };

  int64_t Now() const;
  void Wake();
  void Loop();
  // The per-node needs of the first resource alternative this machine could ever run, or why none.
  absl::StatusOr<Need> NeedFor(const spec::Task& task) const;
  // Whether `need` × `nodes` fits in what is free now; picks the GPUs if so.
  std::optional<std::vector<int>> Fit(const Need& need, int nodes) const;
  // Places a PENDING job: on this machine, or through the fleet's providers with failover.
  void PlaceJob(const store::JobRecord& job);
  // Provisions one candidate placement (with a few retries of transient errors). kFailed: try the
  // next; kJobFailed: the job was failed (the provider refused the request) or cancelled meanwhile.
  // `attempts` must be attempts_[job.id]: it is dropped (with the job's retry state) unless
  // kFailed.
  enum class TryResult { kProvisioned, kFailed, kJobFailed };
  TryResult TryProvision(const store::JobRecord& job, const spec::Task& task,
                         const optimizer::Placement& p, std::vector<providers::Attempt>& attempts,
                         bool block_on_capacity);

  // The fleet scheduler's side (queue_ set).
  struct FleetQueue;
  void SubmitToScheduler(const store::JobRecord& job);
  void StartScheduled(const store::JobRecord& job);  // provisions a job the scheduler started
  void StopForScheduler(int64_t id, const std::string& reason);
  void SyncOutages();
  void Schedule();
  void Requeue(int64_t id, const std::string& why);
  void Forget(int64_t id);         // the job ended: its capacity is free in the scheduler's books
  void NodesReleased(int64_t id);  // its nodes are gone (ended, or preempted)
  void AdoptIntoScheduler(int64_t id, const store::JobRecord& job);
  absl::Status CheckSchedulable(const spec::Task& task) const;
  void UpdateSummary();
  void StartLocal(const store::JobRecord& job, const spec::Task& task, const Need& need,
                  std::vector<int> gpus);
  void StartProvisioned(int64_t id);
  void HandlePreemptions();
  void ReleaseRunning(int64_t id, Running& r);
  void WatchRunning(int64_t id, Running& r, const store::JobRecord& job);
  void Fail(int64_t id, store::JobState from, const std::string& reason,
            std::optional<int> code = std::nullopt);
  void Finish(int64_t id, store::JobState from, store::JobState to, const std::string& reason,
              std::optional<int> code);
  void StopNodes(Running& r);
  providers::NodeProbe Probe(const Running& r, size_t i) const;  // through its provider
  void Signal(const Running& r, int signal) const;               // every node, through its provider

  struct Provisioning {
    providers::Provider* provider = nullptr;
    providers::Allocation allocation;
    int accelerators_per_node =
        0;  // of the placement provisioned (any_of: not always the first choice)
  };

  store::Store& store_;
  const providers::LocalResources machine_;
  const ControllerOptions options_;
  const providers::Fleet* fleet_;
  catalog::Catalog fleet_catalog_;  // what the fleet sells (empty without a fleet)

  // Loop-thread state for failover.
  providers::BlockList blocks_;
  std::map<int64_t, std::vector<providers::Attempt>> attempts_;  // per PENDING job
  std::map<int64_t, std::pair<int, int64_t>> retry_;             // job → (retries, next try at)
  std::map<int64_t, Provisioning> provisioning_;  // PROVISIONING jobs waiting for nodes

  // Loop-thread state.
  std::map<int64_t, Running> running_;  // jobs whose nodes hold resources (RUNNING, or stopping)
  double used_cpus_ = 0, used_memory_gib_ = 0;
  std::vector<bool> gpu_used_;

  std::unique_ptr<FleetQueue>
      queue_;  // the fleet scheduler, when the fleet config has `scheduler:`

  mutable std::mutex mu_;
  SchedulerSummary summary_;  // guarded by mu_
  std::condition_variable wake_cv_;
  bool wake_ = false;      // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace awan::controller

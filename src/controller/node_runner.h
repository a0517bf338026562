// The node runner: starts a job's nodes on the allocation its provider gave, watches them, signals
// and stops them, and gives the allocation back once no process of any node is left — all through
// the Provider interface, whatever the provider. A stopping node gets SIGTERM, then SIGKILL when
// the grace period ends; a job whose script traps SIGTERM is gone only when its whole process
// group is. It writes the job's transitions that follow from its nodes (RUNNING; SUCCEEDED or
// FAILED with the exit code; CANCELLED; PREEMPTED → RECOVERING → PENDING once released) and tells
// the caller which jobs' nodes are gone. A provider whose calls may be slow (QuickCalls false: ssh,
// slurm) is called from worker threads — starting nodes, probing them, signals, release — and its
// answers are applied on the loop thread when they are back, so it delays nothing else.
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "active_jobs.h"
#include "awan/controller/options.h"
#include "awan/providers/fleet.h"
#include "awan/providers/provider.h"
#include "awan/storage/storage.h"
#include "restart_policy.h"
#include "workers.h"

namespace awan::controller {

// A job's nodes as started (or adopted after a restart).
struct JobNodes {
  providers::Provider* provider = nullptr;
  std::string allocation;  // the provider's allocation id
  bool preempted = false;  // queued again once released
  // A managed job whose code failed and is restarted (restart_policy.h): RUNNING → RECOVERING →
  // PENDING once released.
  std::optional<Restart> restart;
  // Buckets written back from the nodes' caches (s3 MOUNT_CACHED): when next, and whether a
  // write-back is under way.
  int64_t next_write_back = 0;
  bool writing_back = false;
  std::vector<providers::NodeHandle> nodes;
  std::vector<std::string> node_dirs;
  std::optional<int64_t> kill_at;  // set once stopping: SIGKILL when the grace period ends
  // A slow provider's probes: asked off the loop; their answer waits here for the next pass.
  bool probing = false;
  std::optional<std::vector<providers::NodeProbe>> probes;
};

class NodeRunner {
 public:
  NodeRunner(ActiveJobs& jobs, Workers& workers, const ControllerOptions& options,
             const storage::Storage& storage);

  std::string JobDir(int64_t id) const;
  std::string LogPath(int64_t id) const;

  // A provider gave `allocation` for a PROVISIONING job; its nodes start once it is ready (now,
  // when it already is).
  void Provisioned(int64_t id, providers::Provider* provider, providers::Allocation allocation,
                   int accelerators_per_node);
  // Books nodes a previous server started (recovery); `stop` kills them at once.
  void Adopt(int64_t id, JobNodes nodes);

  // One pass: provisioning jobs that were cancelled (released) or are ready (started); running
  // jobs watched; stopping ones killed when their grace ends and released when no process is left.
  // `released(id, preempted)` is called for each job whose nodes are gone.
  void Pass(const std::function<void(int64_t, bool)>& released);

  // Stops a job for a preemption: a running job's nodes get SIGTERM (SIGKILL at once when `kill`)
  // and it goes PREEMPTED; a provisioning one's allocation is released and it goes back to
  // PENDING. Returns false when the job holds nothing.
  bool Preempt(int64_t id, const std::string& reason, bool kill);
  // Sends `signal` to every node of `r`: at once for a provider with QuickCalls, else from a
  // worker.
  void Signal(const JobNodes& r, int signal) const;
  // The running job holding `allocation` of `provider` (0 if none).
  int64_t HolderOf(const providers::Provider* provider, const std::string& allocation) const;

  bool Holds(int64_t id) const {
    return running_.count(id) != 0 || provisioning_.count(id) != 0 || starting_.count(id) != 0;
  }

 private:
  struct Provisioning {
    providers::Provider* provider = nullptr;
    providers::Allocation allocation;
    int accelerators_per_node = 0;  // of the placement provisioned
  };
  // Nodes being started off the loop (a slow provider).
  struct Starting {
    Provisioning prov;
    std::vector<std::string> node_dirs, gpus;
    std::optional<std::string> preempted;  // the scheduler took it back meanwhile
  };
  using Started = std::vector<absl::StatusOr<providers::NodeHandle>>;
  void StartNodes(int64_t id, Provisioning prov);
  void NodesStarted(int64_t id, Provisioning prov, const std::vector<std::string>& node_dirs,
                    const std::vector<std::string>& gpus, const Started& started,
                    const std::optional<std::string>& preempted);
  // Every node's probe now (a quick provider), or when a slow provider's answer is back.
  std::optional<std::vector<providers::NodeProbe>> Probes(int64_t id, JobNodes& r);
  void Release(providers::Provider* provider, const std::string& allocation);
  // The job's nodes are gone: their caches are written back unless they were lost (`lost`: a
  // preempted or lost node's disk is gone), then, if the job ended, its buckets with
  // `persistent: false` are deleted.
  void AfterNodes(int64_t id, const std::vector<std::string>& node_dirs, bool lost);
  // A running job's caches written back now and then (Settings::write_back_ms).
  void MaybeWriteBack(int64_t id, JobNodes& r);
  void Watch(int64_t id, JobNodes& r, const ActiveJob& job,
             const std::vector<providers::NodeProbe>& probes);
  void Stop(JobNodes& r);  // SIGTERM now, SIGKILL when the grace period ends
  void Finish(int64_t id, store::JobState from, store::JobState to, const std::string& reason,
              std::optional<int> code);
  int64_t Now() const { return jobs_.Now(); }

  ActiveJobs& jobs_;
  Workers& workers_;
  const ControllerOptions& options_;
  const storage::Storage& storage_;
  std::map<int64_t, Starting> starting_;          // nodes being started off the loop
  std::map<int64_t, Provisioning> provisioning_;  // PROVISIONING jobs waiting for their nodes
  std::map<int64_t, JobNodes> running_;           // jobs whose nodes hold resources (or stop)
};

}  // namespace awan::controller

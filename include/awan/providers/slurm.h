// The `slurm` provider: a real Slurm cluster. Provisioning is `salloc --immediate --no-shell` for N
// nodes with the GPUs per node as gres — Slurm allocates a gang all or nothing, and a cluster
// without room answers capacity_unavailable at once instead of queueing, so failover can move on.
// Each node's workload is the same wrapper as local nodes, started with `srun --jobid
// --relative=RANK` from the server (the srun process is the node's handle here: its output is the
// job log, cancelling it cancels the step); Release is `scancel`. Node folders must be on a
// filesystem the cluster's nodes share with the server (they are under $AWAN_HOME/jobs). When
// srun ends without the node's exit status and Slurm says the allocation failed with a node
// (NODE_FAIL), the node is reported lost (TakeEvents) rather than failed: the job is queued again.
// Thread-safe.
#pragma once

#include <mutex>
#include <set>
#include <string>

#include "awan/providers/provider.h"

namespace awan::providers {

struct SlurmConfig {
  std::string name;
  std::string slurm_conf;  // SLURM_CONF for every command ("" = Slurm's default)
  std::string partition;   // "" = the default partition
  int nodes = 1;           // nodes in the cluster (what it can ever give one job)
  std::string accelerator;
  int accelerator_count = 0;  // per node
  std::string gres_type;      // --gres=gpu:TYPE:COUNT ("" = gpu:COUNT)
  double cpus = 1, memory_gib = 1;
  double price = 0;           // USD per node-hour; 0 = owned (ranked as free)
  int immediate_seconds = 1;  // how long salloc may wait for room before capacity_unavailable
};

class SlurmProvider final : public Provider {
 public:
  explicit SlurmProvider(SlurmConfig config);
  const std::string& name() const override { return config_.name; }
  std::string_view kind() const override { return "slurm"; }
  void AddOfferings(catalog::Catalog& catalog) const override;
  ProvisionResult Provision(int64_t job_id, const Offer& offer, int64_t now) override;
  absl::StatusOr<NodeHandle> StartNode(const Allocation& allocation, const NodeSpec& spec) override;
  NodeProbe ProbeNode(const std::string& node_dir, const NodeHandle& handle) override;
  void SignalNode(const std::string& node_dir, const NodeHandle& handle, int signal) override;
  std::optional<NodeHandle> FindNode(const std::string& node_dir) override;
  void Release(const std::string& allocation_id) override;
  absl::Status Check() override;
  std::vector<NodeEvent> TakeEvents(int64_t now) override;

  std::string InstanceType() const;  // "slurm-PARTITION"

 private:
  struct Result {
    int code = -1;
    std::string out, err;
  };
  Result Run(const std::string& command) const;  // with SLURM_CONF set
  std::string Gres(int count) const;

  const SlurmConfig config_;
  mutable std::mutex mu_;
  std::set<std::string> failed_;    // guarded by mu_: allocations with a node failure, to report
  std::set<std::string> reported_;  // guarded by mu_: reported lost: their nodes are gone
};

}  // namespace awan::providers

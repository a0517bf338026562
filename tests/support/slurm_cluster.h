// A real Slurm cluster for tests: munged (started if not running), slurmctld and one slurmd per
// node (NodeHostname=localhost, a port each) with fake GPU gres files, all state in a temp dir, on
// free loopback ports; stopped and removed on destruction. Skips (Available() == false, with Why())
// when slurm-wlm or munge is not installed or the cluster does not come up.
#pragma once

#include <string>

namespace awan::testing {

class SlurmCluster {
 public:
  SlurmCluster(const std::string& name, int nodes, int gpus_per_node);
  ~SlurmCluster();
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  bool Available() const { return available_; }
  const std::string& Why() const { return why_; }
  std::string conf() const { return dir_ + "/slurm.conf"; }
  // Output of a Slurm command run against this cluster (e.g. "squeue -h -o %i").
  std::string Run(const std::string& command) const;

 private:
  std::string dir_, why_;
  int nodes_ = 0;
  bool available_ = false;
};

}  // namespace awan::testing

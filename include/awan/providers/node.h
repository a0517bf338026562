// What every provider shares about one node of a job: what it needs to start (NodeSpec), the
// provider's own handle on it once started (NodeHandle), and what a look at it finds (NodeProbe).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace awan::providers {

// Everything one node needs to start.
struct NodeSpec {
  int64_t job_id = 0;
  int rank = 0;
  int num_nodes = 1;
  // Which start of the job this is: 1 the first, then one more after each preemption or loss. Each
  // start has folders of its own (here and on remote hosts), so what is left of an earlier one — a
  // wrapper on a failed node writing its exit code late — never touches the current one.
  int start = 1;
  std::string node_dir;  // created by StartNode; holds the scripts, `work/` and `exit_code`
  std::string log_path;  // the job's log, shared by its nodes (appended)
  std::string workdir;   // copied into node_dir/work when not empty
  // file_mounts with local sources: (destination, source). A relative or ~/ destination is placed
  // in the node's work folder; an absolute one under node_dir/mounts (AWAN_MOUNTS), so two jobs
  // on one machine never collide.
  std::vector<std::pair<std::string, std::string>> file_mounts;
  // Buckets (docs/storage.md): (destination, folder on this machine), placed like file_mounts but
  // as a link to the folder, not a copy — for providers whose nodes share this machine's
  // filesystem.
  std::vector<std::pair<std::string, std::string>> links;
  std::string setup, run;
  std::vector<std::pair<std::string, std::string>> envs;
  std::vector<int> gpu_indices;  // CUDA_VISIBLE_DEVICES
  std::string node_ips;          // AWAN_NODE_IPS
  // Runs the wrapper through this command (argv prefix), e.g. srun onto a Slurm node; empty = here.
  std::vector<std::string> launcher;
};

// A started node as its provider knows it: text only that provider writes and reads (the local
// machine's process group, a remote pid, a cloud's instance id). The controller stores it with the
// node and hands it back after a restart; it never looks inside. Empty: not started.
struct NodeHandle {
  std::string id;
  bool empty() const { return id.empty(); }
};

// kGone: its process ended without a status (the job's failure). kLost: its provider lost it (a
// node failure, a host gone) and reports that through TakeEvents, which the controller answers by
// placing the job anew — neither the job's end nor alive.
enum class NodeState { kRunning, kExited, kGone, kLost };
struct NodeProbe {
  NodeState state = NodeState::kGone;
  int exit_code = -1;  // for kExited
  std::string detail;  // for kGone: what is known
  // Whether any process of the node is still alive (its whole process group, not only the wrapper):
  // a job that traps SIGTERM outlives its wrapper, so a stopping node is gone only when this is
  // false.
  bool processes_alive = false;
};

}  // namespace awan::providers

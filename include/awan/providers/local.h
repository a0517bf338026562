// The local provider: the machine the server runs on. It knows its resources (CPUs, memory, GPUs
// found through nvidia-smi), and runs each node of a job as a real process group: a bash wrapper
// runs `setup` then `run` in the node's work dir, appends their output to the job's log, and writes
// the exit code to a file, so the status survives a restart of the server. Thread-compatible
// (the controller's loop owns it).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace awan::providers {

struct LocalGpu {
  int index = 0;
  std::string name;  // as nvidia-smi reports it, e.g. "NVIDIA H100 80GB HBM3"
  double memory_gib = 0;
};

struct LocalResources {
  int cpus = 0;
  double memory_gib = 0;
  std::vector<LocalGpu> gpus;
  std::string hostname;
};

// Detects CPUs, memory and GPUs. GPUs come from `nvidia-smi`, unless AWAN_LOCAL_GPUS overrides it:
// "" for none, or a comma-separated list of names ("H100,H100") to give awan a subset of the GPUs
// or to stand in for GPUs on a machine without them (tests).
LocalResources DetectLocalResources();

// Whether a GPU reported as `gpu_name` satisfies a task's accelerator `wanted` ("H100" matches
// "NVIDIA H100 80GB HBM3"), ignoring case.
bool GpuMatches(const std::string& gpu_name, const std::string& wanted);

// Everything one node needs to start.
struct NodeSpec {
  int64_t job_id = 0;
  int rank = 0;
  int num_nodes = 1;
  std::string node_dir;  // created by StartNode; holds the scripts, `work/` and `exit_code`
  std::string log_path;  // the job's log, shared by its nodes (appended)
  std::string workdir;   // copied into node_dir/work when not empty
  // file_mounts with local sources: (destination, source). A relative or ~/ destination is placed
  // in the node's work folder; an absolute one under node_dir/mounts (AWAN_MOUNTS), so two jobs
  // on one machine never collide.
  std::vector<std::pair<std::string, std::string>> file_mounts;
  std::string setup, run;
  std::vector<std::pair<std::string, std::string>> envs;
  std::vector<int> gpu_indices;  // CUDA_VISIBLE_DEVICES
  std::string node_ips;          // AWAN_NODE_IPS
  // Runs the wrapper through this command (argv prefix), e.g. srun onto a Slurm node; empty = here.
  std::vector<std::string> launcher;
};

struct NodeHandle {
  int64_t pid = 0;        // process group leader
  int64_t pid_start = 0;  // its start time, to tell a reused pid apart
};

// Puts the node's files in place: node_dir/work with the workdir and the relative file mounts,
// node_dir/mounts with the absolute ones. Copied into a partial folder and renamed when complete:
// a failed copy leaves nothing behind, and says which source failed. May take long (a big
// workdir): the controller calls it off its loop.
absl::Status StageNodeFiles(const NodeSpec& spec);

// Creates the node's folder and starts its process group. The wrapper's first act is writing its
// pid to node_dir/pid, so a node started just before a crash can be found again.
absl::StatusOr<NodeHandle> StartNode(const NodeSpec& spec);

enum class NodeState { kRunning, kExited, kGone };
struct NodeProbe {
  NodeState state = NodeState::kGone;
  int exit_code = -1;  // for kExited
  std::string detail;  // for kGone: what is known
  // Whether any process of the node is still alive (its whole process group, not only the wrapper):
  // a job that traps SIGTERM outlives its wrapper, so a stopping node is gone only when this is
  // false.
  bool processes_alive = false;
};

// Looks at a node: its exit_code file, then whether its process is still alive (and the same
// process), and whether anything of its process group still runs.
NodeProbe ProbeNode(const std::string& node_dir, const NodeHandle& handle);

// Reads node_dir/pid (written by the wrapper); nullopt when the node never started.
std::optional<NodeHandle> ReadNodePid(const std::string& node_dir);

// The bash wrapper every process-based node runs (setup, then run, then the exit code into
// $AWAN_NODE_DIR/exit_code); shared with providers that start nodes on other hosts.
const char* NodeWrapperScript();

// Sends `signal` to the node's whole process group.
void SignalNode(const NodeHandle& handle, int signal);

// Whether any process of the node's process group is alive (the group outlives its leader).
bool ProcessGroupAlive(const NodeHandle& handle);

// The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or 0 if it is
// gone.
int64_t ProcessStartTicks(int64_t pid);

}  // namespace awan::providers

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
#include "awan/providers/node.h"

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

// A node that runs as a process group (here, or on a host the provider reaches): its leader and
// the leader's start time, to tell a reused pid apart (0: unknown). The providers that start
// process groups keep it in the node's handle as "PID:START".
struct ProcessHandle {
  int64_t pid = 0;
  int64_t pid_start = 0;
};
NodeHandle ToNodeHandle(const ProcessHandle& process);
// {0, 0} for a handle that is not a process handle (never started).
ProcessHandle ToProcessHandle(const NodeHandle& handle);

// Puts the node's files in place: node_dir/work with the workdir and the relative file mounts,
// node_dir/mounts with the absolute ones. Copied into a partial folder and renamed when complete:
// a failed copy leaves nothing behind, and says which source failed. May take long (a big
// workdir): the controller calls it off its loop.
absl::Status StageNodeFiles(const NodeSpec& spec);

// Creates the node's folder and starts its process group. The wrapper's first act is writing its
// pid to node_dir/pid, so a node started just before a crash can be found again.
absl::StatusOr<ProcessHandle> StartNode(const NodeSpec& spec);

// Looks at a node: its exit_code file, then whether its process is still alive (and the same
// process), and whether anything of its process group still runs.
NodeProbe ProbeNode(const std::string& node_dir, const ProcessHandle& handle);

// Reads node_dir/pid (written by the wrapper); nullopt when the node never started.
std::optional<ProcessHandle> ReadNodePid(const std::string& node_dir);

// The bash wrapper every process-based node runs (setup, then run, then the exit code into
// $AWAN_NODE_DIR/exit_code); shared with providers that start nodes on other hosts.
const char* NodeWrapperScript();

// Sends `signal` to the node's whole process group.
void SignalNode(const ProcessHandle& handle, int signal);

// Whether any process of the node's process group is alive (the group outlives its leader).
bool ProcessGroupAlive(const ProcessHandle& handle);

// The start time of a process (clock ticks since boot, /proc/PID/stat field 22), or 0 if it is
// gone.
int64_t ProcessStartTicks(int64_t pid);

}  // namespace awan::providers

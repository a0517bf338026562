#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "../shell.h"
#include "awan/catalog/catalog.h"
#include "awan/common/status_macros.h"
#include "awan/common/text.h"
#include "awan/providers/local.h"
#include "awan/providers/slurm.h"

namespace awan::providers {
namespace {

namespace fs = std::filesystem;

std::string Quote(const std::string& text) { return ShellQuote(text); }

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

SlurmProvider::SlurmProvider(SlurmConfig config) : config_(std::move(config)) {}

std::string SlurmProvider::InstanceType() const {
  return "slurm-" + (config_.partition.empty() ? std::string("default") : config_.partition);
}

std::string SlurmProvider::Gres(int count) const {
  if (count <= 0) return "";
  return config_.gres_type.empty() ? fmt::format("gpu:{}", count)
                                   : fmt::format("gpu:{}:{}", config_.gres_type, count);
}

void SlurmProvider::AddOfferings(catalog::Catalog& catalog) const {
  catalog.Add({config_.name, config_.name, "", InstanceType(), config_.accelerator,
               config_.accelerator_count, config_.cpus, config_.memory_gib,
               config_.price > 0 ? config_.price : 1e-9, 0});
  catalog.SetProviderInfo(config_.name, fmt::format("Slurm cluster ({} nodes)", config_.nodes), "");
}

SlurmProvider::Result SlurmProvider::Run(const std::string& command) const {
  const std::string env =
      config_.slurm_conf.empty() ? "" : "SLURM_CONF=" + Quote(config_.slurm_conf) + " ";
  const ShellResult run = RunShell(env + command);
  Result r;
  r.code = run.code;
  r.out = run.out;
  r.err = run.err;
  return r;
}

absl::Status SlurmProvider::Check() {
  const Result r = Run("sinfo -h -o %T");
  if (r.code == 0) return absl::OkStatus();
  return absl::UnavailableError(
      fmt::format("{}: the Slurm controller does not answer: {}", config_.name, Trim(r.err)));
}

ProvisionResult SlurmProvider::Provision(int64_t job_id, const Offer& offer, int64_t now) {
  if (offer.num_nodes > config_.nodes) {
    return ProviderError{
        ErrorKind::kCapacityUnavailable,
        fmt::format("the cluster has {} node(s), {} asked", config_.nodes, offer.num_nodes),
        ErrorScope::kRegion};
  }
  std::string command =
      fmt::format("salloc --immediate={} --no-shell --nodes={} --job-name=awan-{}",
                  config_.immediate_seconds, offer.num_nodes, job_id);
  if (!config_.partition.empty()) command += " --partition=" + Quote(config_.partition);
  if (const std::string gres = Gres(offer.accelerator_count); !gres.empty())
    command += " --gres=" + gres;
  const Result r = Run(command);
  static const std::regex kGranted("Granted job allocation ([0-9]+)");
  std::smatch m;
  const std::string all = r.err + r.out;
  if (r.code == 0 && std::regex_search(all, m, kGranted)) {
    Allocation a;
    a.id = m[1].str();
    a.region = offer.region;
    a.instance_type = offer.instance_type;
    for (int i = 0; i < offer.num_nodes; ++i)
      a.hosts.push_back(fmt::format("{}-job{}-node{}", config_.name, a.id, i));
    a.ready_at = now;
    return a;
  }
  // Whatever Slurm queued while trying is given back: nothing leaks from a failed gang.
  if (std::regex_search(all, m, std::regex("job allocation ([0-9]+)")))
    (void)Run("scancel " + m[1].str());
  std::string why = Trim(r.err.empty() ? r.out : r.err);
  for (char& c : why) {
    if (c == '\n') c = ' ';
  }
  if (why.find("Unable to contact slurm controller") != std::string::npos ||
      why.find("Connection refused") != std::string::npos) {
    return ProviderError{ErrorKind::kProviderDown, fmt::format("{}: {}", config_.name, why)};
  }
  if (why.find("Invalid generic resource") != std::string::npos ||
      why.find("Invalid partition") != std::string::npos) {
    return ProviderError{ErrorKind::kCapacityUnavailable, fmt::format("{}: {}", config_.name, why),
                         ErrorScope::kRegion};
  }
  return ProviderError{ErrorKind::kCapacityUnavailable,
                       fmt::format("{}: no room now: {}", config_.name, why)};
}

namespace {

// The Slurm provider's handle on a node: the srun it started here (a process handle) and the
// allocation that srun runs in, "PID:START@JOBID" — so that after a restart a node failure is
// still told apart from the job's own end. A handle without "@JOBID" (stored by an older awan, or
// found from the node's folder) is the srun alone.
struct SlurmNode {
  ProcessHandle srun;
  std::string allocation;
};

NodeHandle Encode(const ProcessHandle& srun, const std::string& allocation) {
  NodeHandle h = ToNodeHandle(srun);
  if (!h.empty()) h.id += "@" + allocation;
  return h;
}

SlurmNode Decode(const NodeHandle& handle) {
  const size_t at = handle.id.find('@');
  if (at == std::string::npos) return {ToProcessHandle(handle), ""};
  return {ToProcessHandle({handle.id.substr(0, at)}), handle.id.substr(at + 1)};
}

}  // namespace

absl::StatusOr<NodeHandle> SlurmProvider::StartNode(const Allocation& allocation,
                                                    const NodeSpec& spec) {
  NodeSpec s = spec;
  s.gpu_indices.clear();  // Slurm sets CUDA_VISIBLE_DEVICES from the gres it grants
  s.launcher = {"env"};
  if (!config_.slurm_conf.empty()) s.launcher.push_back("SLURM_CONF=" + config_.slurm_conf);
  for (const std::string& arg :
       {std::string("srun"), "--jobid=" + allocation.id, std::string("--nodes=1"),
        std::string("--ntasks=1"), fmt::format("--relative={}", spec.rank),
        std::string("--kill-on-bad-exit=0"), std::string("--quiet")}) {
    s.launcher.push_back(arg);
  }
  if (const std::string gres = Gres(0); !gres.empty()) s.launcher.push_back("--gres=" + gres);
  ASSIGN_OR_RETURN(ProcessHandle process, providers::StartNode(s));
  return Encode(process, allocation.id);
}

NodeProbe SlurmProvider::ProbeNode(const std::string& node_dir, const NodeHandle& handle) {
  const SlurmNode node = Decode(handle);
  NodeProbe p = providers::ProbeNode(node_dir, node.srun);
  // A node that ran, or ended well, is the job's business. One that failed or whose srun ended
  // without a status may be the cluster's doing: when Slurm takes a node down it signals the
  // step's tasks (the wrapper records 143) or srun ends before they can say anything.
  if (p.state == NodeState::kRunning || (p.state == NodeState::kExited && p.exit_code == 0)) {
    return p;
  }
  const std::string& allocation = node.allocation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reported_.count(allocation) != 0 || failed_.count(allocation) != 0) {
      // Reported lost, or about to be: not the job's failure, and nothing of it to wait for.
      p.state = NodeState::kLost;
      p.detail = fmt::format("its Slurm allocation {} lost a node", allocation);
      return p;
    }
  }
  if (!allocation.empty()) {
    // The allocation failed with a node (NODE_FAIL, or a NodeDown/NodeFail reason while it is
    // still completing), or one of its nodes is down.
    const Result r = Run("scontrol show job -o " + Quote(allocation));
    bool node_failed = r.code == 0 && (r.out.find("JobState=NODE_FAIL") != std::string::npos ||
                                       r.out.find("Reason=NodeDown") != std::string::npos ||
                                       r.out.find("Reason=NodeFail") != std::string::npos);
    static const std::regex kNodes(" NodeList=([^ \n]+)");
    std::smatch m;
    if (!node_failed && r.code == 0 && std::regex_search(r.out, m, kNodes) && m[1] != "(null)") {
      const Result states = Run("sinfo -h -N -n " + Quote(m[1].str()) + " -o %T");
      node_failed = states.code == 0 && (states.out.find("down") != std::string::npos ||
                                         states.out.find("fail") != std::string::npos);
    }
    if (node_failed) {
      std::lock_guard<std::mutex> lock(mu_);
      failed_.insert(allocation);
      p.state = NodeState::kLost;  // TakeEvents reports it
      p.detail = fmt::format("its Slurm allocation {} lost a node", allocation);
      return p;
    }
  }
  if (p.state == NodeState::kGone) {
    p.detail = "srun ended without the node's exit status (" + p.detail + ")";
  }
  return p;
}

std::vector<NodeEvent> SlurmProvider::TakeEvents(int64_t) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<NodeEvent> events;
  for (const std::string& allocation : failed_) {
    events.push_back(
        {NodeEvent::Kind::kLost, allocation,
         fmt::format("{}: Slurm allocation {} lost a node (NODE_FAIL)", config_.name, allocation)});
    reported_.insert(allocation);
  }
  failed_.clear();
  return events;
}

std::optional<NodeHandle> SlurmProvider::FindNode(const std::string& node_dir) {
  auto process = ReadNodePid(node_dir);
  if (!process) return std::nullopt;
  return ToNodeHandle(*process);
}

void SlurmProvider::SignalNode(const std::string&, const NodeHandle& handle, int signal) {
  providers::SignalNode(Decode(handle).srun, signal);  // srun forwards it to the step's tasks
}

void SlurmProvider::Release(const std::string& allocation_id) {
  if (!allocation_id.empty()) (void)Run("scancel " + Quote(allocation_id));
  std::lock_guard<std::mutex> lock(mu_);
  failed_.erase(allocation_id);
  reported_.erase(allocation_id);
}

}  // namespace awan::providers

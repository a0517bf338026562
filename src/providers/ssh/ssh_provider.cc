#include <fcntl.h>
#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../shell.h"
#include "awan/catalog/catalog.h"
#include "awan/common/status_macros.h"
#include "awan/common/text.h"
#include "awan/providers/local.h"
#include "awan/providers/ssh.h"

namespace awan::providers {
namespace {

namespace fs = std::filesystem;

std::string Quote(const std::string& text) { return ShellQuote(text); }
std::string ReadAll(const fs::path& p) { return ReadWholeFile(p.string()); }

// Where a node lives: written next to the local node folder at start, read by probes and signals.
struct RemoteNode {
  std::string host;        // label
  std::string remote_dir;  // on the host
  std::string log_path;    // the job's local log
};

RemoteNode ReadRemote(const std::string& node_dir) {
  std::istringstream in(ReadAll(fs::path(node_dir) / "remote.txt"));
  RemoteNode r;
  std::getline(in, r.host);
  std::getline(in, r.remote_dir);
  std::getline(in, r.log_path);
  return r;
}

}  // namespace

std::string SshHost::Label() const { return fmt::format("{}@{}:{}", user, host, port); }

std::string SshProvider::InstanceType(const SshHost& h) {
  if (!h.accelerator.empty()) return fmt::format("ssh-{}x{}", h.accelerator, h.accelerator_count);
  return fmt::format("ssh-cpu{:g}", h.cpus);
}

SshProvider::SshProvider(SshConfig config) : config_(std::move(config)) {
  held_by_.assign(config_.hosts.size(), "");
}

void SshProvider::AddOfferings(catalog::Catalog& catalog) const {
  const std::string region = config_.region.empty() ? config_.name : config_.region;
  std::vector<std::string> seen;
  for (const SshHost& h : config_.hosts) {
    const std::string type = InstanceType(h);
    if (std::find(seen.begin(), seen.end(), type) != seen.end()) continue;
    seen.push_back(type);
    // Owned hosts are free; 0 would mean "not offered", so they get the smallest price there is.
    catalog.Add({config_.name, region, "", type, h.accelerator, h.accelerator_count, h.cpus,
                 h.memory_gib, h.price > 0 ? h.price : 1e-9, 0});
  }
  catalog.SetProviderInfo(config_.name, fmt::format("{} SSH host(s)", config_.hosts.size()), "");
}

SshProvider::Result SshProvider::Ssh(const SshHost& h, const std::string& remote,
                                     const std::string& input) const {
  const std::string command = fmt::format(
      "ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o "
      "LogLevel=ERROR "
      "-o ConnectTimeout={} -o ControlMaster=auto -o ControlPath=/tmp/awan-ssh-%C -o "
      "ControlPersist=60 "
      "-p {} {} {} {}",
      config_.connect_timeout_s, h.port, h.key.empty() ? "" : "-i " + Quote(h.key),
      Quote(h.user.empty() ? h.host : h.user + "@" + h.host), Quote(remote));
  const ShellResult run = RunShell(command, input);
  Result r;
  r.code = run.code;
  r.out = run.out;
  r.err = run.err;
  return r;
}

std::optional<ProviderError> SshProvider::Health(const SshHost& h) const {
  const Result r = Ssh(h, "true");
  if (r.code == 0) return std::nullopt;
  std::string why = r.err;
  while (!why.empty() && (why.back() == '\n' || why.back() == '\r')) why.pop_back();
  if (why.find("Permission denied") != std::string::npos) {
    return ProviderError{ErrorKind::kAuthFailed,
                         fmt::format("{}: {} (check the user and key)", h.Label(), why)};
  }
  return ProviderError{ErrorKind::kProviderDown, fmt::format("{}: unreachable: {}", h.Label(),
                                                             why.empty() ? "ssh failed" : why)};
}

std::vector<NodeEvent> SshProvider::TakeEvents(int64_t now) {
  // A lost host that answers a health check again (looked at every 30 s) takes nodes again.
  std::vector<std::string> recheck;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& label : lost_) {
      int64_t& at = rechecked_at_[label];
      if (now - at >= 30000) {
        at = now;
        recheck.push_back(label);
      }
    }
  }
  for (const std::string& label : recheck) {
    const SshHost* host = FindHost(label);
    if (host != nullptr && !Health(*host)) {
      std::lock_guard<std::mutex> lock(mu_);
      lost_.erase(label);
    }
  }
  std::vector<NodeEvent> events;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = unreachable_since_.begin(); it != unreachable_since_.end();) {
    const std::string& label = it->first;
    const int64_t since = it->second;
    if (now - since < int64_t{config_.node_lost_after_s} * 1000) {
      ++it;
      continue;
    }
    lost_.insert(label);
    for (size_t i = 0; i < config_.hosts.size(); ++i) {
      if (config_.hosts[i].Label() != label || held_by_[i].empty()) continue;
      events.push_back({NodeEvent::Kind::kLost, held_by_[i],
                        fmt::format("{}: host {} unreachable for {} s; its node is lost",
                                    config_.name, label, (now - since) / 1000)});
    }
    it = unreachable_since_.erase(it);
  }
  return events;
}

absl::Status SshProvider::Check() {
  std::string problems;
  for (const SshHost& h : config_.hosts) {
    if (auto e = Health(h)) problems += (problems.empty() ? "" : "; ") + e->message;
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::UnavailableError(fmt::format("{}: {}", config_.name, problems));
}

ProvisionResult SshProvider::Provision(int64_t job_id, const Offer& offer, int64_t now) {
  std::vector<size_t> chosen;
  std::string allocation;
  {
    std::lock_guard<std::mutex> lock(mu_);
    allocation = fmt::format("ssh-{}-{}", config_.name, next_id_++);
    for (size_t i = 0;
         i < config_.hosts.size() && static_cast<int>(chosen.size()) < offer.num_nodes; ++i) {
      // A host declared lost is skipped until it answers again (it then leaves `lost_`, below).
      if (held_by_[i].empty() && InstanceType(config_.hosts[i]) == offer.instance_type &&
          lost_.count(config_.hosts[i].Label()) == 0) {
        held_by_[i] = allocation;  // held while checked; given back if the gang cannot be made
        chosen.push_back(i);
      }
    }
  }
  auto give_back = [&] {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i : chosen) held_by_[i].clear();
  };
  if (static_cast<int>(chosen.size()) < offer.num_nodes) {
    give_back();
    return ProviderError{ErrorKind::kCapacityUnavailable,
                         fmt::format("{} free {} host(s), {} asked", chosen.size(),
                                     offer.instance_type, offer.num_nodes)};
  }
  for (size_t i : chosen) {
    if (auto e = Health(config_.hosts[i])) {
      give_back();
      return *e;
    }
  }
  Allocation a;
  a.id = allocation;
  a.region = offer.region;
  a.instance_type = offer.instance_type;
  for (size_t i : chosen) a.hosts.push_back(config_.hosts[i].Label());
  a.ready_at = now;
  (void)job_id;
  return a;
}

const SshHost* SshProvider::FindHost(const std::string& label) const {
  for (const SshHost& h : config_.hosts) {
    if (h.Label() == label) return &h;
  }
  return nullptr;
}

absl::StatusOr<NodeHandle> SshProvider::StartNode(const Allocation& allocation,
                                                  const NodeSpec& spec) {
  const SshHost* host = FindHost(allocation.hosts.at(static_cast<size_t>(spec.rank)));
  if (host == nullptr) return absl::InternalError("unknown host in allocation " + allocation.id);
  const fs::path staging = spec.node_dir;
  RETURN_IF_ERROR(StageNodeFiles(spec));
  std::error_code ec;
  const bool has_mounts = fs::exists(staging / "mounts", ec);
  const std::string remote_dir =
      spec.start == 1 ? fmt::format("{}/{}-job{}-node{}", config_.remote_root, config_.name,
                                    spec.job_id, spec.rank)
                      : fmt::format("{}/{}-job{}-start{}-node{}", config_.remote_root, config_.name,
                                    spec.job_id, spec.start, spec.rank);
  std::string env = "# generated by awan\n";
  std::string gpus;
  for (int g : spec.gpu_indices) gpus += (gpus.empty() ? "" : ",") + std::to_string(g);
  std::vector<std::pair<std::string, std::string>> vars = spec.envs;
  vars.emplace_back("CUDA_VISIBLE_DEVICES", gpus);
  vars.emplace_back("AWAN_JOB_ID", std::to_string(spec.job_id));
  vars.emplace_back("AWAN_NODE_RANK", std::to_string(spec.rank));
  vars.emplace_back("AWAN_NUM_NODES", std::to_string(spec.num_nodes));
  vars.emplace_back("AWAN_NODE_IPS", spec.node_ips);
  vars.emplace_back("AWAN_NODE_DIR", remote_dir);
  vars.emplace_back("AWAN_MOUNTS", remote_dir + "/mounts");
  for (const auto& [k, v] : vars) env += fmt::format("export {}={}\n", k, Quote(v));
  for (auto [name, text] : {std::pair{"wrapper.sh", std::string(NodeWrapperScript())},
                            std::pair{"setup.sh", spec.setup}, std::pair{"run.sh", spec.run},
                            std::pair{"env.sh", env}}) {
    std::ofstream(staging / name, std::ios::trunc) << text;
  }
  // Ship the folder as a tar stream on ssh's stdin, then start the wrapper in its own session.
  const std::string tar = fmt::format("tar -C {} -cf - wrapper.sh setup.sh run.sh env.sh work{}",
                                      Quote(staging.string()), has_mounts ? " mounts" : "");
  FILE* pipe = popen(tar.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("tar failed");
  std::string archive;
  std::array<char, 65536> buffer{};
  size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) archive.append(buffer.data(), n);
  pclose(pipe);
  const Result copied =
      Ssh(*host, fmt::format("rm -rf {0} && mkdir -p {0} && tar -C {0} -xf -", Quote(remote_dir)),
          archive);
  if (copied.code != 0) {
    return absl::UnavailableError(
        fmt::format("{}: copying the node's files failed: {}", host->Label(), copied.err));
  }
  const Result started =
      // `cd` on its own: a backgrounded `cd && setsid ...` list would be a subshell holding the
      // session's output open, and ssh would wait for the job to end.
      Ssh(*host, fmt::format("cd {0} || exit 1; setsid bash -c '. ./env.sh; exec bash "
                             "./wrapper.sh' > {0}/log 2>&1 "
                             "< /dev/null & echo $!",
                             Quote(remote_dir)));
  auto pid = ParseNumber(started.out);
  if (started.code != 0 || !pid) {
    return absl::UnavailableError(
        fmt::format("{}: starting the node failed: {}{}", host->Label(), started.err, started.out));
  }
  std::ofstream(staging / "remote.txt", std::ios::trunc) << host->Label() << "\n"
                                                         << remote_dir << "\n"
                                                         << spec.log_path << "\n";
  return ToNodeHandle(ProcessHandle{static_cast<int64_t>(*pid), 0});
}

NodeProbe SshProvider::ProbeNode(const std::string& node_dir, const NodeHandle& handle) {
  NodeProbe probe;
  const RemoteNode node = ReadRemote(node_dir);
  const SshHost* host = FindHost(node.host);
  const int64_t pid = ToProcessHandle(handle).pid;  // the wrapper's on that host
  if (pid <= 0) {
    probe.state = NodeState::kGone;
    probe.detail = fmt::format("not a handle this provider gave out: '{}'", handle.id);
    return probe;
  }
  if (host == nullptr) {
    probe.state = NodeState::kGone;
    probe.detail = "its host is no longer in this provider's config";
    return probe;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_.count(node.host) != 0) {  // nothing of it can be reached: nothing of it is counted
      probe.state = NodeState::kLost;
      probe.detail = fmt::format("its host {} was lost", node.host);
      return probe;
    }
  }
  const fs::path offset_file = fs::path(node_dir) / "log_offset";
  const int64_t offset = static_cast<int64_t>(ParseNumber(ReadAll(offset_file)).value_or(0));
  const Result r = Ssh(
      *host, fmt::format("cd {0} 2>/dev/null || {{ echo GONE; exit 0; }}; "
                         "if [ -f exit_code ]; then s=\"EXIT $(cat exit_code)\"; "
                         "elif kill -0 {1} 2>/dev/null; then s=RUNNING; else s=GONE; fi; "
                         "if kill -0 -- -{1} 2>/dev/null; then s=\"$s GROUP\"; fi; echo \"$s\"; "
                         "tail -c +{2} log 2>/dev/null",
                         Quote(node.remote_dir), pid, offset + 1));
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (r.code != 0) {
    // The host did not answer this time: look again; past node_lost_after_s it is lost.
    std::lock_guard<std::mutex> lock(mu_);
    unreachable_since_.emplace(node.host, now);
    probe.state = NodeState::kRunning;
    probe.processes_alive = true;
    probe.detail = r.err;
    return probe;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    unreachable_since_.erase(node.host);
  }
  const size_t eol = r.out.find('\n');
  std::string status = r.out.substr(0, eol);
  // " GROUP": something of the node's process group still runs (a job that trapped SIGTERM).
  constexpr std::string_view kGroup = " GROUP";
  if (status.size() > kGroup.size() &&
      status.compare(status.size() - kGroup.size(), kGroup.size(), kGroup) == 0) {
    probe.processes_alive = true;
    status.resize(status.size() - kGroup.size());
  }
  const std::string logs = eol == std::string::npos ? "" : r.out.substr(eol + 1);
  if (!logs.empty()) {
    std::ofstream(node.log_path, std::ios::app | std::ios::binary) << logs;
    std::ofstream(offset_file, std::ios::trunc) << offset + static_cast<int64_t>(logs.size());
  }
  if (status.rfind("EXIT ", 0) == 0) {
    probe.state = NodeState::kExited;
    probe.exit_code = static_cast<int>(ParseNumber(status.substr(5)).value_or(-1));
  } else if (status == "RUNNING") {
    probe.state = NodeState::kRunning;
    probe.processes_alive = true;
  } else {
    probe.state = NodeState::kGone;
    probe.detail = fmt::format("the process on {} is gone and left no exit status", node.host);
  }
  return probe;
}

void SshProvider::SignalNode(const std::string& node_dir, const NodeHandle& handle, int signal) {
  const RemoteNode node = ReadRemote(node_dir);
  const int64_t pid = ToProcessHandle(handle).pid;
  if (const SshHost* host = FindHost(node.host); host != nullptr && pid > 0) {
    (void)Ssh(*host, fmt::format("kill -{} -- -{} 2>/dev/null; true", signal, pid));
  }
}

void SshProvider::Release(const std::string& allocation_id) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::string& held : held_by_) {
    if (held == allocation_id) held.clear();
  }
}

void SshProvider::Readopt(const Allocation& allocation, const Offer& offer) {
  std::lock_guard<std::mutex> lock(mu_);
  int taken = 0;
  // The hosts the nodes run on when they are known, else any free ones of the shape.
  for (const std::string& label : allocation.hosts) {
    for (size_t i = 0; i < config_.hosts.size(); ++i) {
      if (held_by_[i].empty() && config_.hosts[i].Label() == label) {
        held_by_[i] = allocation.id;
        ++taken;
        break;
      }
    }
  }
  for (size_t i = 0; i < config_.hosts.size() && taken < offer.num_nodes; ++i) {
    if (held_by_[i].empty() && InstanceType(config_.hosts[i]) == offer.instance_type) {
      held_by_[i] = allocation.id;
      ++taken;
    }
  }
}

}  // namespace awan::providers

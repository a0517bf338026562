#include "node_runner.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <filesystem>

#include "../providers/shell.h"

namespace awan::controller {
namespace {

namespace fs = std::filesystem;
using store::JobState;
using store::MakeTransition;

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

// The folder a node's bucket `index` is attached at when it is a copy or a cache.
std::string StorageDir(const std::string& node_dir, size_t index) {
  return fmt::format("{}.storage/{}", node_dir, index);
}

// Clones `git` into `dir` (once: an existing clone is the job's) and checks out its ref. The
// clone is made beside `dir` and renamed into place, so a failed one leaves nothing.
absl::Status CloneWorkdir(const spec::Task::GitWorkdir& git, const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir + "/.git", ec)) return absl::OkStatus();
  const std::string partial = dir + ".partial";
  fs::remove_all(partial, ec);
  std::string command =
      fmt::format("GIT_TERMINAL_PROMPT=0 timeout 600 git clone --quiet -- {} {} 2>&1",
                  providers::ShellQuote(git.url), providers::ShellQuote(partial));
  if (!git.ref.empty()) {
    command += fmt::format(" && git -C {} checkout --quiet {} -- 2>&1",
                           providers::ShellQuote(partial), providers::ShellQuote(git.ref));
  }
  const providers::ShellResult r = providers::RunShell(command);
  if (r.code != 0) {
    fs::remove_all(partial, ec);
    std::string why = r.out + r.err;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return absl::FailedPreconditionError(fmt::format("workdir: cannot clone {}{}: {}", git.url,
                                                     git.ref.empty() ? "" : " at " + git.ref, why));
  }
  fs::rename(partial, dir, ec);
  if (ec) return absl::InternalError(fmt::format("workdir: {}", ec.message()));
  return absl::OkStatus();
}

}  // namespace

NodeRunner::NodeRunner(ActiveJobs& jobs, Workers& workers, const ControllerOptions& options,
                       const storage::Storage& storage)
    : jobs_(jobs), workers_(workers), options_(options), storage_(storage) {}

std::string NodeRunner::JobDir(int64_t id) const {
  return (fs::path(options_.home) / "jobs" / std::to_string(id)).string();
}
std::string NodeRunner::LogPath(int64_t id) const { return JobDir(id) + "/job.log"; }

void NodeRunner::Finish(int64_t id, JobState from, JobState to, const std::string& reason,
                        std::optional<int> code) {
  store::Transition t = MakeTransition(from, to, reason, Now());
  t.exit_code = code;
  (void)jobs_.Apply(id, t).ok();  // a refused write is logged by Apply; the nodes stop regardless
}

void NodeRunner::Provisioned(int64_t id, providers::Provider* provider,
                             providers::Allocation allocation, int accelerators_per_node) {
  Provisioning prov{provider, std::move(allocation), accelerators_per_node};
  if (prov.allocation.ready_at <= Now()) {
    StartNodes(id, std::move(prov));  // no provisioning delay (this machine): start in this pass
  } else {
    provisioning_[id] = std::move(prov);
  }
}

void NodeRunner::Adopt(int64_t id, JobNodes nodes) { running_[id] = std::move(nodes); }

// The allocation is ready: start the workload on each node.
void NodeRunner::StartNodes(int64_t id, Provisioning prov) {
  const ActiveJob* job = jobs_.Find(id);
  if (job == nullptr || job->record.state != JobState::kProvisioning) {
    Release(prov.provider, prov.allocation.id);
    return;
  }
  const spec::Task& task = *job->task;
  const providers::Allocation& a = prov.allocation;
  const std::string ips = Join(a.addresses.empty() ? a.hosts : a.addresses);
  std::vector<providers::NodeSpec> specs;
  std::vector<std::string> dirs, gpu_lists;
  // The first start's folders are node-R; a later start's start-K/node-R.
  const auto node_dir = [&](int start, int rank) {
    return start == 1 ? fmt::format("{}/node-{}", JobDir(id), rank)
                      : fmt::format("{}/start-{}/node-{}", JobDir(id), start, rank);
  };
  int nth = 1;
  for (std::error_code ec; fs::exists(node_dir(nth, 0), ec);) ++nth;
  for (int rank = 0; rank < task.num_nodes; ++rank) {
    const size_t node = static_cast<size_t>(rank);
    providers::NodeSpec spec;
    spec.job_id = id;
    spec.rank = rank;
    spec.num_nodes = task.num_nodes;
    spec.start = nth;
    spec.node_dir = node_dir(nth, rank);
    spec.log_path = LogPath(id);
    spec.workdir = task.workdir;
    spec.file_mounts = task.file_mounts;
    spec.setup = task.setup;
    spec.run = task.run;
    for (const auto& [k, v] : task.envs) spec.envs.emplace_back(k, v.value_or(""));
    for (const auto& [k, v] : task.secrets) spec.envs.emplace_back(k, v.value_or(""));
    spec.envs.emplace_back("AWAN_PROVIDER", prov.provider->name());
    // How many times the job was placed again (preemption, a lost node, a restart after an error):
    // 0 on its first start.
    spec.envs.emplace_back("AWAN_RECOVERIES", std::to_string(job->record.recoveries));
    if (node < a.devices.size()) {
      spec.gpu_indices = a.devices[node];
    } else {
      // A node sees the accelerators of its instance, numbered from 0 as on a cloud node.
      for (int g = 0; g < prov.accelerators_per_node; ++g) spec.gpu_indices.push_back(g);
    }
    spec.node_ips = ips;
    std::string gpus;
    for (int g : spec.gpu_indices) gpus += (gpus.empty() ? "" : ",") + std::to_string(g);
    const std::string host = node < a.hosts.size() ? a.hosts[node] : "";
    // The node's record exists before its process does, so a crash in between is visible.
    (void)jobs_.PutNode({id, rank, prov.provider->name(), host, spec.node_dir, gpus, a.id, ""});
    dirs.push_back(spec.node_dir);
    gpu_lists.push_back(gpus);
    specs.push_back(std::move(spec));
  }
  // Buckets: made (and the source uploaded, on the job's first start only: a recovered job finds
  // its checkpoints, not the source again) before any node starts, then attached to each node.
  const bool upload = nth == 1 && job->record.recoveries == 0;
  const auto start = [provider = prov.provider, a, specs, mounts = task.storage_mounts,
                      storage = &storage_, upload, git = task.workdir_git,
                      git_dir = JobDir(id) + "/git"]() {
    Started started;
    if (git) {
      // workdir: {url, ref}: cloned once per job (a recovered job runs the same commit).
      absl::Status cloned = CloneWorkdir(*git, git_dir);
      if (!cloned.ok()) {
        started.push_back(cloned);
        return started;
      }
    }
    for (const spec::StorageMount& m : mounts) {
      if (absl::Status s = storage->Prepare(m, upload); !s.ok()) {
        started.push_back(s);
        return started;
      }
    }
    for (providers::NodeSpec spec : specs) {
      if (git) spec.workdir = git_dir;
      for (size_t i = 0; i < mounts.size(); ++i) {
        auto folder = storage->Attach(mounts[i], StorageDir(spec.node_dir, i));
        if (!folder.ok()) {
          started.push_back(folder.status());
          return started;
        }
        spec.links.emplace_back(mounts[i].path, *folder);
      }
      started.push_back(provider->StartNode(a, spec));
      if (!started.back().ok()) break;
    }
    return started;
  };
  // Copying a workdir, file mounts or buckets may take long: then even a quick provider's nodes
  // start off the loop.
  if (prov.provider->QuickCalls() && task.workdir.empty() && task.file_mounts.empty() &&
      task.storage_mounts.empty() && !task.workdir_git) {
    NodesStarted(id, std::move(prov), dirs, gpu_lists, start(), std::nullopt);
    return;
  }
  starting_[id] = {prov, dirs, gpu_lists, std::nullopt};
  workers_.Run<Started>(start, [this, id](Started started) {
    auto it = starting_.find(id);
    if (it == starting_.end()) return;
    Starting s = std::move(it->second);
    starting_.erase(it);
    NodesStarted(id, std::move(s.prov), s.node_dirs, s.gpus, started, s.preempted);
  });
}

void NodeRunner::NodesStarted(int64_t id, Provisioning prov,
                              const std::vector<std::string>& node_dirs,
                              const std::vector<std::string>& gpus, const Started& started,
                              const std::optional<std::string>& preempted) {
  const providers::Allocation& a = prov.allocation;
  JobNodes r;
  r.provider = prov.provider;
  r.allocation = a.id;
  for (size_t i = 0; i < started.size(); ++i) {
    if (!started[i].ok()) {
      Stop(r);
      r.kill_at = Now();
      running_[id] = std::move(r);
      Finish(id, JobState::kProvisioning, JobState::kFailed,
             fmt::format("node {}: {}", i, std::string(started[i].status().message())),
             std::nullopt);
      return;
    }
    const providers::NodeHandle& h = *started[i];
    (void)jobs_.PutNode({id, static_cast<int>(i), prov.provider->name(),
                         i < a.hosts.size() ? a.hosts[i] : "", node_dirs[i], gpus[i], a.id, h.id});
    r.nodes.push_back(h);
    r.node_dirs.push_back(node_dirs[i]);
  }
  running_[id] = std::move(r);
  Finish(id, JobState::kProvisioning, JobState::kRunning,
         fmt::format("{} node(s) started on {}", started.size(), prov.provider->name()),
         std::nullopt);
  if (preempted) Preempt(id, *preempted, /*kill=*/true);
}

void NodeRunner::AfterNodes(int64_t id, const std::vector<std::string>& node_dirs, bool lost) {
  const ActiveJob* job = jobs_.Find(id);
  if (job == nullptr || job->task == nullptr || job->task->storage_mounts.empty()) return;
  const bool ended = store::IsTerminal(job->record.state);
  std::vector<spec::StorageMount> back, drop;
  for (const spec::StorageMount& m : job->task->storage_mounts) {
    if (!lost && storage_.WritesBack(m)) back.push_back(m);
    if (ended && !m.persistent) drop.push_back(m);
  }
  if (back.empty() && drop.empty()) return;
  for (const spec::StorageMount& m : drop) {
    jobs_.Event(id, "storage",
                fmt::format("bucket {} (persistent: false) deleted with the job", m.name));
  }
  workers_.Fire([mounts = job->task->storage_mounts, back, drop, node_dirs, storage = &storage_] {
    for (const spec::StorageMount& m : back) {
      const size_t index =
          static_cast<size_t>(std::find(mounts.begin(), mounts.end(), m) - mounts.begin());
      for (const std::string& dir : node_dirs) {
        if (absl::Status s = storage->WriteBack(m, StorageDir(dir, index)); !s.ok()) {
          spdlog::warn("bucket {}: the last write-back failed: {}", m.name,
                       std::string(s.message()));
        }
      }
    }
    for (const spec::StorageMount& m : drop) {
      // NotFound: never made (the job never started).
      (void)storage->Delete(storage->StoreOf(m), m.name).ok();
    }
  });
}

void NodeRunner::MaybeWriteBack(int64_t id, JobNodes& r) {
  if (r.writing_back || Now() < r.next_write_back) return;
  const ActiveJob* job = jobs_.Find(id);
  if (job == nullptr || job->task == nullptr) return;
  const auto& mounts = job->task->storage_mounts;
  if (std::none_of(mounts.begin(), mounts.end(),
                   [&](const spec::StorageMount& m) { return storage_.WritesBack(m); })) {
    r.next_write_back = INT64_MAX;
    return;
  }
  r.writing_back = true;
  r.next_write_back = Now() + storage_.settings().write_back_ms;
  workers_.Run<bool>(
      [mounts, dirs = r.node_dirs, storage = &storage_] {
        for (size_t i = 0; i < mounts.size(); ++i) {
          if (!storage->WritesBack(mounts[i])) continue;
          for (const std::string& dir : dirs) {
            if (absl::Status s = storage->WriteBack(mounts[i], StorageDir(dir, i)); !s.ok()) {
              spdlog::warn("bucket {}: write-back failed (tried again): {}", mounts[i].name,
                           std::string(s.message()));
            }
          }
        }
        return true;
      },
      [this, id](bool) {
        if (auto it = running_.find(id); it != running_.end()) it->second.writing_back = false;
      });
}

void NodeRunner::Release(providers::Provider* provider, const std::string& allocation) {
  if (provider->QuickCalls()) {
    provider->Release(allocation);
  } else {
    workers_.Fire([provider, allocation] { provider->Release(allocation); });
  }
}

std::optional<std::vector<providers::NodeProbe>> NodeRunner::Probes(int64_t id, JobNodes& r) {
  if (r.provider->QuickCalls()) {
    std::vector<providers::NodeProbe> probes;
    for (size_t i = 0; i < r.nodes.size(); ++i) {
      probes.push_back(r.provider->ProbeNode(r.node_dirs[i], r.nodes[i]));
    }
    return probes;
  }
  if (r.probes) {
    auto probes = std::move(r.probes);
    r.probes.reset();
    return probes;
  }
  if (!r.probing) {
    r.probing = true;
    workers_.Run<std::vector<providers::NodeProbe>>(
        [provider = r.provider, dirs = r.node_dirs, nodes = r.nodes] {
          std::vector<providers::NodeProbe> probes;
          for (size_t i = 0; i < nodes.size(); ++i) {
            probes.push_back(provider->ProbeNode(dirs[i], nodes[i]));
          }
          return probes;
        },
        [this, id](std::vector<providers::NodeProbe> probes) {
          auto it = running_.find(id);
          if (it == running_.end()) return;
          it->second.probing = false;
          it->second.probes = std::move(probes);
        });
  }
  return std::nullopt;
}

void NodeRunner::Signal(const JobNodes& r, int signal) const {
  const auto send = [provider = r.provider, dirs = r.node_dirs, nodes = r.nodes, signal] {
    for (size_t i = 0; i < nodes.size(); ++i) provider->SignalNode(dirs[i], nodes[i], signal);
  };
  if (r.provider->QuickCalls()) {
    send();
  } else {
    workers_.Fire(send);
  }
}

void NodeRunner::Stop(JobNodes& r) {
  Signal(r, SIGTERM);
  r.kill_at = Now() + options_.cancel_grace_ms;
}

// Looks at one running job's nodes and records what happened.
void NodeRunner::Watch(int64_t id, JobNodes& r, const ActiveJob& job,
                       const std::vector<providers::NodeProbe>& probes) {
  const JobState state = job.record.state;
  bool all_exited = true;
  std::optional<int> first_failure;
  int failed_rank = -1;
  std::string gone;
  for (size_t i = 0; i < probes.size(); ++i) {
    const providers::NodeProbe& p = probes[i];
    if (p.state == providers::NodeState::kRunning || p.state == providers::NodeState::kLost) {
      all_exited = false;  // a lost node: its provider's event stops and requeues the job
    } else if (p.state == providers::NodeState::kExited) {
      if (p.exit_code != 0 && !first_failure) {
        first_failure = p.exit_code;
        failed_rank = static_cast<int>(i);
      }
    } else if (gone.empty()) {
      gone = fmt::format("node {}: {}", i, p.detail);
    }
  }
  if (!gone.empty()) {
    Finish(id, state, JobState::kFailed, gone, std::nullopt);
    Stop(r);
  } else if (first_failure) {
    if (auto restart = RestartAfterFailure(job.record, *job.task, *first_failure)) {
      // A managed job restarts: the whole gang stops, is released and placed again.
      restart->reason = fmt::format("node {} exited with code {}; {}", failed_rank, *first_failure,
                                    restart->reason);
      jobs_.Event(id, "recovery", restart->reason);
      r.restart = std::move(restart);
      Stop(r);
      return;
    }
    Finish(id, state, JobState::kFailed,
           fmt::format("node {} exited with code {}", failed_rank, *first_failure), first_failure);
    Stop(r);  // a gang fails together
  } else if (all_exited) {
    Finish(id, state, JobState::kSucceeded, "exit code 0", 0);
    // Released as soon as no process is left. What is still running (srun forwarding the last
    // output, a job's stray background process) gets the grace period to end, then SIGKILL.
    r.kill_at = Now() + options_.cancel_grace_ms;
  }
}

void NodeRunner::Pass(const std::function<void(int64_t, bool)>& released) {
  // Provisioning jobs whose nodes are ready, or that were cancelled meanwhile.
  for (auto it = provisioning_.begin(); it != provisioning_.end();) {
    const int64_t id = it->first;
    const ActiveJob* job = jobs_.Find(id);
    if (job == nullptr || job->record.cancel_requested) {
      Release(it->second.provider, it->second.allocation.id);
      if (job != nullptr) {
        Finish(id, JobState::kProvisioning, JobState::kCancelled, "cancelled while provisioning",
               std::nullopt);
      }
      it = provisioning_.erase(it);
      released(id, false);
      continue;
    }
    if (Now() >= it->second.allocation.ready_at) {
      Provisioning prov = std::move(it->second);
      it = provisioning_.erase(it);
      StartNodes(id, std::move(prov));
      continue;
    }
    ++it;
  }
  // Running and stopping jobs.
  for (auto it = running_.begin(); it != running_.end();) {
    const int64_t id = it->first;
    JobNodes& r = it->second;
    if (!r.kill_at) {
      const ActiveJob* job = jobs_.Find(id);
      if (job != nullptr && job->record.cancel_requested &&
          job->record.state == JobState::kRunning) {
        // A replica is stopped by its service's replica manager (the reason is its event).
        Finish(id, JobState::kRunning, JobState::kCancelled,
               job->record.service_id != 0 ? "stopped by its service (see its events)"
                                           : "cancelled by user",
               std::nullopt);
        Stop(r);
      } else if (job != nullptr) {
        auto probes = Probes(id, r);
        if (!probes) {
          ++it;  // a slow provider is being asked
          continue;
        }
        Watch(id, r, *job, *probes);
        if (!r.kill_at) MaybeWriteBack(id, r);
      }
    }
    if (r.kill_at) {
      auto probes = Probes(id, r);
      if (!probes) {
        ++it;
        continue;
      }
      bool alive = false;
      // Every process of the node, not only its wrapper: a job that traps SIGTERM outlives it.
      for (const providers::NodeProbe& p : *probes) {
        if (p.state == providers::NodeState::kRunning || p.processes_alive) alive = true;
      }
      if (alive && Now() >= *r.kill_at) Signal(r, SIGKILL);
      if (!alive) {
        Release(r.provider, r.allocation);
        bool preempted = r.preempted;
        const bool r_lost = r.preempted;  // a preempted or lost node's disk is gone with it
        const std::vector<std::string> node_dirs = r.node_dirs;
        const std::optional<Restart> restart = std::move(r.restart);
        it = running_.erase(it);
        const ActiveJob* job = jobs_.Find(id);
        if (preempted) {
          Finish(id, JobState::kPreempted, JobState::kRecovering, "nodes released", std::nullopt);
          Finish(id, JobState::kRecovering, JobState::kPending, "queued again after preemption",
                 std::nullopt);
        } else if (restart && job != nullptr && job->record.state == JobState::kRunning) {
          if (job->record.cancel_requested) {
            Finish(id, JobState::kRunning, JobState::kCancelled, "cancelled by user", std::nullopt);
          } else {
            store::Transition t =
                MakeTransition(JobState::kRunning, JobState::kRecovering, restart->reason, Now());
            t.error_restart = restart->counted;
            (void)jobs_.Apply(id, t).ok();
            Finish(id, JobState::kRecovering, JobState::kPending, "queued again to restart",
                   std::nullopt);
            preempted = true;
          }
        }
        AfterNodes(id, node_dirs, /*lost=*/r_lost);
        released(id, preempted);
        continue;
      }
    }
    ++it;
  }
}

bool NodeRunner::Preempt(int64_t id, const std::string& reason, bool kill) {
  if (auto r = running_.find(id); r != running_.end()) {
    const ActiveJob* job = jobs_.Find(id);
    if (r->second.kill_at || job == nullptr || job->record.state != JobState::kRunning) {
      return false;
    }
    Finish(id, JobState::kRunning, JobState::kPreempted, reason, std::nullopt);
    if (kill) {
      Signal(r->second, SIGKILL);
      r->second.kill_at = Now();
    } else {
      Stop(r->second);  // SIGTERM first: a training job may checkpoint in the grace period
    }
    r->second.preempted = true;
    return true;
  }
  if (auto s = starting_.find(id); s != starting_.end()) {
    s->second.preempted = reason;  // its nodes are stopped as soon as they are up
    return true;
  }
  if (auto p = provisioning_.find(id); p != provisioning_.end()) {
    Release(p->second.provider, p->second.allocation.id);
    provisioning_.erase(p);
    Finish(id, JobState::kProvisioning, JobState::kPending, reason, std::nullopt);
    return true;
  }
  return false;
}

int64_t NodeRunner::HolderOf(const providers::Provider* provider,
                             const std::string& allocation) const {
  for (const auto& [id, r] : running_) {
    if (r.provider == provider && r.allocation == allocation && !r.kill_at) return id;
  }
  return 0;
}

}  // namespace awan::controller

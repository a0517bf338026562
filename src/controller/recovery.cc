#include "recovery.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <cmath>

#include "awan/common/text.h"
#include "awan/spec/task_parser.h"

namespace awan::controller {
namespace {

using store::JobRecord;
using store::JobState;
using store::MakeTransition;

// Every job that has not ended, oldest first, page by page.
std::vector<JobRecord> ActiveRecords(store::Store& store) {
  std::vector<JobRecord> all;
  int64_t before = 0;
  for (;;) {
    auto page = store.ListJobs({10000, before, true});
    if (!page.ok()) {
      spdlog::error("recovery: cannot list the jobs to recover: {}",
                    std::string(page.status().message()));
      break;
    }
    if (page->empty()) break;
    before = page->back().id;
    for (JobRecord& j : *page) all.push_back(std::move(j));
  }
  std::reverse(all.begin(), all.end());
  return all;
}

std::vector<int> ParseDevices(const std::string& list) {
  std::vector<int> out;
  for (size_t start = 0; start < list.size();) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    if (auto n = ParseNumber(list.substr(start, comma - start)))
      out.push_back(static_cast<int>(*n));
    start = comma + 1;
  }
  return out;
}

// What the job asked of each node, for a provider booking it again.
providers::Offer OfferOf(const JobRecord& job, const spec::Task& task, size_t devices) {
  providers::Offer offer{job.region, job.zone, job.instance_type, "", 0, false, job.num_nodes};
  const spec::Resources* chosen = task.resources.empty() ? nullptr : &task.resources[0];
  for (const spec::Resources& r : task.resources) {
    if (static_cast<size_t>(r.accelerator_count) == devices) {
      chosen = &r;
      break;
    }
  }
  if (chosen != nullptr) {
    offer.accelerator = chosen->accelerator;
    offer.accelerator_count = chosen->accelerator_count;
    if (chosen->cpus) offer.cpu_millis = std::llround(chosen->cpus->value * 1000);
    if (chosen->memory_gib) offer.memory_mib = std::llround(chosen->memory_gib->value * 1024);
  }
  return offer;
}

}  // namespace

void Recover(ActiveJobs& jobs, NodeRunner& runner, JobQueue& queue, const providers::Fleet& fleet,
             const ControllerOptions& options) {
  const auto now = [&] { return jobs.Now(); };
  const auto move = [&](int64_t id, JobState from, JobState to, const std::string& reason,
                        std::optional<int> code = std::nullopt) {
    store::Transition t = MakeTransition(from, to, reason, now());
    t.exit_code = code;
    return jobs.Apply(id, t).ok();
  };
  for (JobRecord& record : ActiveRecords(jobs.store())) {
    const int64_t id = record.id;
    auto task = spec::ParseTask(record.task_yaml, record.task_source, record.task_base_dir);
    const JobState state = record.state;
    jobs.Insert({std::move(record), nullptr, nullptr, {}});
    ActiveJob& job = *jobs.Find(id);
    if (!task.ok()) {
      // Its task no longer parses here (a workdir that is gone): it cannot run again.
      if (state == JobState::kPending || state == JobState::kRecovering) {
        move(id, state, JobState::kFailed, std::string(task.status().message()));
        continue;
      }
      job.task = std::make_shared<const spec::Task>();
    } else {
      job.task = std::make_shared<const spec::Task>(std::move(*task));
    }
    if (state == JobState::kRecovering) {  // its nodes were released just before the server went
      if (move(id, state, JobState::kPending, "queued again after preemption (server restarted)")) {
        queue.Add(job);
      }
      continue;
    }
    if (state == JobState::kPending) {
      queue.Add(job);
      continue;
    }
    auto nodes = jobs.store().ListNodes(id);
    if (!nodes.ok())
      spdlog::error("job {}: cannot read its nodes: {}", id, std::string(nodes.status().message()));
    JobNodes r;
    providers::Allocation allocation;
    bool any_started = false, any_running = false, any_gone = false, slow = false;
    std::optional<int> failure;
    std::string detail;
    for (const store::NodeRecord& n : nodes.ok() ? *nodes : std::vector<store::NodeRecord>{}) {
      r.provider = fleet.Find(n.provider);
      r.allocation = n.allocation.empty() ? fmt::format("adopted-{}", id) : n.allocation;
      allocation.id = r.allocation;
      allocation.hosts.push_back(n.host);
      allocation.devices.push_back(ParseDevices(n.gpus));
      providers::NodeHandle handle{n.handle};
      if (handle.empty() && r.provider != nullptr) {
        // Started just before a crash, before its handle was stored: the provider may find it.
        if (auto h = r.provider->FindNode(n.workdir)) handle = *h;
      }
      if (handle.empty()) continue;
      any_started = true;
      if (r.provider == nullptr) {
        any_gone = true;
        detail =
            fmt::format("node {}: its provider '{}' is no longer in the fleet", n.rank, n.provider);
        continue;
      }
      if (!r.provider->QuickCalls()) {
        // Asked by the node runner's watch, off the loop: a host that does not answer delays no
        // other job's restart. Until it answers, the node counts as running.
        any_running = true;
        slow = true;
        r.nodes.push_back(handle);
        r.node_dirs.push_back(n.workdir);
        continue;
      }
      const providers::NodeProbe p = r.provider->ProbeNode(n.workdir, handle);
      if (p.state == providers::NodeState::kRunning || p.state == providers::NodeState::kLost) {
        any_running = true;
      } else if (p.state == providers::NodeState::kExited) {
        if (p.exit_code != 0 && !failure) failure = p.exit_code;
      } else {
        any_gone = true;
        detail = fmt::format(
            "node {}: the process died while the server was down; exit status unknown", n.rank);
      }
      r.nodes.push_back(handle);
      r.node_dirs.push_back(n.workdir);
    }
    // Books its allocation again while any of its nodes may live.
    const auto hold = [&] {
      if (r.provider == nullptr) return;
      r.provider->Readopt(
          allocation, OfferOf(job.record, *job.task,
                              allocation.devices.empty() ? 0 : allocation.devices.front().size()));
    };
    const auto signal = [&](int sig) {
      if (r.provider != nullptr) runner.Signal(r, sig);  // off the loop for a slow provider
    };
    if (state == JobState::kPreempted) {
      // Stopped while the server was away, or not yet: its nodes are killed and released, and it
      // is queued again (the node runner's release does both).
      hold();
      signal(SIGKILL);
      r.preempted = true;
      r.kill_at = now();
      runner.Adopt(id, std::move(r));
      continue;
    }
    if (!any_started || r.provider == nullptr) {
      if (state == JobState::kProvisioning && !any_started) {
        if (move(id, state, JobState::kPending,
                 "server restarted before the job started; queued again")) {
          queue.Add(job);
        }
      } else {
        move(id, state, JobState::kFailed,
             detail.empty() ? "no node of the job was found after a server restart" : detail);
      }
      continue;
    }
    JobState current = state;
    if (current == JobState::kProvisioning) {
      move(id, current, JobState::kRunning, "adopted after a server restart");
      current = JobState::kRunning;
    }
    if (slow) {
      jobs.Event(
          id, "recovered",
          fmt::format("node(s) on {} adopted after a server restart; {} is asked how they are",
                      r.provider->name(), r.provider->name()));
    } else if (any_running) {
      jobs.Event(id, "recovered", "running node(s) adopted after a server restart");
    }
    hold();
    if (any_gone) {
      move(id, current, JobState::kFailed, detail);
      signal(SIGTERM);
      r.kill_at = now() + options.cancel_grace_ms;
    } else if (!any_running) {
      if (auto restart =
              failure ? RestartAfterFailure(job.record, *job.task, *failure) : std::nullopt) {
        // A managed job that failed while the server was down restarts as it would have.
        restart->reason = fmt::format("exited with code {} while the server was down; {}", *failure,
                                      restart->reason);
        jobs.Event(id, "recovery", restart->reason);
        r.restart = std::move(restart);
      } else if (failure) {
        move(id, current, JobState::kFailed,
             fmt::format("exited with code {} while the server was down", *failure), failure);
      } else {
        move(id, current, JobState::kSucceeded, "exit code 0 (finished while the server was down)",
             0);
      }
      r.kill_at = now();
    }
    runner.Adopt(id, std::move(r));
    queue.Adopt(job);
  }
}

}  // namespace awan::controller

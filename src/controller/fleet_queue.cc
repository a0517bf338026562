#include "fleet_queue.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "awan/common/text.h"
#include "awan/providers/emulation.h"

namespace awan::controller {

using store::JobState;

bool ForTheScheduler(const spec::Task& task) {
  return std::any_of(task.resources.begin(), task.resources.end(),
                     [](const spec::Resources& r) { return !r.accelerator.empty(); });
}

absl::Status CheckSchedulable(const spec::Task& task,
                              const providers::SchedulerSettings& settings) {
  const scheduler::FleetModel& model = *settings.model;
  std::vector<std::string> why;
  for (const spec::Resources& r : task.resources) {
    if (r.accelerator.empty()) continue;
    if (!r.provider.empty() || !r.region.empty() || !r.zone.empty() || !r.instance_type.empty()) {
      return absl::InvalidArgumentError(fmt::format(
          "{}:{}: resources: this server's fleet scheduler chooses where accelerator jobs run "
          "(pools of {}); remove infra/cloud/region/zone/instance_type from the task",
          task.source, r.line, settings.fleet_file));
    }
    // Each accelerator comes in one node size (checked when the config was loaded); jobs take
    // whole nodes.
    const scheduler::Pool* shape = nullptr;
    int most_nodes = 0;
    for (const scheduler::Pool& p : model.pools) {
      if (!EqualsIgnoreCase(p.accelerator, r.accelerator)) continue;
      shape = &p;
      most_nodes = std::max(most_nodes, p.nodes);
    }
    if (shape == nullptr) {
      why.push_back(fmt::format("no pool sells {}", r.accelerator));
    } else if (r.accelerator_count != shape->accelerators_per_node) {
      why.push_back(fmt::format("{} comes in whole nodes of {}: ask for {}:{} per node",
                                shape->accelerator, shape->accelerators_per_node,
                                shape->accelerator, shape->accelerators_per_node));
    } else if (task.num_nodes > most_nodes) {
      why.push_back(
          fmt::format("a gang runs inside one pool, and the largest {} pool has {} nodes (the task "
                      "asks for {})",
                      shape->accelerator, most_nodes, task.num_nodes));
    } else {
      return absl::OkStatus();
    }
  }
  std::vector<std::string> pools;
  for (const scheduler::Pool& p : model.pools) {
    pools.push_back(
        fmt::format("{} ({} × {}:{})", p.name, p.nodes, p.accelerator, p.accelerators_per_node));
  }
  return absl::InvalidArgumentError(fmt::format(
      "{}: the fleet scheduler's pools ({}) cannot hold this task: {}; its pools: {}", task.source,
      settings.fleet_file, JoinLimited(why, why.size()), JoinLimited(pools, 8)));
}

FleetSchedulerQueue::FleetSchedulerQueue(ActiveJobs& jobs, Placer& placer, NodeRunner& runner,
                                         const providers::Fleet& fleet,
                                         const providers::SchedulerSettings& settings)
    : jobs_(jobs),
      placer_(placer),
      runner_(runner),
      fleet_(fleet),
      model_(settings.model),
      policy_(settings.policy),
      fleet_file_(settings.fleet_file),
      sched_(*model_, scheduler::MakePolicy(settings.policy)),
      cpu_only_(jobs, placer) {}

int64_t FleetSchedulerQueue::Seconds() const { return jobs_.Now() / 1000 - model_->start_epoch_s; }

scheduler::JobSpec FleetSchedulerQueue::SpecFor(const ActiveJob& job) const {
  const spec::Task& task = *job.task;
  scheduler::JobSpec spec;
  spec.id = job.record.id;
  spec.team = task.scheduling.team;
  spec.priority = task.scheduling.priority;
  spec.preemptible = task.scheduling.preemptible;
  spec.duration_s = task.scheduling.estimated_duration_s;
  spec.submit_s = job.record.submitted_at / 1000 - model_->start_epoch_s;
  for (const spec::Resources& r : task.resources) {
    if (r.accelerator.empty()) continue;
    // The pools' name for an accelerator (users write h100 or H100).
    std::string name = r.accelerator;
    for (const scheduler::Pool& p : model_->pools) {
      if (EqualsIgnoreCase(p.accelerator, r.accelerator)) {
        name = p.accelerator;
        break;
      }
    }
    scheduler::Need need{name, task.num_nodes, r.accelerator_count};
    const bool seen = std::any_of(
        spec.alternatives.begin(), spec.alternatives.end(), [&](const scheduler::Need& n) {
          return n.accelerator == need.accelerator && n.per_node == need.per_node;
        });
    if (!seen) spec.alternatives.push_back(need);
  }
  return spec;
}

void FleetSchedulerQueue::Add(ActiveJob& job) {
  const int64_t id = job.record.id;
  if (!ForTheScheduler(*job.task)) {
    cpu_only_.Add(job);
    return;
  }
  if (held_.count(id) != 0) return;  // preempted by the scheduler: it waits in its queue already
  to_submit_.insert({placer_.RetryAt(id), id});
}

void FleetSchedulerQueue::Submit(ActiveJob& job) {
  const int64_t id = job.record.id;
  scheduler::JobSpec spec = SpecFor(job);
  jobs_.Event(id, "queued",
              fmt::format("in the fleet scheduler's queue (policy {}, team {}, priority {}{})",
                          policy_, spec.team.empty() ? "-" : spec.team, spec.priority,
                          spec.preemptible ? ", preemptible" : ""));
  sched_.Submit(spec);
  held_[id] = {std::move(spec), false, 0, {}};
}

void FleetSchedulerQueue::Cancelled(int64_t id) {
  cpu_only_.Cancelled(id);
  Forget(id);
  placer_.Forget(id);
}

void FleetSchedulerQueue::Forget(int64_t id) {
  for (auto it = to_submit_.begin(); it != to_submit_.end(); ++it) {
    if (it->second == id) {
      to_submit_.erase(it);
      break;
    }
  }
  starting_.erase(id);
  auto it = held_.find(id);
  if (it == held_.end()) return;
  if (it->second.started) {
    sched_.Finish(id);
  } else {
    (void)sched_.Withdraw(it->second.spec);
  }
  held_.erase(it);
}

void FleetSchedulerQueue::NodesReleased(int64_t id, bool preempted) {
  cpu_only_.NodesReleased(id, preempted);
  auto it = held_.find(id);
  if (it == held_.end()) return;
  const ActiveJob* job = jobs_.Find(id);
  if (job == nullptr || store::IsTerminal(job->record.state)) {
    Forget(id);
  } else if (it->second.started) {
    // Preempted by its provider (spot): it leaves the books and is submitted again (Add).
    sched_.Finish(id);
    held_.erase(it);
  }
  // Else the scheduler preempted it: it already waits in the scheduler's queue.
}

void FleetSchedulerQueue::Adopt(ActiveJob& job) {
  scheduler::JobSpec spec = SpecFor(job);
  if (spec.alternatives.empty()) return;
  const int64_t id = job.record.id;
  const std::vector<scheduler::Pool>& pools = model_->pools;
  for (uint32_t p = 0; p < pools.size(); ++p) {
    if (pools[p].provider != job.record.provider || pools[p].region != job.record.region) continue;
    if (sched_.Adopt(spec, p, Seconds())) {
      held_[id] = {std::move(spec), true, p, {}};
      return;
    }
  }
  jobs_.Event(id, "recovered",
              fmt::format("no pool of {} has room for it in {} {}; it runs outside the "
                          "scheduler's books",
                          fleet_file_, job.record.provider, job.record.region));
}

void FleetSchedulerQueue::StartScheduled(int64_t id) {
  auto found = held_.find(id);
  if (found == held_.end()) {
    starting_.erase(id);
    return;
  }
  Held& q = found->second;
  for (int64_t victim : q.victims) {
    if (runner_.Holds(victim)) return;  // its nodes are still going
  }
  q.victims.clear();
  starting_.erase(id);
  ActiveJob* job = jobs_.Find(id);
  if (job == nullptr || job->record.state != JobState::kPending) return;
  std::string why;
  const Placer::Outcome o = placer_.PlaceInPool(
      *job, model_->pools[q.pool], why,
      [this, id](Placer::Outcome o, const std::string& why) { Placed(id, o, why); });
  Placed(id, o, why);
}

// What provisioning a job the scheduler started gave (now, or when a slow provider answered).
void FleetSchedulerQueue::Placed(int64_t id, Placer::Outcome outcome, const std::string& why) {
  auto it = held_.find(id);
  switch (outcome) {
    case Placer::Outcome::kProvisioned:
      // The scheduler took it back while its provider was asked (an outage, a preemption).
      if (it == held_.end() || !it->second.started) {
        runner_.Preempt(id, "queued again by the fleet scheduler while it was provisioned",
                        /*kill=*/true);
      }
      return;
    case Placer::Outcome::kFailed:
      Forget(id);
      return;
    case Placer::Outcome::kInFlight:
      return;
    default:
      if (it != held_.end()) Requeue(id, why);
  }
}

// The scheduler started the job in a pool whose provider would not take it: it goes back to the
// scheduler's queue after a backoff, and the scheduler chooses again.
void FleetSchedulerQueue::Requeue(int64_t id, const std::string& why) {
  const scheduler::Pool& pool = model_->pools[held_.at(id).pool];
  const int64_t wait = placer_.NextBackoff(id);
  jobs_.Event(
      id, "retry",
      fmt::format("pool {} ({} {}) could not take it: {}; back in the scheduler's queue in "
                  "{:.1f} s",
                  pool.name, pool.provider, pool.region, why, static_cast<double>(wait) / 1000));
  sched_.Finish(id);
  held_.erase(id);
  to_submit_.insert({placer_.RetryAt(id), id});
}

void FleetSchedulerQueue::StopForScheduler(int64_t id, const std::string& reason) {
  starting_.erase(id);
  if (runner_.Preempt(id, reason, /*kill=*/false)) return;
  if (const ActiveJob* job = jobs_.Find(id);
      job != nullptr && job->record.state == JobState::kPending) {
    jobs_.Event(id, "preempted", reason + " (before it started)");
  }
}

// Emulated outages (`awan sim outage`) take the scheduler's pools there down: the jobs on them are
// stopped and queued again, and nothing new is placed there until the outage ends.
void FleetSchedulerQueue::SyncOutages() {
  for (const scheduler::Pool& pool : model_->pools) {
    const providers::Emulation* emulated = fleet_.FindEmulation(pool.provider);
    const bool down = emulated != nullptr && emulated->InOutage(pool.region, jobs_.Now());
    bool& was = down_[{pool.provider, pool.region}];
    if (down == was) continue;
    was = down;
    for (int64_t id : sched_.SetOutage(pool.provider, pool.region, down)) {
      Held& q = held_.at(id);
      q.started = false;
      q.victims.clear();
      StopForScheduler(id, fmt::format("{} {} is down; queued again by the fleet scheduler",
                                       pool.provider, pool.region));
    }
  }
}

void FleetSchedulerQueue::Pass() {
  SyncOutages();
  cpu_only_.Pass();
  while (!to_submit_.empty() && to_submit_.begin()->first <= jobs_.Now()) {
    const int64_t id = to_submit_.begin()->second;
    to_submit_.erase(to_submit_.begin());
    ActiveJob* job = jobs_.Find(id);
    if (job != nullptr && job->record.state == JobState::kPending && held_.count(id) == 0) {
      Submit(*job);
    }
  }
  for (int64_t id : std::vector<int64_t>(starting_.begin(), starting_.end())) StartScheduled(id);
  Schedule();
}

// One pass of the fleet scheduler: carries out its preemptions, then provisions what it started.
void FleetSchedulerQueue::Schedule() {
  const std::vector<scheduler::Decision> decisions = sched_.Schedule(Seconds());
  std::vector<int64_t> victims;  // preempted for the next job started (they come before it)
  for (const scheduler::Decision& d : decisions) {
    Held& q = held_.at(d.job);
    if (d.kind == scheduler::Decision::Kind::kPreempt) {
      q.started = false;
      q.victims.clear();
      victims.push_back(d.job);
      continue;
    }
    const scheduler::Running* found = sched_.running().find(d.job);
    if (found == nullptr) continue;  // started, then preempted later in the same pass: queued
    const scheduler::Running& run = *found;
    q.started = true;
    q.pool = run.placement.pool;
    const scheduler::Pool& pool = model_->pools[q.pool];
    for (int64_t v : victims) {
      StopForScheduler(v, fmt::format("preempted by job {} (priority {}) — fleet scheduler, "
                                      "policy {}",
                                      d.job, q.spec.priority, policy_));
    }
    jobs_.Event(
        d.job, "scheduled",
        fmt::format(
            "pool {} ({} {}, {} × {}:{}), paid {}{}", pool.name, pool.provider, pool.region,
            run.placement.nodes.size(), pool.accelerator, run.placement.per_node,
            scheduler::TierName(run.tier),
            victims.empty() ? "" : fmt::format("; preempted job(s) {}", fmt::join(victims, ", "))));
    q.victims = std::move(victims);
    victims.clear();
    if (const ActiveJob* job = jobs_.Find(d.job);
        job != nullptr && job->record.state == JobState::kPending) {
      starting_.insert(d.job);
      StartScheduled(d.job);
    }
  }
  // Victims of a job that was itself preempted later in the pass: the scheduler requeued them all
  // the same.
  for (int64_t v : victims) {
    StopForScheduler(v, fmt::format("preempted — fleet scheduler, policy {}", policy_));
  }
}

SchedulerSummary FleetSchedulerQueue::Summary() const {
  SchedulerSummary s;
  s.enabled = true;
  s.policy = policy_;
  s.fleet_file = fleet_file_;
  s.queued = sched_.queued();
  s.running = sched_.running().size();
  s.accelerators_total = model_->TotalAccelerators();
  for (const auto& m : sched_.markets()) {
    s.accelerators_in_use += m.in_use[0] + m.in_use[1] + m.in_use[2];
  }
  return s;
}

}  // namespace awan::controller

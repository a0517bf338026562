#include "awan/controller/job_controller.h"

#include <fmt/format.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "awan/common/text.h"
#include "awan/optimizer/optimizer.h"
#include "awan/providers/sim.h"
#include "awan/scheduler/scheduler.h"
#include "awan/spec/task_parser.h"

namespace awan::controller {
namespace {

namespace fs = std::filesystem;
using store::JobRecord;
using store::JobState;
using store::MakeTransition;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// The fleet scheduler inside the controller: its books, and what the controller knows of each job
// it holds. Loop-thread state.
struct JobController::FleetQueue {
  struct Job {
    scheduler::JobSpec spec;
    bool started = false;          // the scheduler started it (else it is in its queue)
    uint32_t pool = 0;             // when started
    std::vector<int64_t> victims;  // jobs preempted for it whose nodes must go before it starts
  };
  FleetQueue(const providers::SchedulerSettings& settings)
      : model(settings.model),
        policy(settings.policy),
        fleet_file(settings.fleet_file),
        sched(*model, scheduler::MakePolicy(settings.policy)) {}
  // Seconds since the fleet file's `start` (the scheduler's clock).
  int64_t Seconds(int64_t now_ms) const { return now_ms / 1000 - model->start_epoch_s; }
  // The pools' name for an accelerator (users write h100 or H100); "" when no pool sells it.
  std::string PoolAccelerator(const std::string& name) const {
    for (const scheduler::Pool& p : model->pools) {
      if (EqualsIgnoreCase(p.accelerator, name)) return p.accelerator;
    }
    return "";
  }

  // The scheduler's view of a job: one alternative per accelerator choice (none: CPU-only).
  scheduler::JobSpec SpecFor(const store::JobRecord& job, const spec::Task& task) const {
    scheduler::JobSpec spec;
    spec.id = job.id;
    spec.team = task.scheduling.team;
    spec.priority = task.scheduling.priority;
    spec.preemptible = task.scheduling.preemptible;
    spec.duration_s = task.scheduling.estimated_duration_s;
    spec.submit_s = Seconds(job.submitted_at);
    for (const spec::Resources& r : task.resources) {
      if (r.accelerator.empty()) continue;
      std::string name = PoolAccelerator(r.accelerator);
      scheduler::Need need{name.empty() ? r.accelerator : name, task.num_nodes,
                           r.accelerator_count};
      const bool seen = std::any_of(
          spec.alternatives.begin(), spec.alternatives.end(), [&](const scheduler::Need& n) {
            return n.accelerator == need.accelerator && n.per_node == need.per_node;
          });
      if (!seen) spec.alternatives.push_back(need);
    }
    return spec;
  }

  std::shared_ptr<const scheduler::FleetModel> model;
  std::string policy, fleet_file;
  scheduler::Scheduler sched;
  std::map<int64_t, Job> jobs;  // every job the scheduler holds, queued or started
  std::map<std::pair<std::string, std::string>, bool> down;  // (provider, region) → in outage
};

JobController::JobController(store::Store& store, providers::LocalResources machine,
                             ControllerOptions options, const providers::Fleet* fleet)
    : store_(store), machine_(std::move(machine)), options_(std::move(options)), fleet_(fleet) {
  gpu_used_.assign(machine_.gpus.size(), false);
  if (fleet_ != nullptr) fleet_catalog_ = fleet_->BuildCatalog();
  if (fleet_ != nullptr && fleet_->scheduler)
    queue_ = std::make_unique<FleetQueue>(*fleet_->scheduler);
  UpdateSummary();
}

JobController::~JobController() { Stop(); }

int64_t JobController::Now() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

std::string JobController::JobDir(int64_t id) const {
  return (fs::path(options_.home) / "jobs" / std::to_string(id)).string();
}
std::string JobController::LogPath(int64_t id) const { return JobDir(id) + "/job.log"; }

absl::StatusOr<JobController::Need> JobController::NeedFor(const spec::Task& task) const {
  std::vector<std::string> why;
  for (const spec::Resources& r : task.resources) {
    const std::string label = spec::AcceleratorLabel(r);
    if (!r.provider.empty() && r.provider != "local") {
      why.push_back(
          fmt::format("{} asks for provider '{}'; this server runs jobs on the local machine "
                      "only (remove `infra`/`cloud`, or use infra: local)",
                      label, r.provider));
      continue;
    }
    Need need;
    need.cpus = r.cpus ? r.cpus->value : 1;
    need.memory_gib = r.memory_gib ? r.memory_gib->value : 0;
    need.gpus = r.accelerator.empty() ? 0 : r.accelerator_count;
    need.gpu_name = r.accelerator;
    const int nodes = task.num_nodes;
    const int matching = static_cast<int>(
        std::count_if(machine_.gpus.begin(), machine_.gpus.end(),
                      [&](const auto& g) { return providers::GpuMatches(g.name, need.gpu_name); }));
    if (need.cpus * nodes > machine_.cpus) {
      why.push_back(fmt::format("{} needs {} CPUs ({} per node × {}); this machine has {}", label,
                                need.cpus * nodes, need.cpus, nodes, machine_.cpus));
    } else if (need.memory_gib * nodes > machine_.memory_gib) {
      why.push_back(fmt::format("{} needs {:.1f} GiB of memory; this machine has {:.1f}", label,
                                need.memory_gib * nodes, machine_.memory_gib));
    } else if (need.gpus * nodes > matching) {
      std::string have = machine_.gpus.empty()
                             ? "no GPUs"
                             : fmt::format("{} × {}", machine_.gpus.size(), machine_.gpus[0].name);
      why.push_back(fmt::format("{} needs {} {} GPU(s) ({} per node × {}); this machine has {}",
                                label, need.gpus * nodes, need.gpu_name, need.gpus, nodes, have));
    } else {
      return need;
    }
  }
  std::string all;
  for (const std::string& w : why) all += (all.empty() ? "" : "; ") + w;
  return absl::InvalidArgumentError("this machine can never run the task: " + all);
}

std::optional<std::vector<int>> JobController::Fit(const Need& need, int nodes) const {
  if (used_cpus_ + need.cpus * nodes > machine_.cpus + 1e-9) return std::nullopt;
  if (used_memory_gib_ + need.memory_gib * nodes > machine_.memory_gib + 1e-9) return std::nullopt;
  std::vector<int> gpus;
  for (size_t i = 0; i < machine_.gpus.size() && static_cast<int>(gpus.size()) < need.gpus * nodes;
       ++i) {
    if (!gpu_used_[i] && providers::GpuMatches(machine_.gpus[i].name, need.gpu_name)) {
      gpus.push_back(static_cast<int>(i));
    }
  }
  if (static_cast<int>(gpus.size()) < need.gpus * nodes) return std::nullopt;
  return gpus;
}

absl::StatusOr<int64_t> JobController::Submit(std::string_view task_yaml, std::string_view source,
                                              const std::string& base_dir, bool retry_until_up) {
  auto task = spec::ParseTask(task_yaml, source, base_dir);
  if (!task.ok()) return task.status();
  for (const auto& [name, value] : task->envs) {
    if (!value) {
      return absl::InvalidArgumentError(
          fmt::format("{}: envs.{} has no value; give it one in the task file", source, name));
    }
  }
  const bool scheduled =
      queue_ && std::any_of(task->resources.begin(), task->resources.end(),
                            [](const spec::Resources& r) { return !r.accelerator.empty(); });
  if (scheduled) {
    if (absl::Status s = CheckSchedulable(*task); !s.ok()) return s;
  }
  auto local = NeedFor(*task);
  if (!local.ok() && !scheduled) {
    if (fleet_ == nullptr) return local.status();
    // Some provider of the fleet must be able to run it, even if none has room right now.
    optimizer::OptimizeOptions o;
    o.top = 1;
    auto ranking = optimizer::Optimize(*task, fleet_catalog_, o);
    if (!ranking.ok()) return ranking.status();
    bool elsewhere = false;
    for (const auto& p : ranking->candidates) elsewhere = elsewhere || p.provider != "local";
    if (!elsewhere) {
      return absl::InvalidArgumentError(
          fmt::format("no provider of the fleet can run this task: {}{}",
                      ranking->infeasible_reason.empty() ? std::string(local.status().message())
                                                         : ranking->infeasible_reason,
                      ranking->infeasible_reason.empty()
                          ? ""
                          : fmt::format(" ({})", std::string(local.status().message()))));
    }
  }
  store::NewJob job{task->name.empty() ? "job" : task->name,
                    task->num_nodes,
                    std::string(task_yaml),
                    std::string(source),
                    base_dir,
                    retry_until_up};
  auto id = store_.CreateJob(job, Now());
  if (!id.ok()) return id;
  // A job's folder is its own: one left by a lost store is never reused (its exit code would be
  // read as this job's).
  std::error_code ec;
  fs::create_directories(fs::path(options_.home) / "jobs", ec);
  if (!fs::create_directory(JobDir(*id), ec)) {
    const std::string why =
        ec ? fmt::format("cannot create its folder {}: {}", JobDir(*id), ec.message())
           : fmt::format("its folder {} already exists (left by an earlier store); move it aside",
                         JobDir(*id));
    Fail(*id, JobState::kPending, why);
    return absl::FailedPreconditionError(fmt::format("job {}: {}", *id, why));
  }
  std::ofstream(LogPath(*id), std::ios::app).close();
  Wake();
  return id;
}

absl::Status JobController::Cancel(int64_t id) {
  absl::Status s = store_.RequestCancel(id, Now());
  if (s.ok()) Wake();
  return s;
}

void JobController::Fail(int64_t id, JobState from, const std::string& reason,
                         std::optional<int> code) {
  Finish(id, from, JobState::kFailed, reason, code);
}

void JobController::Finish(int64_t id, JobState from, JobState to, const std::string& reason,
                           std::optional<int> code) {
  store::Transition t = MakeTransition(from, to, reason, Now());
  t.exit_code = code;
  (void)store_.ApplyTransition(id, t);
}

void JobController::PlaceJob(const JobRecord& job) {
  auto task = spec::ParseTask(job.task_yaml, job.task_source, job.task_base_dir);
  if (!task.ok()) {
    Fail(job.id, JobState::kPending, std::string(task.status().message()));
    return;
  }
  if (fleet_ == nullptr) {
    auto need = NeedFor(*task);
    if (!need.ok()) {
      Fail(job.id, JobState::kPending, std::string(need.status().message()));
      return;
    }
    if (auto gpus = Fit(*need, task->num_nodes)) StartLocal(job, *task, *need, std::move(*gpus));
    return;  // otherwise it waits in PENDING until resources free up
  }
  const int64_t now = Now();
  if (auto r = retry_.find(job.id); r != retry_.end() && r->second.second > now) return;
  optimizer::OptimizeOptions o;
  o.top = 0;
  o.blocklist = blocks_.Active(now);
  auto ranking = optimizer::Optimize(*task, fleet_catalog_, o);
  if (!ranking.ok()) {
    Fail(job.id, JobState::kPending, std::string(ranking.status().message()));
    return;
  }
  std::vector<providers::Attempt>& attempts = attempts_[job.id];
  for (const optimizer::Placement& p : ranking->candidates) {
    if (blocks_.Blocked(p.provider, p.region, p.zone, Now()))
      continue;  // blocked earlier in this walk
    if (p.provider == "local") {
      auto need = NeedFor(*task);
      if (!need.ok()) continue;
      if (auto gpus = Fit(*need, task->num_nodes)) {
        StartLocal(job, *task, *need, std::move(*gpus));
        attempts_.erase(job.id);
      }
      return;  // this machine is the best place: wait for it to free up rather than pay elsewhere
    }
    if (TryProvision(job, *task, p, attempts, /*block_on_capacity=*/true) != TryResult::kFailed)
      return;
  }
  // Nothing could be provisioned anywhere.
  std::string summary = attempts.empty() ? (ranking->infeasible_reason.empty()
                                                ? "every placement is blocked after failures"
                                                : ranking->infeasible_reason)
                                         : fmt::format("{} attempt(s) failed:\n{}", attempts.size(),
                                                       providers::AttemptsTable(attempts));
  if (job.retry_until_up) {
    auto& [retries, next] = retry_[job.id];
    const int64_t wait =
        providers::Backoff(retries++, options_.retry_base_ms, options_.retry_cap_ms);
    next = Now() + wait;
    (void)store_.AddEvent(
        {job.id, Now(), "retry",
         fmt::format("no provider has room; trying again in {:.1f} s (--retry-until-up)",
                     static_cast<double>(wait) / 1000)});
    attempts.clear();
    return;
  }
  Fail(job.id, JobState::kPending, "no placement could be provisioned: " + summary);
  attempts_.erase(job.id);
}

JobController::TryResult JobController::TryProvision(const JobRecord& job, const spec::Task& task,
                                                     const optimizer::Placement& p,
                                                     std::vector<providers::Attempt>& attempts,
                                                     bool block_on_capacity) {
  providers::Provider* provider = fleet_->Find(p.provider);
  if (provider == nullptr) return TryResult::kFailed;
  providers::Offer offer{p.region, p.zone,     p.instance_type, p.accelerator, p.accelerator_count,
                         p.spot,   p.num_nodes};
  for (int tries = 0;; ++tries) {
    providers::ProvisionResult result = provider->Provision(job.id, offer, Now());
    providers::Attempt a{Now(), p.provider, p.region, p.zone, p.instance_type, "ok", ""};
    if (auto* allocation = std::get_if<providers::Allocation>(&result)) {
      attempts.push_back(a);
      (void)store_.AddEvent(
          {job.id, Now(), "attempt", providers::DescribeAttempt(a, attempts.size())});
      store::Transition placed = MakeTransition(
          JobState::kPending, JobState::kProvisioning,
          fmt::format("provisioning {} × {} on {} {}{}", p.num_nodes, p.instance_type, p.provider,
                      p.region, p.zone.empty() ? "" : "/" + p.zone),
          Now());
      placed.provider = p.provider;
      placed.region = p.region;
      placed.zone = p.zone;
      placed.instance_type = p.instance_type;
      if (!store_.ApplyTransition(job.id, placed).ok()) {
        provider->Release(allocation->id);  // cancelled meanwhile: give the nodes back
        attempts_.erase(job.id);
        return TryResult::kJobFailed;
      }
      for (int rank = 0; rank < task.num_nodes; ++rank) {
        (void)store_.PutNode({job.id, rank, p.provider,
                              allocation->hosts[static_cast<size_t>(rank)], 0, 0,
                              fmt::format("{}/node-{}", JobDir(job.id), rank), "", allocation->id});
      }
      provisioning_[job.id] = {provider, *allocation, p.accelerator_count};
      attempts_.erase(job.id);  // `attempts` is this entry: not used after this
      retry_.erase(job.id);
      return TryResult::kProvisioned;
    }
    const auto& error = std::get<providers::ProviderError>(result);
    a.outcome = std::string(providers::ErrorKindName(error.kind));
    a.message = error.message;
    attempts.push_back(a);
    (void)store_.AddEvent(
        {job.id, Now(), "attempt", providers::DescribeAttempt(a, attempts.size())});
    if (error.kind == providers::ErrorKind::kTransient && tries < 2) {
      // The same placement again after a short backoff (50, then 100 ms): transient errors usually
      // are.
      std::this_thread::sleep_for(std::chrono::milliseconds(providers::Backoff(tries, 50, 400)));
      continue;
    }
    if (error.kind == providers::ErrorKind::kInvalidRequest) {
      Fail(job.id, JobState::kPending,
           fmt::format("{} refused the request: {}", p.provider, error.message));
      attempts_.erase(job.id);
      return TryResult::kJobFailed;
    }
    if (!block_on_capacity && error.kind == providers::ErrorKind::kCapacityUnavailable)
      return TryResult::kFailed;
    if (auto block = providers::BlockFor(p.provider, offer, error, Now(), options_.block_ms)) {
      blocks_.Add(*block);
    } else {  // transient three times: skip this zone for a little while
      blocks_.Add(
          {p.provider, p.region, p.zone, Now() + options_.retry_base_ms, "transient errors"});
    }
    return TryResult::kFailed;
  }
}

void JobController::StartLocal(const JobRecord& job, const spec::Task& task, const Need& need,
                               std::vector<int> gpus) {
  store::Transition placed =
      MakeTransition(JobState::kPending, JobState::kProvisioning,
                     fmt::format("placed on local/{}", machine_.hostname), Now());
  placed.provider = "local";
  placed.region = "local";
  placed.zone = "";
  placed.instance_type = machine_.hostname;
  if (!store_.ApplyTransition(job.id, placed).ok()) return;  // cancelled meanwhile: next pass

  Running r;
  r.need = need;
  r.num_nodes = task.num_nodes;
  r.gpus = std::move(gpus);
  used_cpus_ += need.cpus * task.num_nodes;
  used_memory_gib_ += need.memory_gib * task.num_nodes;
  for (int g : r.gpus) gpu_used_[static_cast<size_t>(g)] = true;

  std::string ips;
  for (int i = 0; i < task.num_nodes; ++i) ips += (i == 0 ? "" : ",") + std::string("127.0.0.1");
  for (int rank = 0; rank < task.num_nodes; ++rank) {
    providers::NodeSpec spec;
    spec.job_id = job.id;
    spec.rank = rank;
    spec.num_nodes = task.num_nodes;
    spec.node_dir = fmt::format("{}/node-{}", JobDir(job.id), rank);
    spec.log_path = LogPath(job.id);
    spec.workdir = task.workdir;
    spec.setup = task.setup;
    spec.run = task.run;
    for (const auto& [k, v] : task.envs) spec.envs.emplace_back(k, v.value_or(""));
    spec.envs.emplace_back("AWAN_PROVIDER", "local");
    for (int g = 0; g < need.gpus; ++g) {
      spec.gpu_indices.push_back(
          machine_.gpus[static_cast<size_t>(r.gpus[static_cast<size_t>(rank * need.gpus + g)])]
              .index);
    }
    spec.node_ips = ips;
    std::string gpu_list;
    for (int g : spec.gpu_indices) gpu_list += (gpu_list.empty() ? "" : ",") + std::to_string(g);
    // The node's record exists before its process does, so a crash in between is visible.
    (void)store_.PutNode(
        {job.id, rank, "local", machine_.hostname, 0, 0, spec.node_dir, gpu_list, ""});
    auto handle = providers::StartNode(spec);
    if (!handle.ok()) {
      StopNodes(r);
      r.kill_at = Now();
      running_[job.id] = std::move(r);
      Fail(job.id, JobState::kProvisioning,
           fmt::format("node {}: {}", rank, std::string(handle.status().message())));
      return;
    }
    (void)store_.PutNode({job.id, rank, "local", machine_.hostname, handle->pid, handle->pid_start,
                          spec.node_dir, gpu_list, ""});
    r.nodes.push_back(*handle);
    r.node_dirs.push_back(spec.node_dir);
  }
  running_[job.id] = std::move(r);
  (void)store_.ApplyTransition(
      job.id, MakeTransition(JobState::kProvisioning, JobState::kRunning,
                             fmt::format("{} node(s) started", task.num_nodes), Now()));
}

// A provider's nodes are ready: start the workload on each.
void JobController::StartProvisioned(int64_t id) {
  Provisioning prov = provisioning_[id];
  provisioning_.erase(id);
  auto job = store_.GetJob(id);
  auto task = job.ok() ? spec::ParseTask(job->task_yaml, job->task_source, job->task_base_dir)
                       : absl::StatusOr<spec::Task>(job.status());
  Running r;
  r.provider = prov.provider;
  r.allocation = prov.allocation.id;
  if (!task.ok()) {
    prov.provider->Release(prov.allocation.id);
    Fail(id, JobState::kProvisioning, std::string(task.status().message()));
    return;
  }
  r.num_nodes = task->num_nodes;
  std::string ips;
  for (size_t i = 0; i < prov.allocation.hosts.size(); ++i)
    ips += (i == 0 ? "" : ",") + prov.allocation.hosts[i];
  for (int rank = 0; rank < task->num_nodes; ++rank) {
    providers::NodeSpec spec;
    spec.job_id = id;
    spec.rank = rank;
    spec.num_nodes = task->num_nodes;
    spec.node_dir = fmt::format("{}/node-{}", JobDir(id), rank);
    spec.log_path = LogPath(id);
    spec.workdir = task->workdir;
    spec.setup = task->setup;
    spec.run = task->run;
    for (const auto& [k, v] : task->envs) spec.envs.emplace_back(k, v.value_or(""));
    spec.envs.emplace_back("AWAN_PROVIDER", prov.provider->name());
    // The node sees the accelerators of its instance, numbered from 0 as on a real cloud node.
    for (int g = 0; g < prov.accelerators_per_node; ++g) spec.gpu_indices.push_back(g);
    spec.node_ips = ips;
    auto handle = prov.provider->StartNode(prov.allocation, spec);
    if (!handle.ok()) {
      StopNodes(r);
      r.kill_at = Now();
      running_[id] = std::move(r);
      Fail(id, JobState::kProvisioning,
           fmt::format("node {}: {}", rank, std::string(handle.status().message())));
      return;
    }
    (void)store_.PutNode({id, rank, prov.provider->name(),
                          prov.allocation.hosts[static_cast<size_t>(rank)], handle->pid,
                          handle->pid_start, spec.node_dir, "", prov.allocation.id});
    r.nodes.push_back(*handle);
    r.node_dirs.push_back(spec.node_dir);
  }
  running_[id] = std::move(r);
  (void)store_.ApplyTransition(
      id,
      MakeTransition(
          JobState::kProvisioning, JobState::kRunning,
          fmt::format("{} node(s) started on {}", task->num_nodes, prov.provider->name()), Now()));
}

void JobController::ReleaseRunning(int64_t id, Running& r) {
  (void)id;
  if (r.provider != nullptr) {
    r.provider->Release(r.allocation);
    return;
  }
  used_cpus_ -= r.need.cpus * r.num_nodes;
  used_memory_gib_ -= r.need.memory_gib * r.num_nodes;
  for (int g : r.gpus) gpu_used_[static_cast<size_t>(g)] = false;
}

// Preempted allocations (emulated spot preemptions, or `awan sim preempt`): the job is stopped and
// queued again; failover then finds it a new place.
void JobController::HandlePreemptions() {
  if (fleet_ == nullptr) return;
  for (const std::string& name : fleet_->Names()) {
    providers::SimProvider* sim = fleet_->FindSim(name);
    if (sim == nullptr) continue;
    for (const std::string& allocation : sim->TakePreempted(Now())) {
      for (auto& [id, r] : running_) {
        if (r.allocation != allocation || r.kill_at) continue;
        auto job = store_.GetJob(id);
        if (!job.ok() || job->state != JobState::kRunning) continue;
        (void)store_.ApplyTransition(
            id, MakeTransition(JobState::kRunning, JobState::kPreempted,
                               fmt::format("{} preempted allocation {}", name, allocation), Now()));
        Signal(r, SIGKILL);
        r.kill_at = Now();
        r.preempted = true;
      }
    }
  }
}

providers::NodeProbe JobController::Probe(const Running& r, size_t i) const {
  return r.provider != nullptr ? r.provider->ProbeNode(r.node_dirs[i], r.nodes[i])
                               : providers::ProbeNode(r.node_dirs[i], r.nodes[i]);
}

void JobController::Signal(const Running& r, int signal) const {
  for (size_t i = 0; i < r.nodes.size(); ++i) {
    if (r.provider != nullptr) {
      r.provider->SignalNode(r.node_dirs[i], r.nodes[i], signal);
    } else {
      providers::SignalNode(r.nodes[i], signal);
    }
  }
}

void JobController::StopNodes(Running& r) {
  Signal(r, SIGTERM);
  r.kill_at = Now() + options_.cancel_grace_ms;
}

// Looks at one running (or stopping) job's nodes and records what happened.
void JobController::WatchRunning(int64_t id, Running& r, const JobRecord& job) {
  if (r.kill_at) return;  // stopping: handled by the caller
  if (job.state == JobState::kRunning && job.cancel_requested) {
    Finish(id, JobState::kRunning, JobState::kCancelled, "cancelled by user", std::nullopt);
    StopNodes(r);
    return;
  }
  bool all_exited = true;
  std::optional<int> first_failure;
  int failed_rank = -1;
  std::string gone;
  for (size_t i = 0; i < r.nodes.size(); ++i) {
    const providers::NodeProbe p = Probe(r, i);
    if (p.state == providers::NodeState::kRunning) {
      all_exited = false;
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
    Fail(id, job.state, gone);
    StopNodes(r);
  } else if (first_failure) {
    Fail(id, job.state, fmt::format("node {} exited with code {}", failed_rank, *first_failure),
         first_failure);
    StopNodes(r);  // a gang fails together
  } else if (all_exited) {
    Finish(id, job.state, JobState::kSucceeded, "exit code 0", 0);
    r.kill_at = Now();  // nothing left to kill; releases below
  }
}

void JobController::ReconcileOnce() {
  HandlePreemptions();
  if (queue_) SyncOutages();
  // Provisioning jobs whose nodes are ready (or that were cancelled meanwhile).
  for (auto it = provisioning_.begin(); it != provisioning_.end();) {
    const int64_t id = it->first;
    auto job = store_.GetJob(id);
    if (job.ok() && job->cancel_requested) {
      it->second.provider->Release(it->second.allocation.id);
      Finish(id, JobState::kProvisioning, JobState::kCancelled, "cancelled while provisioning",
             std::nullopt);
      it = provisioning_.erase(it);
      Forget(id);
      continue;
    }
    if (Now() >= it->second.allocation.ready_at) {
      ++it;
      StartProvisioned(id);
      continue;
    }
    ++it;
  }
  // Running and stopping jobs.
  for (auto it = running_.begin(); it != running_.end();) {
    Running& r = it->second;
    if (!r.kill_at) {
      auto job = store_.GetJob(it->first);
      if (job.ok()) WatchRunning(it->first, r, *job);
    }
    if (r.kill_at) {
      bool alive = false;
      for (size_t i = 0; i < r.nodes.size(); ++i) {
        // Every process of the node, not only its wrapper: a job that traps SIGTERM outlives it.
        const providers::NodeProbe p = Probe(r, i);
        if (p.state == providers::NodeState::kRunning || p.processes_alive) alive = true;
      }
      if (alive && Now() >= *r.kill_at) Signal(r, SIGKILL);
      if (!alive) {
        ReleaseRunning(it->first, r);
        NodesReleased(it->first);
        if (r.preempted) {
          (void)store_.ApplyTransition(
              it->first,
              MakeTransition(JobState::kPreempted, JobState::kRecovering, "nodes released", Now()));
          (void)store_.ApplyTransition(it->first,
                                       MakeTransition(JobState::kRecovering, JobState::kPending,
                                                      "queued again after preemption", Now()));
        }
        it = running_.erase(it);
        continue;
      }
    }
    ++it;
  }
  // Pending jobs, oldest first (FIFO: a job waiting for this machine is not overtaken).
  auto active = store_.ListJobs({100000, 0, true});
  if (!active.ok()) return;
  std::reverse(active->begin(), active->end());
  for (const JobRecord& job : *active) {
    if (job.state != JobState::kPending) continue;
    if (job.cancel_requested) {
      Finish(job.id, JobState::kPending, JobState::kCancelled, "cancelled before it started",
             std::nullopt);
      attempts_.erase(job.id);
      retry_.erase(job.id);
      Forget(job.id);
      continue;
    }
    if (queue_) {  // the fleet scheduler decides when and where; CPU-only jobs are placed directly
      if (auto q = queue_->jobs.find(job.id); q != queue_->jobs.end()) {
        if (q->second.started) StartScheduled(job);
      } else if (auto r = retry_.find(job.id); r == retry_.end() || r->second.second <= Now()) {
        SubmitToScheduler(job);
      }
      continue;
    }
    PlaceJob(job);
    auto now = store_.GetJob(job.id);
    // The head waits for this machine: later jobs do not overtake it.
    if (now.ok() && now->state == JobState::kPending && retry_.count(job.id) == 0) break;
  }
  if (queue_) {
    Schedule();
    UpdateSummary();
  }
}

// One pass of the fleet scheduler: carries out its preemptions, then provisions what it started.
void JobController::Schedule() {
  const std::vector<scheduler::Decision> decisions = queue_->sched.Schedule(queue_->Seconds(Now()));
  std::vector<int64_t> victims;  // preempted for the next job started (they come before it)
  for (const scheduler::Decision& d : decisions) {
    FleetQueue::Job& q = queue_->jobs.at(d.job);
    if (d.kind == scheduler::Decision::Kind::kPreempt) {
      q.started = false;
      q.victims.clear();
      victims.push_back(d.job);
      continue;
    }
    const scheduler::Running* found = queue_->sched.running().find(d.job);
    if (found == nullptr) continue;  // started, then preempted later in the same pass: still queued
    const scheduler::Running& run = *found;
    q.started = true;
    q.pool = run.placement.pool;
    const scheduler::Pool& pool = queue_->model->pools[q.pool];
    for (int64_t v : victims) {
      StopForScheduler(
          v, fmt::format("preempted by job {} (priority {}) — fleet scheduler, policy {}", d.job,
                         q.spec.priority, queue_->policy));
    }
    (void)store_.AddEvent(
        {d.job, Now(), "scheduled",
         fmt::format("pool {} ({} {}, {} × {}:{}), paid {}{}", pool.name, pool.provider,
                     pool.region, run.placement.nodes.size(), pool.accelerator,
                     run.placement.per_node, scheduler::TierName(run.tier),
                     victims.empty()
                         ? ""
                         : fmt::format("; preempted job(s) {}", fmt::join(victims, ", ")))});
    q.victims = std::move(victims);
    victims.clear();
    if (auto job = store_.GetJob(d.job); job.ok() && job->state == JobState::kPending)
      StartScheduled(*job);
  }
  // Victims of a job that was itself preempted later in the pass: the scheduler requeued them all
  // the same.
  for (int64_t v : victims)
    StopForScheduler(v, fmt::format("preempted — fleet scheduler, policy {}", queue_->policy));
}

// --- The fleet scheduler's side ---------------------------------------------------------------

absl::Status JobController::CheckSchedulable(const spec::Task& task) const {
  const scheduler::FleetModel& model = *queue_->model;
  std::vector<std::string> why;
  for (const spec::Resources& r : task.resources) {
    if (r.accelerator.empty()) continue;
    if (!r.provider.empty() || !r.region.empty() || !r.zone.empty() || !r.instance_type.empty()) {
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: resources: this server's fleet scheduler chooses where accelerator "
                      "jobs run (pools of {}); "
                      "remove infra/cloud/region/zone/instance_type from the task",
                      task.source, r.line, queue_->fleet_file));
    }
    // Each accelerator comes in one node size (checked when the config was loaded); jobs take whole
    // nodes.
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
      queue_->fleet_file, JoinLimited(why, why.size()), JoinLimited(pools, 8)));
}

void JobController::SubmitToScheduler(const JobRecord& job) {
  auto task = spec::ParseTask(job.task_yaml, job.task_source, job.task_base_dir);
  if (!task.ok()) {
    Fail(job.id, JobState::kPending, std::string(task.status().message()));
    return;
  }
  scheduler::JobSpec spec = queue_->SpecFor(job, *task);
  if (spec.alternatives.empty()) {  // CPU-only: not the scheduler's (its books are accelerators)
    PlaceJob(job);
    return;
  }
  if (absl::Status s = CheckSchedulable(*task); !s.ok()) {
    Fail(job.id, JobState::kPending, std::string(s.message()));
    return;
  }
  (void)store_.AddEvent(
      {job.id, Now(), "queued",
       fmt::format("in the fleet scheduler's queue (policy {}, team {}, priority {}{})",
                   queue_->policy, spec.team.empty() ? "-" : spec.team, spec.priority,
                   spec.preemptible ? ", preemptible" : "")});
  queue_->sched.Submit(spec);
  queue_->jobs[job.id] = {std::move(spec), false, 0, {}};
}

void JobController::StartScheduled(const JobRecord& job) {
  FleetQueue::Job& q = queue_->jobs.at(job.id);
  for (int64_t victim : q.victims) {
    if (running_.count(victim) != 0 || provisioning_.count(victim) != 0)
      return;  // its nodes are still going
  }
  q.victims.clear();
  const scheduler::Pool& pool = queue_->model->pools[q.pool];
  auto task = spec::ParseTask(job.task_yaml, job.task_source, job.task_base_dir);
  if (!task.ok()) {
    Fail(job.id, JobState::kPending, std::string(task.status().message()));
    Forget(job.id);
    return;
  }
  if (pool.provider == "local") {
    auto need = NeedFor(*task);
    if (!need.ok()) {
      Requeue(job.id, std::string(need.status().message()));
    } else if (auto gpus = Fit(*need, task->num_nodes)) {
      StartLocal(job, *task, *need, std::move(*gpus));
    } else {
      Requeue(job.id, "this machine has no room for it now");
    }
    return;
  }
  // The pool's provider and region decide; the optimizer ranks that region's matching offerings.
  optimizer::OptimizeOptions o;
  o.top = 0;
  o.providers = {pool.provider};
  o.blocklist = blocks_.Active(Now());
  auto ranking = optimizer::Optimize(*task, fleet_catalog_, o);
  std::vector<providers::Attempt>& attempts = attempts_[job.id];
  if (ranking.ok()) {
    for (const optimizer::Placement& p : ranking->candidates) {
      if (p.region != pool.region || !EqualsIgnoreCase(p.accelerator, pool.accelerator) ||
          p.accelerator_count != pool.accelerators_per_node ||
          blocks_.Blocked(p.provider, p.region, p.zone, Now())) {
        continue;
      }
      const TryResult tried = TryProvision(job, *task, p, attempts, /*block_on_capacity=*/false);
      if (tried == TryResult::kJobFailed) Forget(job.id);
      if (tried != TryResult::kFailed) return;
    }
  }
  std::string why =
      !ranking.ok() ? std::string(ranking.status().message())
      : attempts.empty()
          ? fmt::format("{} {} offers no node with {} × {} that is not blocked after failures",
                        pool.provider, pool.region, pool.accelerators_per_node, pool.accelerator)
          : fmt::format("{} attempt(s) failed:\n{}", attempts.size(),
                        providers::AttemptsTable(attempts));
  attempts_.erase(job.id);
  Requeue(job.id, why);
}

// The scheduler started the job in a pool whose provider would not take it: it goes back to the
// scheduler's queue after a backoff, and the scheduler chooses again.
void JobController::Requeue(int64_t id, const std::string& why) {
  FleetQueue::Job& q = queue_->jobs.at(id);
  const scheduler::Pool& pool = queue_->model->pools[q.pool];
  auto& [retries, next] = retry_[id];
  const int64_t wait = providers::Backoff(retries++, options_.retry_base_ms, options_.retry_cap_ms);
  next = Now() + wait;
  (void)store_.AddEvent(
      {id, Now(), "retry",
       fmt::format(
           "pool {} ({} {}) could not take it: {}; back in the scheduler's queue in {:.1f} s",
           pool.name, pool.provider, pool.region, why, static_cast<double>(wait) / 1000)});
  queue_->sched.Finish(id);
  queue_->jobs.erase(id);
}

void JobController::Forget(int64_t id) {
  if (!queue_) return;
  auto it = queue_->jobs.find(id);
  if (it == queue_->jobs.end()) return;
  if (it->second.started) {
    queue_->sched.Finish(id);
  } else {
    (void)queue_->sched.Withdraw(it->second.spec);
  }
  queue_->jobs.erase(it);
}

void JobController::NodesReleased(int64_t id) {
  if (!queue_) return;
  auto it = queue_->jobs.find(id);
  if (it == queue_->jobs.end()) return;
  auto job = store_.GetJob(id);
  if (!job.ok() || store::IsTerminal(job->state)) {
    Forget(id);
  } else if (it->second.started) {
    // Preempted by its provider (spot): it leaves the books and is queued again when PENDING.
    queue_->sched.Finish(id);
    queue_->jobs.erase(it);
  }
  // Else the scheduler preempted it: it already waits in the scheduler's queue.
}

void JobController::StopForScheduler(int64_t id, const std::string& reason) {
  auto job = store_.GetJob(id);
  if (!job.ok()) return;
  if (auto r = running_.find(id);
      r != running_.end() && job->state == JobState::kRunning && !r->second.kill_at) {
    (void)store_.ApplyTransition(
        id, MakeTransition(JobState::kRunning, JobState::kPreempted, reason, Now()));
    StopNodes(r->second);  // SIGTERM first: a training job may checkpoint in the grace period
    r->second.preempted = true;
  } else if (auto p = provisioning_.find(id); p != provisioning_.end()) {
    p->second.provider->Release(p->second.allocation.id);
    provisioning_.erase(p);
    (void)store_.ApplyTransition(
        id, MakeTransition(JobState::kProvisioning, JobState::kPending, reason, Now()));
  } else if (job->state == JobState::kPending) {
    (void)store_.AddEvent({id, Now(), "preempted", reason + " (before it started)"});
  }
}

// Emulated outages (`awan sim outage`) take the scheduler's pools there down: the jobs on them are
// stopped and queued again, and nothing new is placed there until the outage ends.
void JobController::SyncOutages() {
  for (const scheduler::Pool& pool : queue_->model->pools) {
    const providers::SimProvider* sim = fleet_->FindSim(pool.provider);
    const bool down = sim != nullptr && sim->InOutage(pool.region, Now());
    bool& was = queue_->down[{pool.provider, pool.region}];
    if (down == was) continue;
    was = down;
    const std::vector<int64_t> requeued = queue_->sched.SetOutage(pool.provider, pool.region, down);
    for (int64_t id : requeued) {
      FleetQueue::Job& q = queue_->jobs.at(id);
      q.started = false;
      q.victims.clear();
      StopForScheduler(id, fmt::format("{} {} is down; queued again by the fleet scheduler",
                                       pool.provider, pool.region));
    }
  }
}

void JobController::AdoptIntoScheduler(int64_t id, const JobRecord& job) {
  auto task = spec::ParseTask(job.task_yaml, job.task_source, job.task_base_dir);
  if (!task.ok()) return;
  scheduler::JobSpec spec = queue_->SpecFor(job, *task);
  if (spec.alternatives.empty()) return;
  const std::vector<scheduler::Pool>& pools = queue_->model->pools;
  for (uint32_t p = 0; p < pools.size(); ++p) {
    if (pools[p].provider != job.provider || pools[p].region != job.region) continue;
    if (queue_->sched.Adopt(spec, p, queue_->Seconds(Now()))) {
      queue_->jobs[id] = {std::move(spec), true, p, {}};
      return;
    }
  }
  (void)store_.AddEvent(
      {id, Now(), "recovered",
       fmt::format("no pool of {} has room for it in {} {}; it runs outside the scheduler's books",
                   queue_->fleet_file, job.provider, job.region)});
}

void JobController::UpdateSummary() {
  SchedulerSummary s;
  if (queue_) {
    s.enabled = true;
    s.policy = queue_->policy;
    s.fleet_file = queue_->fleet_file;
    s.queued = queue_->sched.queued();
    s.running = queue_->sched.running().size();
    s.accelerators_total = queue_->model->TotalAccelerators();
    for (const auto& m : queue_->sched.markets())
      s.accelerators_in_use += m.in_use[0] + m.in_use[1] + m.in_use[2];
  }
  std::lock_guard<std::mutex> lock(mu_);
  summary_ = std::move(s);
}

JobController::SchedulerSummary JobController::scheduler_summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  return summary_;
}

void JobController::Recover() {
  auto active = store_.ListJobs({100000, 0, true});
  if (!active.ok()) return;
  for (const JobRecord& job : *active) {
    if (job.state ==
        JobState::kRecovering) {  // its nodes were released just before the server went
      (void)store_.ApplyTransition(
          job.id, MakeTransition(JobState::kRecovering, JobState::kPending,
                                 "queued again after preemption (server restarted)", Now()));
      continue;
    }
    if (job.state != JobState::kProvisioning && job.state != JobState::kRunning &&
        job.state != JobState::kPreempted) {
      continue;
    }
    auto task = spec::ParseTask(job.task_yaml, job.task_source, job.task_base_dir);
    auto nodes = store_.ListNodes(job.id);
    // Books its resources again: the provider's allocation, or this machine's CPUs, memory and
    // GPUs.
    const auto hold = [&](const Running& r) {
      if (r.provider != nullptr) {
        r.provider->Readopt(r.allocation,
                            {job.region, job.zone, job.instance_type, "", 0, false, job.num_nodes});
        return;
      }
      used_cpus_ += r.need.cpus * r.num_nodes;
      used_memory_gib_ += r.need.memory_gib * r.num_nodes;
      for (int g : r.gpus) gpu_used_[static_cast<size_t>(g)] = true;
    };
    Running r;
    r.num_nodes = job.num_nodes;
    if (task.ok()) {
      if (auto need = NeedFor(*task); need.ok()) r.need = *need;
    }
    bool any_started = false, any_running = false, any_gone = false;
    std::optional<int> failure;
    std::string detail;
    for (const store::NodeRecord& n : nodes.ok() ? *nodes : std::vector<store::NodeRecord>{}) {
      if (n.provider != "local" && fleet_ != nullptr) {
        r.provider = fleet_->Find(n.provider);
        r.allocation = n.allocation;
        r.need = Need{0, 0, 0, ""};
      }
      providers::NodeHandle handle{n.pid, n.pid_start};
      if (handle.pid == 0) {
        // Started just before a crash, before its pid was stored: the wrapper wrote it.
        if (auto h = providers::ReadNodePid(n.workdir)) handle = *h;
      }
      if (handle.pid == 0) continue;
      any_started = true;
      const providers::NodeProbe p = r.provider != nullptr
                                         ? r.provider->ProbeNode(n.workdir, handle)
                                         : providers::ProbeNode(n.workdir, handle);
      if (p.state == providers::NodeState::kRunning) {
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
      if (!n.gpus.empty()) {
        for (size_t start = 0; start < n.gpus.size();) {
          size_t comma = n.gpus.find(',', start);
          if (comma == std::string::npos) comma = n.gpus.size();
          const int index = std::stoi(n.gpus.substr(start, comma - start));
          for (size_t g = 0; g < machine_.gpus.size(); ++g) {
            if (machine_.gpus[g].index == index) r.gpus.push_back(static_cast<int>(g));
          }
          start = comma + 1;
        }
      }
    }
    JobState state = job.state;
    if (state == JobState::kPreempted) {
      // Stopped while the server was away, or not yet: its nodes are killed and released, and it is
      // queued again (the release below does both).
      hold(r);
      Signal(r, SIGKILL);
      r.preempted = true;
      r.kill_at = Now();
      running_[job.id] = std::move(r);
      continue;
    }
    if (!any_started) {
      if (state == JobState::kProvisioning) {
        (void)store_.ApplyTransition(
            job.id, MakeTransition(state, JobState::kPending,
                                   "server restarted before the job started; queued again", Now()));
      } else {
        Fail(job.id, state, "no node of the job was found after a server restart");
      }
      continue;
    }
    if (state == JobState::kProvisioning) {
      (void)store_.ApplyTransition(job.id, MakeTransition(state, JobState::kRunning,
                                                          "adopted after a server restart", Now()));
      state = JobState::kRunning;
    }
    if (any_running) {
      (void)store_.AddEvent(
          {job.id, Now(), "recovered", "running node(s) adopted after a server restart"});
    }
    // Hold its resources while any node lives; WatchRunning settles the rest on the next pass.
    hold(r);
    if (any_gone) {
      Fail(job.id, state, detail);
      StopNodes(r);
    } else if (!any_running) {
      if (failure) {
        Fail(job.id, state, fmt::format("exited with code {} while the server was down", *failure),
             failure);
      } else {
        Finish(job.id, state, JobState::kSucceeded,
               "exit code 0 (finished while the server was down)", 0);
      }
      r.kill_at = Now();
    }
    running_[job.id] = std::move(r);
    if (queue_) AdoptIntoScheduler(job.id, job);
  }
}

absl::Status JobController::Start() {
  Recover();
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void JobController::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JobController::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  wake_cv_.notify_all();
}

void JobController::Loop() {
  while (true) {
    ReconcileOnce();
    std::unique_lock<std::mutex> lock(mu_);
    wake_cv_.wait_for(lock, std::chrono::milliseconds(options_.poll_interval_ms),
                      [this] { return wake_ || stopping_; });
    if (stopping_) return;
    wake_ = false;
  }
}

}  // namespace awan::controller

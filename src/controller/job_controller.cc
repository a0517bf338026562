#include "awan/controller/job_controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <regex>

#include "active_jobs.h"
#include "admission.h"
#include "awan/common/secrets.h"
#include "awan/common/status_macros.h"
#include "awan/spec/task_parser.h"
#include "fleet_queue.h"
#include "job_queue.h"
#include "node_runner.h"
#include "placer.h"
#include "recovery.h"
#include "replica_manager.h"
#include "workers.h"

namespace awan::controller {
namespace {

namespace fs = std::filesystem;
using store::JobState;
using store::MakeTransition;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

JobController::JobController(store::Store& store, providers::LocalResources machine,
                             ControllerOptions options, const providers::Fleet* fleet)
    : store_(store), machine_(std::move(machine)), options_(std::move(options)), fleet_(fleet) {
  if (fleet_ == nullptr) {
    owned_fleet_ = std::make_unique<providers::Fleet>(providers::LocalOnlyFleet(machine_));
    fleet_ = owned_fleet_.get();
  }
  catalog_ = fleet_->BuildCatalog();
  jobs_ = std::make_unique<ActiveJobs>(store_, [this] { return Now(); });
  // Slow providers' calls (ssh, salloc) and backoff waits run here, never on the loop.
  workers_ = std::make_unique<Workers>(4, [this] { Wake(); });
  storage_ = std::make_unique<storage::Storage>(fleet_->storage, options_.home);
  runner_ = std::make_unique<NodeRunner>(*jobs_, *workers_, options_, *storage_);
  placer_ = std::make_unique<Placer>(*jobs_, *runner_, *workers_, *fleet_, catalog_, options_);
  if (fleet_->scheduler) {
    queue_ = std::make_unique<FleetSchedulerQueue>(*jobs_, *placer_, *runner_, *fleet_,
                                                   *fleet_->scheduler);
  } else {
    queue_ = std::make_unique<ArrivalQueue>(*jobs_, *placer_);
  }
  admission_ = std::make_unique<Admission>(*fleet_, catalog_, *storage_, options_.home);
  ReplicaManager::Hooks hooks;
  hooks.create = [this](const ReplicaRequest& req) { return CreateReplica(req); };
  hooks.cancel = [this](int64_t id) { (void)Cancel(id).ok(); };
  hooks.wake = [this] { Wake(); };
  services_ = std::make_unique<ReplicaManager>(*jobs_, *fleet_, options_, std::move(hooks));
  summary_ = queue_->Summary();
}

JobController::~JobController() {
  Stop();
  services_.reset();  // its probe threads first
  workers_.reset();   // before the units whose callbacks it holds
}

int64_t JobController::Now() const { return options_.now_ms ? options_.now_ms() : SystemNowMs(); }

std::string JobController::JobDir(int64_t id) const { return runner_->JobDir(id); }
std::string JobController::LogPath(int64_t id) const { return runner_->LogPath(id); }

absl::StatusOr<int64_t> JobController::Submit(std::string_view task_yaml, std::string_view source,
                                              const std::string& base_dir, bool retry_until_up) {
  ASSIGN_OR_RETURN(std::shared_ptr<const spec::Task> task,
                   admission_->Admit(task_yaml, source, base_dir));
  store::NewJob job{task->name.empty() ? "job" : task->name,
                    task->num_nodes,
                    std::string(task_yaml),
                    std::string(source),
                    base_dir,
                    retry_until_up};
  return CreateJob(std::move(job), std::move(task), {});
}

absl::StatusOr<int64_t> JobController::CreateJob(store::NewJob job,
                                                 std::shared_ptr<const spec::Task> task,
                                                 std::vector<std::string> spread_away_from) {
  ASSIGN_OR_RETURN(const int64_t id, store_.CreateJob(job, Now()));
  // A job's folder is its own: one left by a lost store is never reused (its exit code would be
  // read as this job's).
  std::error_code ec;
  fs::create_directories(fs::path(options_.home) / "jobs", ec);
  if (!fs::create_directory(JobDir(id), ec)) {
    const std::string why =
        ec ? fmt::format("cannot create its folder {}: {}", JobDir(id), ec.message())
           : fmt::format("its folder {} already exists (left by an earlier store); move it aside",
                         JobDir(id));
    RETURN_IF_ERROR(store_.ApplyTransition(
        id, MakeTransition(JobState::kPending, JobState::kFailed, why, Now())));
    return absl::FailedPreconditionError(fmt::format("job {}: {}", id, why));
  }
  std::ofstream(LogPath(id), std::ios::app).close();
  ASSIGN_OR_RETURN(store::JobRecord record, store_.GetJob(id));
  jobs_->PostNew({std::move(record), std::move(task), nullptr, std::move(spread_away_from)});
  Wake();
  return id;
}

absl::StatusOr<int64_t> JobController::CreateReplica(const ReplicaRequest& req) {
  const std::string source = fmt::format("{} (replica of {})", req.source, req.service_name);
  ASSIGN_OR_RETURN(std::shared_ptr<const spec::Task> task,
                   admission_->Admit(req.task_yaml, source, req.base_dir));
  store::NewJob job{req.service_name, 1, req.task_yaml, source, req.base_dir, false};
  job.service_id = req.service_id;
  job.service_version = req.version;
  job.replica_port = req.port;
  return CreateJob(std::move(job), std::move(task), req.spread_away_from);
}

absl::StatusOr<spec::Task> JobController::CheckService(std::string_view yaml,
                                                       std::string_view source,
                                                       const std::string& base_dir,
                                                       const std::string& name) const {
  ASSIGN_OR_RETURN(spec::Task task, spec::ParseTask(yaml, source, base_dir));
  if (!task.service) {
    return absl::InvalidArgumentError(
        fmt::format("{}: has no `service:` section, so it is a job, not a service; run it with "
                    "`awan launch {}`",
                    source, source));
  }
  const std::string& n = name.empty() ? task.name : name;
  static const std::regex kName("[a-z]([a-z0-9-]{0,61}[a-z0-9])?");
  if (n.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: the service needs a name: give `name:` in the file or `--name NAME`", source));
  }
  if (!std::regex_match(n, kName)) {
    return absl::InvalidArgumentError(
        fmt::format("{}: service name '{}' is not valid: use lower-case letters, digits and '-', "
                    "starting with a letter (at most 63)",
                    source, n));
  }
  // Its replicas must be able to run somewhere.
  ASSIGN_OR_RETURN(std::string replica, spec::ReplicaTaskYaml(yaml, n, 1));
  RETURN_IF_ERROR(admission_->Admit(replica, source, base_dir).status());
  task.name = n;
  return task;
}

absl::StatusOr<store::ServiceRecord> JobController::OnLoop(
    std::function<absl::StatusOr<store::ServiceRecord>()> command) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<store::ServiceRecord>>>();
  auto answer = promise->get_future();
  services_->Post([promise, command = std::move(command)] { promise->set_value(command()); });
  if (!thread_.joinable()) ReconcileOnce();  // tests drive the loop by hand
  if (answer.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    return absl::UnavailableError("the controller's loop did not answer within 30 s");
  }
  return answer.get();
}

absl::StatusOr<store::ServiceRecord> JobController::CreateService(std::string_view yaml,
                                                                  std::string_view source,
                                                                  const std::string& base_dir,
                                                                  const std::string& name) {
  ASSIGN_OR_RETURN(spec::Task task, CheckService(yaml, source, base_dir, name));
  store::ServiceRecord record;
  record.name = task.name;
  record.task_yaml = std::string(yaml);
  record.task_source = std::string(source);
  record.task_base_dir = base_dir;
  return OnLoop([this, record]() mutable -> absl::StatusOr<store::ServiceRecord> {
    // The endpoint's port: one no other service has, free on this machine now.
    auto live = store_.ListServices(/*active_only=*/true);
    RETURN_IF_ERROR(live.status());
    for (int tries = 0; tries < 20 && record.port == 0; ++tries) {
      const int port = FreePort();
      if (std::none_of(live->begin(), live->end(),
                       [&](const store::ServiceRecord& s) { return s.port == port; })) {
        record.port = port;
      }
    }
    if (record.port == 0) return absl::UnavailableError("no free port for the endpoint");
    ASSIGN_OR_RETURN(const int64_t id, store_.CreateService(record, Now()));
    services_->Reload(id);
    return store_.GetService(id);
  });
}

absl::StatusOr<store::ServiceRecord> JobController::UpdateService(const std::string& name,
                                                                  std::string_view yaml,
                                                                  std::string_view source,
                                                                  const std::string& base_dir,
                                                                  UpdateMode mode) {
  ASSIGN_OR_RETURN(spec::Task task, CheckService(yaml, source, base_dir, name));
  return OnLoop([this, name, yaml = std::string(yaml), source = std::string(source), base_dir,
                 mode]() -> absl::StatusOr<store::ServiceRecord> {
    ASSIGN_OR_RETURN(store::ServiceRecord record, store_.FindService(name));
    if (record.state == store::ServiceState::kDown ||
        record.state == store::ServiceState::kShuttingDown) {
      return absl::FailedPreconditionError(
          fmt::format("service {} is {}: bring it up again with `awan serve up`", name,
                      store::ServiceStateName(record.state)));
    }
    record.version += 1;
    record.task_yaml = yaml;
    record.task_source = source;
    record.task_base_dir = base_dir;
    record.update_mode = mode == UpdateMode::kBlueGreen ? "blue_green" : "rolling";
    record.state = store::ServiceState::kActive;
    record.reason = fmt::format("updated to version {}", record.version);
    RETURN_IF_ERROR(store_.UpdateService(
        record,
        {record.id, Now(), "update",
         fmt::format("version {} from {} ({})", record.version, source, record.update_mode)}));
    services_->Reload(record.id);
    return store_.GetService(record.id);
  });
}

absl::StatusOr<store::ServiceRecord> JobController::DownService(const std::string& name) {
  return OnLoop([this, name]() -> absl::StatusOr<store::ServiceRecord> {
    ASSIGN_OR_RETURN(store::ServiceRecord record, store_.FindService(name));
    if (record.state == store::ServiceState::kDown) return record;
    if (record.state != store::ServiceState::kShuttingDown) {
      record.state = store::ServiceState::kShuttingDown;
      record.reason = "down requested";
      RETURN_IF_ERROR(store_.UpdateService(record, {record.id, Now(), "state", "down requested"}));
    }
    services_->Reload(record.id);
    return record;
  });
}

std::vector<ServiceView> JobController::Services() const { return services_->Views(); }

absl::StatusOr<std::pair<int64_t, std::string>> JobController::CreateServiceKey(
    const std::string& name, const std::string& label) {
  ASSIGN_OR_RETURN(store::ServiceRecord service, store_.FindService(name));
  if (service.state == store::ServiceState::kDown) {
    return absl::FailedPreconditionError(fmt::format("service {} is down", name));
  }
  const std::string key = NewApiKey();
  if (key.empty()) return absl::InternalError("no randomness for a key");
  ASSIGN_OR_RETURN(const int64_t id,
                   store_.AddServiceKey({0, service.id, label, Sha256Hex(key), Now(), 0}));
  (void)store_.AddServiceEvent({service.id, Now(), "key", fmt::format("API key {} created", id)});
  const int64_t service_id = service.id;
  services_->Post([this, service_id] { services_->Reload(service_id); });
  return std::make_pair(id, key);
}

absl::StatusOr<std::vector<store::ServiceKey>> JobController::ServiceKeys(const std::string& name) {
  ASSIGN_OR_RETURN(store::ServiceRecord service, store_.FindService(name));
  return store_.ListServiceKeys(service.id);
}

absl::Status JobController::RevokeServiceKey(const std::string& name, int64_t key_id) {
  ASSIGN_OR_RETURN(store::ServiceRecord service, store_.FindService(name));
  RETURN_IF_ERROR(store_.RevokeServiceKey(service.id, key_id, Now()));
  (void)store_.AddServiceEvent(
      {service.id, Now(), "key", fmt::format("API key {} revoked", key_id)});
  const int64_t service_id = service.id;
  services_->Post([this, service_id] { services_->Reload(service_id); });
  return absl::OkStatus();
}

void JobController::ReportLoad(const std::string& gateway, std::vector<RouteLoad> routes) {
  services_->ReportLoad(gateway, std::move(routes));
}

void JobController::ProviderBack(const std::string& provider, const std::string& region) {
  services_->Post([this, provider, region] {
    const size_t lifted = placer_->Lift(provider, region);
    if (lifted > 0) {
      spdlog::info("{}{} is back: {} failover block(s) lifted", provider,
                   region.empty() ? "" : "/" + region, lifted);
    }
  });
}

absl::Status JobController::Cancel(int64_t id) {
  RETURN_IF_ERROR(store_.RequestCancel(id, Now()));
  jobs_->PostCancel(id);
  Wake();
  return absl::OkStatus();
}

void JobController::Recover() {
  controller::Recover(*jobs_, *runner_, *queue_, *fleet_, options_);
  services_->Recover();
}

void JobController::ReconcileOnce() {
  // What slow providers answered since the last pass.
  workers_->RunCallbacks();
  // What other threads posted: new jobs, cancel requests.
  ActiveJobs::Inbox inbox = jobs_->TakeInbox();
  for (ActiveJob& job : inbox.added) {
    const int64_t id = job.record.id;
    jobs_->Insert(std::move(job));
    queue_->Add(*jobs_->Find(id));
  }
  for (int64_t id : inbox.cancelled) {
    ActiveJob* job = jobs_->Find(id);
    if (job == nullptr) continue;
    job->record.cancel_requested = true;
    if (job->record.state == JobState::kPending) {
      (void)jobs_
          ->Apply(id, MakeTransition(JobState::kPending, JobState::kCancelled,
                                     "cancelled before it started", Now()))
          .ok();
      queue_->Cancelled(id);
    }
  }
  TakeProviderEvents();
  runner_->Pass([this](int64_t id, bool preempted) {
    queue_->NodesReleased(id, preempted);
    ActiveJob* job = jobs_->Find(id);
    if (preempted && job != nullptr && job->record.state == JobState::kPending) queue_->Add(*job);
  });
  queue_->Pass();
  services_->Pass();
  jobs_->Prune();
  SchedulerSummary summary = queue_->Summary();
  std::lock_guard<std::mutex> lock(mu_);
  summary_ = std::move(summary);
}

// What happened to providers' nodes — spot preemptions, nodes lost, outages, evictions — all lead
// to the same recovery: the job's nodes are stopped and released, and it is queued again.
void JobController::TakeProviderEvents() {
  const int64_t now = Now();
  for (const auto& p : fleet_->providers) {
    providers::Provider* provider = p.get();
    if (provider->QuickCalls()) {
      OnProviderEvents(provider, provider->TakeEvents(now));
    } else if (now >= next_events_[provider] && !events_in_flight_[provider]) {
      // A slow provider is asked from a worker, about once a second.
      next_events_[provider] = now + 1000;
      events_in_flight_[provider] = true;
      workers_->Run<std::vector<providers::NodeEvent>>(
          [provider, now] { return provider->TakeEvents(now); },
          [this, provider](std::vector<providers::NodeEvent> events) {
            events_in_flight_[provider] = false;
            OnProviderEvents(provider, events);
          });
    }
  }
}

void JobController::OnProviderEvents(providers::Provider* provider,
                                     const std::vector<providers::NodeEvent>& events) {
  for (const providers::NodeEvent& e : events) {
    if (const int64_t id = runner_->HolderOf(provider, e.allocation)) {
      runner_->Preempt(id,
                       e.detail.empty()
                           ? fmt::format("{}: node {} ({})", provider->name(),
                                         providers::NodeEventName(e.kind), e.allocation)
                           : e.detail,
                       /*kill=*/true);
    }
  }
}

std::vector<std::string> JobController::ProvidersThatNever(const spec::Task& task,
                                                           std::vector<std::string>& why) const {
  const std::vector<std::string> may = ProvidersThatMayRun(*fleet_, task, why);
  std::vector<std::string> never;
  if (why.empty()) return never;
  for (const std::string& name : fleet_->Names()) {
    if (std::find(may.begin(), may.end(), name) == may.end()) never.push_back(name);
  }
  return never;
}

SchedulerSummary JobController::scheduler_summary() const {
  std::lock_guard<std::mutex> lock(mu_);
  return summary_;
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

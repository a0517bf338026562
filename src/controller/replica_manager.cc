#include "replica_manager.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "awan/spec/task_parser.h"
#include "replica_probe.h"

namespace awan::controller {
namespace {

using store::JobState;
using store::ServiceState;

bool Live(JobState s) { return !store::IsTerminal(s); }

bool TaskUsesSpot(const spec::Task& task) {
  return std::any_of(task.resources.begin(), task.resources.end(),
                     [](const spec::Resources& r) { return r.use_spot; });
}

std::string ReplicaState(const ReplicaView& r, JobState job) {
  if (r.draining) return "SHUTTING_DOWN";
  switch (job) {
    case JobState::kRunning:
      return r.ready ? "READY" : (r.state == "NOT_READY" ? "NOT_READY" : "STARTING");
    default:
      return std::string(store::JobStateName(job));
  }
}

}  // namespace

int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  int port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

ReplicaManager::ReplicaManager(ActiveJobs& jobs, const providers::Fleet& fleet,
                               const ControllerOptions& options, Hooks hooks)
    : jobs_(jobs),
      fleet_(fleet),
      options_(options),
      hooks_(std::move(hooks)),
      probes_(8, hooks_.wake) {}

ReplicaManager::~ReplicaManager() = default;

void ReplicaManager::Load(const store::ServiceRecord& record) {
  Service& s = services_[record.id];
  s.record = record;
  auto task = spec::ParseTask(record.task_yaml, record.task_source, record.task_base_dir);
  if (!task.ok() || !task->service) {
    // Checked when it was stored; a file that no longer parses (its workdir gone) fails it.
    if (record.state == ServiceState::kActive) {
      SetState(s, ServiceState::kFailed,
               task.ok() ? "its task has no service section"
                         : fmt::format("its task no longer loads: {}",
                                       std::string(task.status().message())));
    }
    return;
  }
  s.task = std::make_shared<const spec::Task>(std::move(*task));
  LoadKeys(s);
}

void ReplicaManager::LoadKeys(Service& s) {
  auto keys = jobs_.store().ListServiceKeys(s.record.id);
  if (!keys.ok()) return;  // the last ones stay
  s.key_hashes.clear();
  for (const store::ServiceKey& k : *keys) {
    if (k.revoked_at == 0) s.key_hashes.push_back(k.sha256);
  }
}

void ReplicaManager::Recover() {
  auto services = jobs_.store().ListServices(/*active_only=*/true);
  if (!services.ok()) {
    spdlog::error("services: cannot read them from the store: {}",
                  std::string(services.status().message()));
    return;
  }
  for (const store::ServiceRecord& record : *services) {
    Load(record);
    store::JobQuery q;
    q.active_only = true;
    q.service_id = record.id;
    q.limit = 100000;
    auto replicas = jobs_.store().ListJobs(q);
    if (!replicas.ok()) continue;
    Service& s = services_[record.id];
    for (const store::JobRecord& job : *replicas) {
      Replica r;
      r.id = job.id;
      r.version = job.service_version;
      r.port = job.replica_port;
      r.state = job.state;
      r.draining = job.cancel_requested;
      r.cancel_sent = job.cancel_requested;
      s.replicas[job.id] = r;
    }
    if (!s.replicas.empty()) {
      Event(s, "recovered",
            fmt::format("server restarted: {} replica(s) adopted", s.replicas.size()));
    }
  }
  Publish();
}

void ReplicaManager::Post(std::function<void()> command) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    inbox_.push_back(std::move(command));
  }
  if (hooks_.wake) hooks_.wake();
}

void ReplicaManager::Reload(int64_t id) {
  auto record = jobs_.store().GetService(id);
  if (!record.ok()) return;
  auto it = services_.find(id);
  if (it == services_.end() || it->second.record.task_yaml != record->task_yaml) {
    Load(*record);
  } else {
    it->second.record = *record;
    LoadKeys(it->second);
  }
  if (record->state == ServiceState::kActive) services_[id].ended_before_ready = 0;
  Publish();
}

void ReplicaManager::Event(Service& s, const std::string& type, const std::string& message) {
  if (auto st = jobs_.store().AddServiceEvent({s.record.id, Now(), type, message}); !st.ok()) {
    spdlog::error("service {}: the store did not take a {} event: {}", s.record.name, type,
                  std::string(st.message()));
  }
  spdlog::info("service {}: {}", s.record.name, message);
}

void ReplicaManager::SetState(Service& s, ServiceState state, const std::string& why) {
  store::ServiceRecord next = s.record;
  next.state = state;
  next.reason = why;
  if (state == ServiceState::kDown) next.ended_at = Now();
  const std::string message = fmt::format("{} → {}: {}", store::ServiceStateName(s.record.state),
                                          store::ServiceStateName(state), why);
  if (auto st = jobs_.store().UpdateService(next, {s.record.id, Now(), "state", message});
      !st.ok()) {
    spdlog::error("service {}: the store did not take {}: {}", s.record.name, message,
                  std::string(st.message()));
    return;
  }
  s.record = std::move(next);
  spdlog::info("service {}: {}", s.record.name, message);
}

int ReplicaManager::Desired(const Service& s) const {
  if (!s.task || s.record.state != ServiceState::kActive) return 0;
  const spec::ReplicaPolicy& p = s.task->service->replica_policy;
  if (!p.autoscales()) return p.min_replicas;
  return std::clamp(s.scale.target(), p.min_replicas, p.max_replicas);
}

bool ReplicaManager::HasFallback(const Service& s) const {
  if (!s.task) return false;
  const spec::ReplicaPolicy& p = s.task->service->replica_policy;
  return TaskUsesSpot(*s.task) &&
         (p.base_ondemand_fallback_replicas > 0 || p.dynamic_ondemand_fallback);
}

// SkyServe's fallback: of the replicas wanted, base_ondemand_fallback_replicas run on demand
// always, the rest on spot; with dynamic_ondemand_fallback, one more on demand for each spot
// replica wanted and not ready (launching, preempted, or not to be had), until it is.
ReplicaManager::Mix ReplicaManager::Wanted(const Service& s, int desired, int spot_ready) const {
  const spec::ReplicaPolicy& p = s.task->service->replica_policy;
  Mix m;
  m.on_demand = std::min(p.base_ondemand_fallback_replicas, desired);
  m.spot = desired - m.on_demand;
  if (p.dynamic_ondemand_fallback) m.on_demand += std::max(0, m.spot - spot_ready);
  return m;
}

void ReplicaManager::ReportLoad(const std::string& gateway, std::vector<RouteLoad> routes) {
  const int64_t now = Now();
  std::lock_guard<std::mutex> lock(book_mu_);
  auto& mine = book_[gateway];
  for (RouteLoad& r : routes) {
    auto& samples = mine[r.name];
    samples.emplace_back(now, std::move(r));
    // Keep one sample older than the window, so the window is covered.
    while (samples.size() > 2 && samples[1].first < now - options_.load_window_ms) {
      samples.erase(samples.begin());
    }
  }
  // A gateway not heard from for a window is gone (its requests in flight with it).
  for (auto it = book_.begin(); it != book_.end();) {
    bool fresh = false;
    for (const auto& [route, samples] : it->second) {
      fresh = fresh || (!samples.empty() && samples.back().first >= now - options_.load_window_ms);
    }
    it = fresh ? std::next(it) : book_.erase(it);
  }
}

ReplicaManager::Traffic ReplicaManager::LoadOf(const std::string& route) const {
  const int64_t now = Now();
  Traffic load;
  std::lock_guard<std::mutex> lock(book_mu_);
  for (const auto& [gateway, routes] : book_) {
    auto it = routes.find(route);
    if (it == routes.end() || it->second.empty()) continue;
    const auto& samples = it->second;
    const auto& [t1, last] = samples.back();
    if (t1 < now - 5000) continue;  // this gateway stopped reporting the route
    load.in_flight += last.in_flight;
    load.tokens_in_flight += last.tokens_in_flight;
    load.waiting += last.waiting;
    for (const auto& r : last.replicas) load.replicas[r.id].second += r.in_flight;
    const auto& [t0, first] = samples.front();
    if (t1 <= t0) {  // one report yet: what it says now
      load.signals.in_flight += last.in_flight;
      load.signals.tokens_in_flight += last.tokens_in_flight;
      load.signals.waiting += last.waiting;
      continue;
    }
    // Rates over the window (a counter that went down was reset: a new gateway or replica).
    const double seconds = static_cast<double>(t1 - t0) / 1000.0;
    const auto rate = [&](uint64_t a, uint64_t b) {
      return b >= a ? static_cast<double>(b - a) / seconds : static_cast<double>(b) / seconds;
    };
    load.qps += rate(first.requests_total, last.requests_total);
    // Means over the window: the integrals' increase over its length.
    const auto mean = [&](double a, double b) { return (b >= a ? b - a : b) / seconds; };
    load.signals.in_flight +=
        std::llround(mean(first.request_seconds_total, last.request_seconds_total));
    load.signals.tokens_in_flight +=
        std::llround(mean(first.token_seconds_total, last.token_seconds_total));
    load.signals.waiting += mean(first.waiting_seconds_total, last.waiting_seconds_total);
    load.signals.tokens_per_s += mean(first.tokens_routed_total, last.tokens_routed_total);
    for (const auto& r : last.replicas) {
      uint64_t before = 0;
      for (const auto& f : first.replicas) {
        if (f.id == r.id) before = f.requests_total;
      }
      load.replicas[r.id].first += rate(before, r.requests_total);
    }
  }
  load.signals.qps = load.qps;
  return load;
}

// The shared rule (autoscaler.h) on the gateways' reports; each change is an event.
void ReplicaManager::Autoscale(Service& s, const Traffic& load) {
  if (!s.task || s.record.state != ServiceState::kActive) return;
  const spec::ReplicaPolicy& p = s.task->service->replica_policy;
  if (!p.autoscales()) return;
  const ScaleNeed need = DesiredReplicas(p, load.signals);
  int from = 0;
  if (s.scale.Step(p, Now(), need.replicas, &from)) {
    Event(s, "scale",
          fmt::format("scale {} {} → {} replicas: {}", need.replicas > from ? "up" : "down", from,
                      need.replicas, need.why));
  }
}

// Reads each replica's job: its state and placement, and its address once it runs.
void ReplicaManager::Refresh(Service& s) {
  for (auto it = s.replicas.begin(); it != s.replicas.end();) {
    Replica& r = it->second;
    const ActiveJob* job = jobs_.Find(r.id);
    store::JobRecord record;
    if (job != nullptr) {
      record = job->record;
    } else if (auto stored = jobs_.store().GetJob(r.id); stored.ok()) {
      record = std::move(*stored);
    } else {
      ++it;  // posted, not yet taken by the loop
      continue;
    }
    if (job != nullptr && job->task) r.spot = TaskUsesSpot(*job->task);  // adopted ones too
    if (r.state == JobState::kRunning && record.state != JobState::kRunning &&
        Live(record.state)) {  // preempted, its node lost: the controller recovers it
      Event(s, "replica",
            fmt::format("replica {} is {}{}", r.id, store::JobStateName(record.state),
                        record.reason.empty() ? "" : ": " + record.reason));
    }
    r.state = record.state;
    r.provider = record.provider;
    r.region = record.region;
    r.zone = record.zone;
    if (!Live(record.state)) {
      if (!r.draining && !r.ever_ready) ++s.ended_before_ready;
      Event(s, "replica",
            fmt::format("replica {} ended ({}){}", r.id, store::JobStateName(record.state),
                        record.reason.empty() ? "" : ": " + record.reason));
      it = s.replicas.erase(it);
      continue;
    }
    if (record.state != JobState::kRunning) {
      r.ready = false;
      r.host.clear();
    } else if (r.host.empty() || r.running_since != record.started_at) {
      // A new start (the first, or after a recovery): a new process to find and to probe.
      r.running_since = record.started_at;
      r.watched_since = Now();
      r.ready = r.ever_ready = false;
      r.failures = 0;
      r.host.clear();
      auto nodes = jobs_.store().ListNodes(r.id);
      providers::Provider* provider = fleet_.Find(record.provider);
      if (nodes.ok() && !nodes->empty() && provider != nullptr) {
        r.host = provider->ReachableHost(nodes->front().host);
      }
    }
    ++it;
  }
}

void ReplicaManager::Probe(Service& s, Replica& r) {
  if (r.state != JobState::kRunning || r.host.empty() || r.probing || Now() < r.next_probe) return;
  r.probing = true;
  r.next_probe = Now() + options_.probe_interval_ms;
  const int64_t service_id = s.record.id, replica_id = r.id, since = r.running_since;
  probes_.Run<ProbeResult>(
      [host = r.host, port = r.port, probe = s.task->service->readiness_probe] {
        return ProbeReplica(host, port, probe);
      },
      [this, service_id, replica_id, since](ProbeResult result) {
        auto sit = services_.find(service_id);
        if (sit == services_.end()) return;
        Service& s = sit->second;
        auto rit = s.replicas.find(replica_id);
        if (rit == s.replicas.end()) return;
        Replica& r = rit->second;
        r.probing = false;
        if (r.running_since != since || r.state != JobState::kRunning) return;  // a later start
        if (result.ready) {
          r.failures = 0;
          if (!r.ready) {
            Event(s, "replica",
                  fmt::format("replica {} on {}/{} is ready ({}:{})", r.id, r.provider, r.region,
                              r.host, r.port));
          }
          r.ready = r.ever_ready = true;
          s.ended_before_ready = 0;
          return;
        }
        ++r.failures;
        if (r.ready && r.failures >= options_.not_ready_after_failures) {
          r.ready = false;
          r.not_ready_since = Now();
          Event(s, "replica",
                fmt::format("replica {} is not ready: {} probes failed ({})", r.id, r.failures,
                            result.why));
        }
      });
}

void ReplicaManager::Drain(Service& s, Replica& r, const std::string& why) {
  if (r.draining) return;
  r.draining = true;
  r.ready = false;
  // One that takes no traffic can go at once; one that does leaves the routes first.
  r.stop_at = r.ever_ready ? Now() + options_.drain_ms : Now();
  Event(s, "replica", fmt::format("replica {} is taken out: {}", r.id, why));
}

int64_t ReplicaManager::Create(Service& s, int count, bool on_demand) {
  const spec::ServiceSpec& spec = *s.task->service;
  int64_t created = 0;
  for (int i = 0; i < count; ++i) {
    if (Now() < s.retry_create_at) return created;
    // Spread: while the replicas of this version cover fewer providers (regions) than asked,
    // the new one goes elsewhere if it can. One placed where nothing is known yet waits.
    std::set<std::string> providers, regions;
    bool unplaced = false;
    for (const auto& [id, r] : s.replicas) {
      if (r.draining || r.version != s.record.version) continue;
      if (r.provider.empty()) {
        unplaced = true;
        continue;
      }
      providers.insert(r.provider);
      regions.insert(r.provider + "/" + r.region);
    }
    std::vector<std::string> away;
    if (static_cast<int>(providers.size()) < spec.spread.providers) {
      away.insert(away.end(), providers.begin(), providers.end());
    }
    if (static_cast<int>(regions.size()) < spec.spread.regions) {
      away.insert(away.end(), regions.begin(), regions.end());
    }
    if (unplaced && (spec.spread.providers > 1 || spec.spread.regions > 1)) return created;
    const int port = FreePort();
    auto yaml = spec::ReplicaTaskYaml(s.record.task_yaml, s.record.name, port, on_demand);
    if (port == 0 || !yaml.ok()) {
      s.retry_create_at = Now() + 5000;
      Event(s, "replica",
            "cannot make a replica's task: " +
                (yaml.ok() ? std::string("no free port") : yaml.status().ToString()));
      return created;
    }
    ReplicaRequest req{s.record.id,      s.record.name,        s.record.version,       port,
                       std::move(*yaml), s.record.task_source, s.record.task_base_dir, away};
    auto id = hooks_.create(req);
    if (!id.ok()) {
      if (absl::IsInvalidArgument(id.status())) {
        SetState(s, ServiceState::kFailed,
                 fmt::format("a replica cannot run: {}", std::string(id.status().message())));
      } else {
        s.retry_create_at = Now() + 5000;
        Event(s, "replica",
              fmt::format("cannot create a replica: {}", std::string(id.status().message())));
      }
      return created;
    }
    Replica r;
    r.id = *id;
    r.version = s.record.version;
    r.port = port;
    r.spot = !on_demand && TaskUsesSpot(*s.task);
    s.replicas[*id] = r;
    Event(
        s, "replica",
        fmt::format("replica {} created (version {}, port {}{}){}", *id, s.record.version, port,
                    HasFallback(s) ? (r.spot ? ", spot" : ", on demand") : "",
                    away.empty() ? "" : fmt::format("; rather not on {}", fmt::join(away, ", "))));
    created = *id;
  }
  return created;
}

// After an outage the replicas that were there run on the survivors, and the service may cover
// fewer providers (regions) than `spread` asks. Once every replica is ready, one more is created
// away from those covered; where it lands elsewhere and becomes ready, a replica of the most
// crowded provider goes. Where it lands on a covered one (the others still down or full), it goes
// at once and the next try waits (10 s, doubling to 10 min).
void ReplicaManager::Respread(Service& s, std::vector<Replica*>& current) {
  const spec::ServiceSpec& spec = *s.task->service;
  if (spec.spread.providers <= 1 && spec.spread.regions <= 1) return;
  const int64_t now = Now();
  Replica* extra = nullptr;
  if (s.respread_id != 0) {
    auto it = s.replicas.find(s.respread_id);
    if (it == s.replicas.end() || it->second.draining) {
      s.respread_id = 0;  // it ended (failed to start, or was taken out)
    } else {
      extra = &it->second;
      current.erase(std::remove(current.begin(), current.end(), extra), current.end());
    }
  }
  std::map<std::string, std::vector<Replica*>> by_provider, by_region;
  for (Replica* r : current) {
    if (r->provider.empty()) return;
    by_provider[r->provider].push_back(r);
    by_region[r->provider + "/" + r->region].push_back(r);
  }
  const bool short_of_providers = static_cast<int>(by_provider.size()) < spec.spread.providers;
  const bool short_of_regions = static_cast<int>(by_region.size()) < spec.spread.regions;
  if (extra != nullptr) {
    if (extra->provider.empty()) return;  // not placed yet
    const bool again = (short_of_providers && by_provider.count(extra->provider)) ||
                       (!short_of_providers && short_of_regions &&
                        by_region.count(extra->provider + "/" + extra->region));
    if (again) {
      s.respread_backoff_ms =
          std::min<int64_t>(s.respread_backoff_ms == 0 ? 10000 : s.respread_backoff_ms * 2, 600000);
      s.respread_after = now + s.respread_backoff_ms;
      Drain(s, *extra,
            fmt::format("placed on {} again: the spread cannot be restored yet (next try in {} s)",
                        extra->provider, s.respread_backoff_ms / 1000));
      s.respread_id = 0;
      return;
    }
    if (!extra->ready) return;
    // Ready elsewhere: the newest of the most crowded provider (region) goes.
    const auto& groups = short_of_providers ? by_provider : by_region;
    const auto crowded = std::max_element(groups.begin(), groups.end(), [](auto& a, auto& b) {
      return a.second.size() < b.second.size();
    });
    if (crowded != groups.end() && crowded->second.size() > 1) {
      Replica* out = crowded->second.back();
      Drain(s, *out,
            fmt::format("spread restored: replica {} runs on {} {}", extra->id, extra->provider,
                        extra->region));
    }
    s.respread_id = 0;
    s.respread_backoff_ms = 0;
    return;
  }
  if (!short_of_providers && !short_of_regions) return;
  if (now < s.respread_after || current.size() < 2) return;
  for (Replica* r : current) {
    if (!r->ready) return;  // only from a settled service
  }
  // Fewer providers (regions) than asked: try one more replica away from those covered.
  const int64_t id = Create(s, 1);
  if (id != 0) {
    s.respread_id = id;
    Event(s, "replica",
          fmt::format("replica {} is to restore the spread ({} of {} providers, {} of {} regions "
                      "covered)",
                      id, by_provider.size(), spec.spread.providers, by_region.size(),
                      spec.spread.regions));
    return;
  }
  return;
}

void ReplicaManager::Decide(Service& s) {
  if (s.record.state == ServiceState::kShuttingDown) {
    for (auto& [id, r] : s.replicas) Drain(s, r, "the service is going down");
    if (s.replicas.empty()) SetState(s, ServiceState::kDown, "every replica stopped");
    return;
  }
  if (s.record.state != ServiceState::kActive || !s.task) return;
  const spec::ServiceSpec& spec = *s.task->service;
  const int64_t now = Now();
  // Replicas that are not healthy go (and are replaced below).
  for (auto& [id, r] : s.replicas) {
    if (r.draining || r.state != JobState::kRunning || r.running_since == 0) continue;
    const double delay_ms = spec.readiness_probe.initial_delay_s * 1000;
    if (!r.ever_ready && now - std::max(r.running_since, r.watched_since) > delay_ms) {
      Drain(s, r,
            fmt::format("not ready within initial_delay_seconds ({:g} s)",
                        spec.readiness_probe.initial_delay_s));
    } else if (r.ever_ready && !r.ready && r.not_ready_since > 0 &&
               now - r.not_ready_since > options_.replace_not_ready_after_ms) {
      Drain(s, r, fmt::format("not ready for {} s", (now - r.not_ready_since) / 1000));
    }
  }
  if (s.ended_before_ready >= options_.failures_before_service_fails) {
    SetState(s, ServiceState::kFailed,
             fmt::format("{} replicas in a row ended before they were ready; see `awan serve "
                         "logs {}`, fix the task and `awan serve update` it",
                         s.ended_before_ready, s.record.name));
    return;
  }
  const int desired = Desired(s);
  std::vector<Replica*> current, old;
  for (auto& [id, r] : s.replicas) {
    if (r.draining) continue;
    (r.version == s.record.version ? current : old).push_back(&r);
  }
  const auto ready = [](const std::vector<Replica*>& v) {
    return static_cast<int>(std::count_if(v.begin(), v.end(), [](Replica* r) { return r->ready; }));
  };
  // A spot service with an on-demand fallback keeps its mix of the two kinds.
  const auto mix = [&] {
    int spot_ready = 0;
    for (Replica* r : current) spot_ready += r->spot && r->ready ? 1 : 0;
    return Wanted(s, desired, spot_ready);
  };
  const auto create = [&](int n) {  // n more of the current version, of the kinds missing
    if (!HasFallback(s)) {
      Create(s, n);
      return;
    }
    int on_demand = 0;
    for (Replica* r : current) on_demand += r->spot ? 0 : 1;
    const int od = std::clamp(mix().on_demand - on_demand, 0, n);
    if (od > 0) Create(s, od, /*on_demand=*/true);
    if (n > od) Create(s, n - od);
  };
  if (old.empty() && HasFallback(s)) {
    std::vector<Replica*> spot, on_demand;
    for (Replica* r : current) (r->spot ? spot : on_demand).push_back(r);
    const Mix want = mix();
    const int base = std::min(spec.replica_policy.base_ondemand_fallback_replicas, desired);
    const auto keep = [&](std::vector<Replica*>& have, int wanted, bool od, const char* why) {
      const int n = static_cast<int>(have.size());
      if (n < wanted) Create(s, wanted - n, od);
      if (n <= wanted) return;
      // Not ready first, then the newest.
      std::stable_sort(have.begin(), have.end(), [](Replica* a, Replica* b) {
        return a->ready != b->ready ? !a->ready : a->id > b->id;
      });
      for (int i = 0; i < n - wanted; ++i) Drain(s, *have[i], why);
    };
    keep(spot, want.spot, false, "fewer replicas wanted");
    keep(on_demand, want.on_demand, true,
         want.on_demand == base && static_cast<int>(on_demand.size()) > base && want.spot > 0
             ? "the spot replicas are ready: the on-demand fallback is no longer needed"
             : "fewer replicas wanted");
    return;
  }
  if (old.empty()) {
    Respread(s, current);  // takes its extra replica out of `current`: counted apart
    const int have = static_cast<int>(current.size());
    if (have < desired) Create(s, desired - have);
    if (have > desired) {
      // Fewer wanted: the ones not ready go first, then the newest.
      std::stable_sort(current.begin(), current.end(),
                       [](Replica* a, Replica* b) { return !a->ready && b->ready; });
      for (int i = 0; i < have - desired; ++i) Drain(s, *current[i], "fewer replicas wanted");
    }
    return;
  }
  // An update is under way.
  const bool blue_green = s.record.update_mode == "blue_green";
  const int have = static_cast<int>(current.size());
  const bool new_starting = have > ready(current);
  if (blue_green) {
    if (have < desired) create(desired - have);
    if (ready(current) >= desired) {
      for (Replica* r : old) Drain(s, *r, fmt::format("version {} is ready", s.record.version));
    }
    return;
  }
  // Rolling: one new replica at a time; an old one goes when the rest still make `desired`.
  if (have < desired && !new_starting) create(1);
  for (Replica* r : old) {
    if (!r->ready) Drain(s, *r, fmt::format("replaced by version {}", s.record.version));
  }
  int ready_now = ready(current) + ready(old);
  for (Replica* r : old) {
    if (r->draining || ready_now - 1 < desired) continue;
    if (ready(current) == 0) break;
    Drain(s, *r, fmt::format("replaced by version {}", s.record.version));
    --ready_now;
  }
  if (have >= desired && ready(current) >= desired) {
    for (Replica* r : old) Drain(s, *r, fmt::format("replaced by version {}", s.record.version));
  }
}

void ReplicaManager::Pass() {
  probes_.RunCallbacks();
  std::vector<std::function<void()>> commands;
  {
    std::lock_guard<std::mutex> lock(mu_);
    commands.swap(inbox_);
  }
  for (auto& command : commands) command();
  for (auto it = services_.begin(); it != services_.end();) {
    Service& s = it->second;
    Refresh(s);
    Autoscale(s, LoadOf(s.record.name));
    Decide(s);
    for (auto& [id, r] : s.replicas) {
      if (r.draining) {
        if (!r.cancel_sent && Now() >= r.stop_at) {
          r.cancel_sent = true;
          hooks_.cancel(r.id);
        }
      } else if (s.task) {
        Probe(s, r);
      }
    }
    if (s.record.state == ServiceState::kDown) {
      it = services_.erase(it);
    } else {
      ++it;
    }
  }
  Publish();
}

void ReplicaManager::Publish() {
  std::vector<ServiceView> views;
  for (const auto& [id, s] : services_) {
    ServiceView v;
    v.record = s.record;
    v.desired = Desired(s);
    const Traffic load = LoadOf(s.record.name);
    v.qps = load.qps;
    v.in_flight = load.in_flight;
    v.tokens_in_flight = load.tokens_in_flight;
    v.waiting = load.waiting;
    const bool tls = s.task && s.task->service->tls;
    v.endpoint =
        fmt::format("{}://{}:{}", tls ? "https" : "http", options_.gateway_host, s.record.port);
    if (tls) {
      v.tls_certfile = s.task->service->tls->certfile;
      v.tls_keyfile = s.task->service->tls->keyfile;
    }
    if (s.task) {
      v.policy = s.task->service->load_balancing_policy;
      v.readiness_path = s.task->service->readiness_probe.path;
      v.api_key = s.task->service->api_key;
      v.fallbacks = s.task->service->fallbacks;
      const spec::ReplicaPolicy& p = s.task->service->replica_policy;
      if (p.autoscales() && p.target_tokens_in_flight_per_replica) {
        v.autoscale_signals.push_back("tokens_in_flight");
      }
      if (p.autoscales() && p.target_waiting_per_replica) v.autoscale_signals.push_back("waiting");
      if (p.autoscales() && p.target_tokens_per_second_per_replica) {
        v.autoscale_signals.push_back("tokens_per_s");
      }
    }
    v.key_hashes = s.key_hashes;
    int ready = 0;
    for (const auto& [rid, r] : s.replicas) {
      ReplicaView rv;
      rv.id = r.id;
      rv.version = r.version;
      rv.provider = r.provider;
      rv.region = r.region;
      rv.zone = r.zone;
      rv.ready = r.ready;
      rv.host = r.host;
      rv.port = r.port;
      rv.draining = r.draining;
      rv.spot = r.spot;
      rv.started_at = r.running_since;
      if (auto l = load.replicas.find(std::to_string(r.id)); l != load.replicas.end()) {
        rv.qps = l->second.first;
        rv.in_flight = l->second.second;
      }
      rv.state = r.ever_ready && !r.ready ? "NOT_READY" : "";
      rv.state = ReplicaState(rv, r.state);
      ready += r.ready ? 1 : 0;
      v.replicas.push_back(std::move(rv));
    }
    switch (s.record.state) {
      case ServiceState::kActive:
        v.status = ready > 0 ? "READY" : (s.replicas.empty() ? "NO_REPLICA" : "REPLICA_INIT");
        break;
      default:
        v.status = std::string(store::ServiceStateName(s.record.state));
    }
    views.push_back(std::move(v));
  }
  std::lock_guard<std::mutex> lock(mu_);
  views_ = std::move(views);
}

std::vector<ServiceView> ReplicaManager::Views() const {
  std::lock_guard<std::mutex> lock(mu_);
  return views_;
}

}  // namespace awan::controller

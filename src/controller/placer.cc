#include "placer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "admission.h"
#include "awan/common/text.h"

namespace awan::controller {
namespace {

using store::JobState;
using store::MakeTransition;

bool IsTransient(const providers::ProvisionResult& r) {
  const auto* e = std::get_if<providers::ProviderError>(&r);
  return e != nullptr && e->kind == providers::ErrorKind::kTransient;
}

}  // namespace

Placer::Placer(ActiveJobs& jobs, NodeRunner& runner, Workers& workers,
               const providers::Fleet& fleet, const catalog::Catalog& catalog,
               const ControllerOptions& options)
    : jobs_(jobs),
      runner_(runner),
      workers_(workers),
      fleet_(fleet),
      catalog_(catalog),
      options_(options) {}

const optimizer::OptimizeResult& Placer::Ranking(ActiveJob& job) {
  if (!job.ranking) {
    optimizer::OptimizeOptions o;
    o.top = 0;  // every placement; blocks are applied during the walk
    std::vector<std::string> never;
    o.providers = ProvidersThatMayRun(fleet_, *job.task, never);
    auto ranking = optimizer::Optimize(*job.task, catalog_, o);
    optimizer::OptimizeResult result;
    if (ranking.ok()) {
      result = std::move(*ranking);
    } else {
      result.infeasible_reason = std::string(ranking.status().message());
    }
    if (!job.spread_away_from.empty()) {
      const auto& away = job.spread_away_from;
      const auto elsewhere = [&](const optimizer::Placement& p) {
        return std::find(away.begin(), away.end(), p.provider) == away.end() &&
               std::find(away.begin(), away.end(), p.provider + "/" + p.region) == away.end();
      };
      std::stable_partition(result.candidates.begin(), result.candidates.end(), elsewhere);
    }
    // A managed job placed again: its recovery strategy says where it goes first.
    const std::optional<spec::JobRecovery> recovery = job.task->job_recovery();
    if (recovery && job.record.recoveries > 0 && !job.record.provider.empty()) {
      const auto lost = [&](const optimizer::Placement& p) {
        return p.provider == job.record.provider && p.region == job.record.region;
      };
      if (recovery->strategy == spec::RecoveryStrategy::kFailover) {
        std::stable_partition(result.candidates.begin(), result.candidates.end(), lost);
      } else {
        std::stable_partition(result.candidates.begin(), result.candidates.end(),
                              [&](const optimizer::Placement& p) { return !lost(p); });
      }
    }
    job.ranking = std::make_shared<const optimizer::OptimizeResult>(std::move(result));
  }
  return *job.ranking;
}

int64_t Placer::NextBackoff(int64_t id) {
  auto& [retries, next] = retry_[id];
  const int64_t wait = providers::Backoff(retries++, options_.retry_base_ms, options_.retry_cap_ms);
  next = Now() + wait;
  return wait;
}

int64_t Placer::RetryAt(int64_t id) const {
  auto it = retry_.find(id);
  return it == retry_.end() ? 0 : it->second.second;
}

int64_t Placer::NextUnblock() const { return blocks_.NextEnd(Now()); }

void Placer::Forget(int64_t id) {
  attempts_.erase(id);
  retry_.erase(id);
  walks_.erase(id);  // an answer still on its way finds no walk: its nodes are given back
}

Placer::Outcome Placer::PlaceAnywhere(ActiveJob& job, Done done) {
  if (walks_.count(job.record.id) == 0 && RetryAt(job.record.id) > Now()) {
    return Outcome::kRetryLater;
  }
  std::string why;
  return Begin(job.record.id, Walk{}, why, std::move(done));
}

Placer::Outcome Placer::PlaceInPool(ActiveJob& job, const scheduler::Pool& pool, std::string& why,
                                    Done done) {
  Walk w;
  w.in_pool = true;
  w.pool = pool;
  return Begin(job.record.id, std::move(w), why, std::move(done));
}

Placer::Outcome Placer::Begin(int64_t id, Walk walk, std::string& why, Done done) {
  if (walks_.count(id) != 0) return Outcome::kInFlight;
  walks_[id] = std::move(walk);
  const Outcome o = Step(id, why);
  if (o == Outcome::kInFlight) {
    walks_[id].done = std::move(done);  // the walk goes on when the answer is back
  } else {
    walks_.erase(id);
  }
  return o;
}

bool Placer::Eligible(const Walk& w, const optimizer::Placement& p) const {
  if (blocks_.Blocked(p.provider, p.region, p.zone, Now())) return false;
  return !w.in_pool || (p.provider == w.pool.provider && p.region == w.pool.region &&
                        EqualsIgnoreCase(p.accelerator, w.pool.accelerator) &&
                        p.accelerator_count == w.pool.accelerators_per_node);
}

providers::Offer Placer::OfferFor(const ActiveJob& job, const optimizer::Placement& p) const {
  providers::Offer offer{p.region, p.zone,     p.instance_type, p.accelerator, p.accelerator_count,
                         p.spot,   p.num_nodes};
  if (p.alternative < job.task->resources.size()) {
    const spec::Resources& r = job.task->resources[p.alternative];
    if (r.cpus) offer.cpu_millis = std::llround(r.cpus->value * 1000);
    if (r.memory_gib) offer.memory_mib = std::llround(r.memory_gib->value * 1024);
  }
  return offer;
}

Placer::Outcome Placer::Step(int64_t id, std::string& why) {
  Walk& w = walks_.at(id);
  ActiveJob* job = jobs_.Find(id);
  if (job == nullptr || job->record.state != JobState::kPending) return Outcome::kFailed;
  const optimizer::OptimizeResult& ranking = Ranking(*job);
  while (w.next < ranking.candidates.size()) {
    const optimizer::Placement p = ranking.candidates[w.next++];
    if (!Eligible(w, p)) continue;
    providers::Provider* provider = fleet_.Find(p.provider);
    if (provider == nullptr) continue;
    const providers::Offer offer = OfferFor(*job, p);
    if (!provider->QuickCalls()) {
      AskLater(id, p, provider, offer, {}, 0);
      return Outcome::kInFlight;
    }
    Results results{provider->Provision(id, offer, Now())};
    if (IsTransient(results.back())) {
      // Transient errors usually are: the same placement again, after 50 then 100 ms, off the loop.
      AskLater(id, p, provider, offer, std::move(results), 50);
      return Outcome::kInFlight;
    }
    switch (Settle(*job, p, provider, results, /*block_on_capacity=*/!w.in_pool)) {
      case Try::kProvisioned:
        return Outcome::kProvisioned;
      case Try::kJobFailed:
        return Outcome::kFailed;
      case Try::kFull:
        // Owned, free capacity is the best place: the job waits for it rather than paying
        // elsewhere (and the jobs behind it wait too).
        if (!w.in_pool) return Outcome::kWaiting;
        w.full = true;
        break;
      case Try::kFailed:
        break;
    }
  }
  // Every placement was tried.
  std::vector<providers::Attempt>& attempts = attempts_[id];
  if (w.in_pool) {
    why = w.full && attempts.empty() ? fmt::format("{} has no room for it now", w.pool.provider)
          : attempts.empty()
              ? (ranking.candidates.empty() && !ranking.infeasible_reason.empty()
                     ? ranking.infeasible_reason
                     : fmt::format("{} {} offers no node with {} × {} that is not blocked after "
                                   "failures",
                                   w.pool.provider, w.pool.region, w.pool.accelerators_per_node,
                                   w.pool.accelerator))
              : fmt::format("{} attempt(s) failed:\n{}", attempts.size(),
                            providers::AttemptsTable(attempts));
    attempts_.erase(id);
    return Outcome::kRetryLater;
  }
  const std::string summary =
      attempts.empty()
          ? (ranking.infeasible_reason.empty() ? "every placement is blocked after failures"
                                               : ranking.infeasible_reason)
          : fmt::format("{} attempt(s) failed:\n{}", attempts.size(),
                        providers::AttemptsTable(attempts));
  if (job->record.retry_until_up) {
    const int64_t wait = NextBackoff(id);
    jobs_.Event(id, "retry",
                fmt::format("no provider has room; trying again in {:.1f} s (--retry-until-up)",
                            static_cast<double>(wait) / 1000));
    attempts.clear();
    return Outcome::kRetryLater;
  }
  attempts_.erase(id);
  (void)jobs_
      .Apply(id, MakeTransition(JobState::kPending, JobState::kFailed,
                                "no placement could be provisioned: " + summary, Now()))
      .ok();
  return Outcome::kFailed;
}

void Placer::AskLater(int64_t id, const optimizer::Placement& p, providers::Provider* provider,
                      const providers::Offer& offer, Results results, int64_t delay_ms) {
  std::function<int64_t()> clock = [this] { return Now(); };
  workers_.Run<Results>(
      [provider, offer, id, results = std::move(results), delay_ms, clock]() mutable {
        int64_t wait = delay_ms;
        for (;;) {
          if (wait > 0) std::this_thread::sleep_for(std::chrono::milliseconds(wait));
          results.push_back(provider->Provision(id, offer, clock()));
          if (!IsTransient(results.back()) || results.size() >= 3) return results;
          wait = providers::Backoff(static_cast<int>(results.size()) - 1, 50, 400);
        }
      },
      [this, id, p, provider](Results results) {
        auto w = walks_.find(id);
        ActiveJob* job = jobs_.Find(id);
        if (w == walks_.end() || job == nullptr || job->record.state != JobState::kPending) {
          // Cancelled or forgotten meanwhile: whatever was provisioned goes back.
          if (auto* a = std::get_if<providers::Allocation>(&results.back())) {
            provider->Release(a->id);
          }
          if (w != walks_.end()) Finish(id, Outcome::kFailed, "");
          return;
        }
        std::string why;
        Outcome o = Outcome::kFailed;
        switch (Settle(*job, p, provider, results, /*block_on_capacity=*/!w->second.in_pool)) {
          case Try::kProvisioned:
            o = Outcome::kProvisioned;
            break;
          case Try::kJobFailed:
            o = Outcome::kFailed;
            break;
          case Try::kFull:
            if (!w->second.in_pool) {
              o = Outcome::kWaiting;
              break;
            }
            w->second.full = true;
            o = Step(id, why);
            break;
          case Try::kFailed:
            o = Step(id, why);
            break;
        }
        if (o != Outcome::kInFlight) Finish(id, o, why);
      });
}

void Placer::Finish(int64_t id, Outcome outcome, const std::string& why) {
  auto it = walks_.find(id);
  if (it == walks_.end()) return;
  Done done = std::move(it->second.done);
  walks_.erase(it);
  if (done) done(outcome, why);
}

Placer::Try Placer::Settle(ActiveJob& job, const optimizer::Placement& p,
                           providers::Provider* provider, const Results& results,
                           bool block_on_capacity) {
  const int64_t id = job.record.id;
  std::vector<providers::Attempt>& attempts = attempts_[id];
  // Owned capacity (this machine) is waited for, not failed over from: its answers are not
  // failover attempts.
  const bool owned = provider->WaitWhenFull();
  const auto attempt = [&](const providers::ProvisionResult& r) {
    providers::Attempt a{Now(), p.provider, p.region, p.zone, p.instance_type, "ok", ""};
    if (const auto* e = std::get_if<providers::ProviderError>(&r)) {
      a.outcome = std::string(providers::ErrorKindName(e->kind));
      a.message = e->message;
    }
    attempts.push_back(a);
    if (!owned || a.outcome != "ok") {
      jobs_.Event(id, "attempt", providers::DescribeAttempt(a, attempts.size()));
    }
  };
  for (size_t i = 0; i + 1 < results.size(); ++i) attempt(results[i]);  // transient tries
  const providers::ProvisionResult& last = results.back();
  if (const auto* allocation = std::get_if<providers::Allocation>(&last)) {
    attempt(last);
    store::Transition placed =
        MakeTransition(JobState::kPending, JobState::kProvisioning,
                       fmt::format("provisioning {} × {} on {} {}{}", p.num_nodes, p.instance_type,
                                   p.provider, p.region, p.zone.empty() ? "" : "/" + p.zone),
                       Now());
    placed.provider = p.provider;
    placed.region = p.region;
    placed.zone = p.zone;
    placed.instance_type = p.instance_type;
    if (!jobs_.Apply(id, placed).ok()) {
      provider->Release(allocation->id);  // not in the store: give the nodes back
      attempts_.erase(id);
      return Try::kJobFailed;
    }
    attempts_.erase(id);  // `attempts` is this entry: not used after this
    retry_.erase(id);
    if (job.record.recoveries > 0) {
      const std::optional<spec::JobRecovery> recovery = job.task->job_recovery();
      jobs_.Event(
          id, "recovery",
          fmt::format("recovery {}: placed on {} {}{} ({}){}", job.record.recoveries, p.provider,
                      p.region, p.zone.empty() ? "" : "/" + p.zone, p.instance_type,
                      recovery ? fmt::format(", strategy {}",
                                             spec::RecoveryStrategyName(recovery->strategy))
                               : ""));
    }
    runner_.Provisioned(id, provider, *allocation, p.accelerator_count);
    job.ranking.reset();  // placed: computed again if it is ever queued again
    return Try::kProvisioned;
  }
  const auto& error = std::get<providers::ProviderError>(last);
  if (owned && error.kind == providers::ErrorKind::kCapacityUnavailable) return Try::kFull;
  attempt(last);
  const providers::Offer offer = OfferFor(job, p);
  switch (providers::ReactionTo(error.kind)) {
    case providers::Reaction::kRetry:
      // Transient three times: skip this zone for a little while.
      blocks_.Add(
          {p.provider, p.region, p.zone, Now() + options_.retry_base_ms, "transient errors"});
      return Try::kFailed;
    case providers::Reaction::kStop:
      attempts_.erase(id);
      (void)jobs_
          .Apply(id,
                 MakeTransition(
                     JobState::kPending, JobState::kFailed,
                     fmt::format("{} refused the request: {}", p.provider, error.message), Now()))
          .ok();
      return Try::kJobFailed;
    default:
      if (!block_on_capacity && error.kind == providers::ErrorKind::kCapacityUnavailable) {
        return Try::kFailed;  // the fleet scheduler chooses again; no block
      }
      if (auto block = providers::BlockFor(p.provider, offer, error, Now(), options_.block_ms)) {
        blocks_.Add(*block);
      }
      return Try::kFailed;
  }
}

}  // namespace awan::controller

#include "placer.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "admission.h"
#include "awan/common/text.h"

namespace awan::controller {
namespace {

using store::JobState;
using store::MakeTransition;

}  // namespace

Placer::Placer(ActiveJobs& jobs, NodeRunner& runner, const providers::Fleet& fleet,
               const catalog::Catalog& catalog, const ControllerOptions& options)
    : jobs_(jobs), runner_(runner), fleet_(fleet), catalog_(catalog), options_(options) {}

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
}

Placer::Outcome Placer::PlaceAnywhere(ActiveJob& job) {
  const int64_t id = job.record.id;
  if (RetryAt(id) > Now()) return Outcome::kRetryLater;
  const optimizer::OptimizeResult& ranking = Ranking(job);
  std::vector<providers::Attempt>& attempts = attempts_[id];
  for (const optimizer::Placement& p : ranking.candidates) {
    if (blocks_.Blocked(p.provider, p.region, p.zone, Now())) continue;
    switch (TryOne(job, p, attempts, /*block_on_capacity=*/true)) {
      case Try::kProvisioned:
        return Outcome::kProvisioned;
      case Try::kJobFailed:
        return Outcome::kFailed;
      case Try::kFull:
        // Owned, free capacity is the best place: the job waits for it rather than paying
        // elsewhere (and the jobs behind it wait too).
        return Outcome::kWaiting;
      case Try::kFailed:
        break;
    }
  }
  // Nothing could be provisioned anywhere.
  const std::string summary =
      attempts.empty()
          ? (ranking.infeasible_reason.empty() ? "every placement is blocked after failures"
                                               : ranking.infeasible_reason)
          : fmt::format("{} attempt(s) failed:\n{}", attempts.size(),
                        providers::AttemptsTable(attempts));
  if (job.record.retry_until_up) {
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

Placer::Outcome Placer::PlaceInPool(ActiveJob& job, const scheduler::Pool& pool, std::string& why) {
  const int64_t id = job.record.id;
  const optimizer::OptimizeResult& ranking = Ranking(job);
  std::vector<providers::Attempt>& attempts = attempts_[id];
  bool full = false;
  for (const optimizer::Placement& p : ranking.candidates) {
    if (p.provider != pool.provider || p.region != pool.region ||
        !EqualsIgnoreCase(p.accelerator, pool.accelerator) ||
        p.accelerator_count != pool.accelerators_per_node ||
        blocks_.Blocked(p.provider, p.region, p.zone, Now())) {
      continue;
    }
    const Try tried = TryOne(job, p, attempts, /*block_on_capacity=*/false);
    if (tried == Try::kProvisioned) return Outcome::kProvisioned;
    if (tried == Try::kJobFailed) return Outcome::kFailed;
    full = full || tried == Try::kFull;
  }
  why = full && attempts.empty() ? fmt::format("{} has no room for it now", pool.provider)
        : attempts.empty()
            ? (ranking.candidates.empty() && !ranking.infeasible_reason.empty()
                   ? ranking.infeasible_reason
                   : fmt::format("{} {} offers no node with {} × {} that is not blocked after "
                                 "failures",
                                 pool.provider, pool.region, pool.accelerators_per_node,
                                 pool.accelerator))
            : fmt::format("{} attempt(s) failed:\n{}", attempts.size(),
                          providers::AttemptsTable(attempts));
  attempts_.erase(id);
  return Outcome::kRetryLater;
}

// One placement, with a few quick retries of transient errors.
Placer::Try Placer::TryOne(ActiveJob& job, const optimizer::Placement& p,
                           std::vector<providers::Attempt>& attempts, bool block_on_capacity) {
  const int64_t id = job.record.id;
  providers::Provider* provider = fleet_.Find(p.provider);
  if (provider == nullptr) return Try::kFailed;
  const spec::Task& task = *job.task;
  providers::Offer offer{p.region, p.zone,     p.instance_type, p.accelerator, p.accelerator_count,
                         p.spot,   p.num_nodes};
  if (p.alternative < task.resources.size()) {
    const spec::Resources& r = task.resources[p.alternative];
    if (r.cpus) offer.cpu_millis = std::llround(r.cpus->value * 1000);
    if (r.memory_gib) offer.memory_mib = std::llround(r.memory_gib->value * 1024);
  }
  // Owned capacity (this machine) is waited for, not failed over from: its answers are not
  // failover attempts.
  const bool owned = provider->WaitWhenFull();
  for (int tries = 0;; ++tries) {
    providers::ProvisionResult result = provider->Provision(id, offer, Now());
    providers::Attempt a{Now(), p.provider, p.region, p.zone, p.instance_type, "ok", ""};
    if (auto* allocation = std::get_if<providers::Allocation>(&result)) {
      attempts.push_back(a);
      if (!owned) jobs_.Event(id, "attempt", providers::DescribeAttempt(a, attempts.size()));
      store::Transition placed = MakeTransition(
          JobState::kPending, JobState::kProvisioning,
          fmt::format("provisioning {} × {} on {} {}{}", p.num_nodes, p.instance_type, p.provider,
                      p.region, p.zone.empty() ? "" : "/" + p.zone),
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
      runner_.Provisioned(id, provider, std::move(*allocation), p.accelerator_count);
      // Placed: computed again if it is ever queued again. `p` points into it: not used after.
      job.ranking.reset();
      return Try::kProvisioned;
    }
    const auto& error = std::get<providers::ProviderError>(result);
    if (owned && error.kind == providers::ErrorKind::kCapacityUnavailable) return Try::kFull;
    a.outcome = std::string(providers::ErrorKindName(error.kind));
    a.message = error.message;
    attempts.push_back(a);
    jobs_.Event(id, "attempt", providers::DescribeAttempt(a, attempts.size()));
    switch (providers::ReactionTo(error.kind)) {
      case providers::Reaction::kRetry:
        if (tries < 2) {
          // The same placement again after a short backoff (50, then 100 ms): transient errors
          // usually are.
          std::this_thread::sleep_for(
              std::chrono::milliseconds(providers::Backoff(tries, 50, 400)));
          continue;
        }
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
}

}  // namespace awan::controller

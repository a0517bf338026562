// The placer: the failover walk. It owns the block list, each job's attempts and its retry state,
// and it alone decides how a provider's error is answered: the same placement again after a short
// wait (transient), the zone, region or provider skipped for a while (capacity, quota, outage,
// auth) and the next placement tried, or the job stopped (the provider refused the request). A
// provider that is owned and free (WaitWhenFull: this machine) is waited for when it is full.
// The loop never waits on a provider: a provider whose calls may be slow (QuickCalls false: ssh,
// slurm) is asked from a worker thread, and so are the waits between transient retries; the walk
// goes on when the answer is back, and the caller hears the outcome through its callback.
// Loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "active_jobs.h"
#include "awan/catalog/catalog.h"
#include "awan/controller/options.h"
#include "awan/providers/failover.h"
#include "awan/providers/fleet.h"
#include "awan/scheduler/fleet_model.h"
#include "node_runner.h"
#include "workers.h"

namespace awan::controller {

class Placer {
 public:
  Placer(ActiveJobs& jobs, NodeRunner& runner, Workers& workers, const providers::Fleet& fleet,
         const catalog::Catalog& catalog, const ControllerOptions& options);

  enum class Outcome {
    kProvisioned,  // PROVISIONING now (its nodes start when ready)
    kWaiting,      // its best placement is owned capacity that is full: it waits for room
    kRetryLater,   // nothing took it; tried again at RetryAt (--retry-until-up), or not due yet
    kFailed,       // FAILED (no placement could be provisioned, or a provider refused it), or gone
    kInFlight,     // a provider is being asked off the loop: `done` tells the outcome later
  };
  // (outcome, why): why = what the pool's walk found, for the fleet scheduler's retry event.
  using Done = std::function<void(Outcome, const std::string&)>;

  // Walks the job's placements over the whole fleet, best first, and provisions the first that
  // takes it.
  Outcome PlaceAnywhere(ActiveJob& job, Done done);
  // Walks the placements in one pool's provider and region that match its node shape (the fleet
  // scheduler chose the pool). kRetryLater with `why` set when none took it; kFailed when a
  // provider refused the request.
  Outcome PlaceInPool(ActiveJob& job, const scheduler::Pool& pool, std::string& why, Done done);

  bool InFlight(int64_t id) const { return walks_.count(id) != 0; }
  // A job that could not start waits this long before its next try (capped backoff).
  int64_t NextBackoff(int64_t id);
  int64_t RetryAt(int64_t id) const;  // 0: no retry pending
  // When the earliest block ends (a placement skipped after a failure may be tried again).
  int64_t NextUnblock() const;
  void Forget(int64_t id);  // the job left PENDING: its attempts and retry state go
  // The provider (region) is back: placements there are tried again at once (BlockList::Lift).
  size_t Lift(std::string_view provider, std::string_view region) {
    return blocks_.Lift(provider, region);
  }

 private:
  enum class Try { kProvisioned, kFailed, kJobFailed, kFull };
  struct Walk {
    bool in_pool = false;
    scheduler::Pool pool;  // in_pool: the pool's provider, region and node shape
    size_t next = 0;       // the next candidate of the job's ranking
    bool full = false;     // owned capacity was full
    Done done;             // set once the walk went off the loop
  };
  using Results = std::vector<providers::ProvisionResult>;  // one per try; the last decides

  Outcome Begin(int64_t id, Walk walk, std::string& why, Done done);
  // Goes on with the job's walk from where it stands; kInFlight when a provider is being asked.
  Outcome Step(int64_t id, std::string& why);
  bool Eligible(const Walk& w, const optimizer::Placement& p) const;
  // Records what the tries of one placement gave: attempts, blocks, the job's transition.
  Try Settle(ActiveJob& job, const optimizer::Placement& p, providers::Provider* provider,
             const Results& results, bool block_on_capacity);
  // Asks `provider` off the loop (tries left, the first after `delay_ms`), then goes on.
  void AskLater(int64_t id, const optimizer::Placement& p, providers::Provider* provider,
                const providers::Offer& offer, Results results, int64_t delay_ms);
  void Finish(int64_t id, Outcome outcome, const std::string& why);
  providers::Offer OfferFor(const ActiveJob& job, const optimizer::Placement& p) const;
  const optimizer::OptimizeResult& Ranking(ActiveJob& job);
  int64_t Now() const { return jobs_.Now(); }

  ActiveJobs& jobs_;
  NodeRunner& runner_;
  Workers& workers_;
  const providers::Fleet& fleet_;
  const catalog::Catalog& catalog_;
  const ControllerOptions& options_;
  providers::BlockList blocks_;
  std::map<int64_t, std::vector<providers::Attempt>> attempts_;  // per PENDING job
  std::map<int64_t, std::pair<int, int64_t>> retry_;             // job → (retries, next try at)
  std::map<int64_t, Walk> walks_;                                // walks under way
};

}  // namespace awan::controller

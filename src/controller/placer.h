// The placer: the failover walk. It owns the block list, each job's attempts and its retry state,
// and it alone decides how a provider's error is answered: the same placement again after a short
// wait (transient), the zone, region or provider skipped for a while (capacity, quota, outage,
// auth) and the next placement tried, or the job stopped (the provider refused the request). A
// provider that is owned and free (WaitWhenFull: this machine) is waited for when it is full.
// Loop thread only.
#pragma once

#include <cstdint>
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

namespace awan::controller {

class Placer {
 public:
  Placer(ActiveJobs& jobs, NodeRunner& runner, const providers::Fleet& fleet,
         const catalog::Catalog& catalog, const ControllerOptions& options);

  enum class Outcome {
    kProvisioned,  // PROVISIONING now (its nodes start when ready)
    kWaiting,      // its best placement is owned capacity that is full: it waits for room
    kRetryLater,   // nothing took it; tried again at RetryAt (--retry-until-up), or not due yet
    kFailed,       // FAILED (no placement could be provisioned, or a provider refused it)
  };
  // Walks the job's placements over the whole fleet, best first, and provisions the first that
  // takes it.
  Outcome PlaceAnywhere(ActiveJob& job);
  // Walks the placements in one pool's provider and region that match its node shape (the fleet
  // scheduler chose the pool). kRetryLater with `why` set when none took it; kFailed when a
  // provider refused the request.
  Outcome PlaceInPool(ActiveJob& job, const scheduler::Pool& pool, std::string& why);

  // A job that could not start waits this long before its next try (capped backoff).
  int64_t NextBackoff(int64_t id);
  int64_t RetryAt(int64_t id) const;  // 0: no retry pending
  // When the earliest block ends (a placement skipped after a failure may be tried again).
  int64_t NextUnblock() const;
  void Forget(int64_t id);  // the job left PENDING: its attempts and retry state go

 private:
  enum class Try { kProvisioned, kFailed, kJobFailed, kFull };
  Try TryOne(ActiveJob& job, const optimizer::Placement& p,
             std::vector<providers::Attempt>& attempts, bool block_on_capacity);
  const optimizer::OptimizeResult& Ranking(ActiveJob& job);
  int64_t Now() const { return jobs_.Now(); }

  ActiveJobs& jobs_;
  NodeRunner& runner_;
  const providers::Fleet& fleet_;
  const catalog::Catalog& catalog_;
  const ControllerOptions& options_;
  providers::BlockList blocks_;
  std::map<int64_t, std::vector<providers::Attempt>> attempts_;  // per PENDING job
  std::map<int64_t, std::pair<int, int64_t>> retry_;             // job → (retries, next try at)
};

}  // namespace awan::controller

// The fleet scheduler as the controller's queue: accelerator jobs wait in awan's fleet scheduler —
// the one `awan simulate` drives — which decides when each starts, in which pool of its fleet file,
// and which running jobs it preempts; the placer then provisions the job in that pool's provider
// and region, and the scheduler is told when its nodes are gone. CPU-only jobs are not the
// scheduler's (its books are accelerators): they are placed in arrival order, as without it.
// Emulated outages
// (`awan sim outage`) take the pools there down: exactly the jobs on them are stopped and queued
// again.
// Loop thread only.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "awan/providers/fleet.h"
#include "awan/scheduler/scheduler.h"
#include "job_queue.h"

namespace awan::controller {

// Whether the scheduler decides where `task` runs: it asks for an accelerator.
bool ForTheScheduler(const spec::Task& task);
// Whether the pools of `settings` can ever hold `task` (InvalidArgument saying why not).
absl::Status CheckSchedulable(const spec::Task& task, const providers::SchedulerSettings& settings);

class FleetSchedulerQueue final : public JobQueue {
 public:
  FleetSchedulerQueue(ActiveJobs& jobs, Placer& placer, NodeRunner& runner,
                      const providers::Fleet& fleet, const providers::SchedulerSettings& settings);
  void Add(ActiveJob& job) override;
  void Cancelled(int64_t id) override;
  void NodesReleased(int64_t id, bool preempted) override;
  void Adopt(ActiveJob& job) override;
  void Pass() override;
  SchedulerSummary Summary() const override;

 private:
  struct Held {
    scheduler::JobSpec spec;
    bool started = false;          // the scheduler started it (else it is in its queue)
    uint32_t pool = 0;             // when started
    std::vector<int64_t> victims;  // jobs preempted for it whose nodes must go before it starts
  };
  int64_t Seconds() const;  // the scheduler's clock: seconds since the fleet file's `start`
  scheduler::JobSpec SpecFor(const ActiveJob& job) const;
  void Submit(ActiveJob& job);
  void StartScheduled(int64_t id);
  void Placed(int64_t id, Placer::Outcome outcome, const std::string& why);
  void Requeue(int64_t id, const std::string& why);
  void Forget(int64_t id);
  void StopForScheduler(int64_t id, const std::string& reason);
  void SyncOutages();
  void Schedule();

  ActiveJobs& jobs_;
  Placer& placer_;
  NodeRunner& runner_;
  const providers::Fleet& fleet_;
  std::shared_ptr<const scheduler::FleetModel> model_;
  std::string policy_, fleet_file_;
  scheduler::Scheduler sched_;
  ArrivalQueue cpu_only_;         // jobs without accelerators
  std::map<int64_t, Held> held_;  // every job the scheduler holds, queued or started
  std::set<std::pair<int64_t, int64_t>> to_submit_;  // (not before, job): waiting to be submitted
  std::set<int64_t> starting_;  // started by the scheduler, not yet provisioned
  std::map<std::pair<std::string, std::string>, bool> down_;  // (provider, region) → in outage
};

}  // namespace awan::controller

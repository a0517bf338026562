// The queue: which PENDING jobs the controller tries to start, and when. One interface, two
// implementations — arrival order (ArrivalQueue: the server without `scheduler:`, and CPU-only jobs
// with it) and awan's fleet scheduler (FleetSchedulerQueue, fleet_queue.h) — so the loop does not
// know which one it has. A pass costs what changed: a queue whose head waits for room, with
// nothing freed, no block ended and no retry due, does nothing.
// Loop thread only.
#pragma once

#include <cstdint>
#include <limits>
#include <set>

#include "active_jobs.h"
#include "awan/controller/options.h"
#include "placer.h"

namespace awan::controller {

class JobQueue {
 public:
  virtual ~JobQueue() = default;
  // A job is PENDING: new, queued again after a preemption, or found so at a restart.
  virtual void Add(ActiveJob& job) = 0;
  // A pending job was cancelled: it leaves the queue.
  virtual void Cancelled(int64_t id) = 0;
  // A job's nodes are gone (it ended, or was preempted and is PENDING again): capacity is free.
  virtual void NodesReleased(int64_t id, bool preempted) = 0;
  // After a restart: a job running on nodes the previous server started.
  virtual void Adopt(ActiveJob& job) { (void)job; }
  // Starts what can start now.
  virtual void Pass() = 0;
  virtual SchedulerSummary Summary() const { return {}; }
};

// Arrival order with failover: the oldest pending job is placed first, and a job waiting for owned
// capacity (this machine) is not overtaken by the jobs behind it.
class ArrivalQueue final : public JobQueue {
 public:
  ArrivalQueue(ActiveJobs& jobs, Placer& placer) : jobs_(jobs), placer_(placer) {}
  void Add(ActiveJob& job) override;
  void Cancelled(int64_t id) override;
  void NodesReleased(int64_t id, bool preempted) override;
  void Pass() override;
  size_t size() const { return pending_.size(); }

 private:
  void Settled(int64_t id, Placer::Outcome outcome);
  ActiveJobs& jobs_;
  Placer& placer_;
  std::set<int64_t> pending_;  // oldest first
  bool changed_ = true;        // something that may let a waiting job start happened
  int64_t wake_at_ = 0;        // a retry or the end of a block is due then
};

}  // namespace awan::controller

// The fleet scheduler: a queue of jobs placed on the fleet's capacity books by a policy chosen by
// name (fifo, priority, fairshare, backfill). Gangs are placed all or nothing inside one pool; a job
// may preempt running jobs only if they are preemptible and of lower priority, or if they borrow
// another team's idle quota while this job is within its own; pools whose provider still has
// committed capacity unused are tried before on-demand ones. No I/O; time is passed in. Used by the
// server and the simulator alike. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awan/scheduler/capacity.h"

namespace awan::scheduler {

struct JobSpec {
  int64_t id = 0;
  std::string team;
  int priority = 0;                 // higher goes first (priority, backfill policies)
  std::vector<Need> alternatives;   // accelerator choices, best first
  std::optional<int64_t> duration_s;  // estimate; backfill needs it
  bool preemptible = false;
  int64_t submit_s = 0;
};

struct Running {
  JobSpec spec;
  Placement placement;
  size_t alternative = 0;
  int64_t start_s = 0;
  bool borrowed = false;   // beyond its team's quota: may be reclaimed
  bool committed = false;  // on committed capacity
};

struct Decision {
  enum class Kind { kStart, kPreempt } kind = Kind::kStart;
  int64_t job = 0;
};

// The queue's order and what a policy allows. Implementations register by name in scheduler.cc.
class Policy {
 public:
  virtual ~Policy() = default;
  virtual std::string_view name() const = 0;
  // true if `a` goes before `b`. `share` is a team's usage divided by its weight.
  virtual bool Before(const JobSpec& a, const JobSpec& b, const std::map<std::string, double>& share) const = 0;
  virtual bool preemption() const { return false; }
  virtual bool backfill() const { return false; }
};
// "fifo", "priority", "fairshare", "backfill"; nullptr for an unknown name.
std::unique_ptr<Policy> MakePolicy(std::string_view name);
std::vector<std::string> PolicyNames();

class Scheduler {
 public:
  Scheduler(const FleetModel& fleet, std::unique_ptr<Policy> policy);

  void Submit(const JobSpec& job);
  // A running job ended (or was cancelled): its capacity is free again.
  void Finish(int64_t id);
  // Takes pools down (or up) by provider and optionally region; returns the running jobs that were
  // on the pools taken down — they are back in the queue.
  std::vector<int64_t> SetOutage(const std::string& provider, const std::string& region, bool down);
  // One scheduling pass at `now` (seconds since the fleet's start): starts what it can, preempting
  // where the policy allows. Preempted jobs are back in the queue.
  std::vector<Decision> Schedule(int64_t now);

  const std::map<int64_t, Running>& running() const { return running_; }
  size_t queued() const { return queue_.size(); }
  int64_t TeamUsage(const std::string& team, const std::string& accelerator) const;
  const Capacity& capacity() const { return capacity_; }

 private:
  bool TryStart(const JobSpec& job, int64_t now, std::vector<Decision>& out, bool allow_preemption,
                const std::optional<uint32_t>& avoid_pool);
  std::vector<uint32_t> PoolOrder(const Need& need, int64_t now) const;
  bool WithinQuota(const JobSpec& job, const Need& need) const;
  void Account(const Running& r, int sign);
  // When the blocked `job` could start at the earliest (and in which pool), given running jobs'
  // estimated ends; nullopt if some running job has no estimate.
  std::optional<std::pair<int64_t, uint32_t>> Shadow(const JobSpec& job, int64_t now) const;

  const FleetModel& fleet_;
  std::unique_ptr<Policy> policy_;
  Capacity capacity_;
  std::vector<JobSpec> queue_;
  std::map<int64_t, Running> running_;
  std::map<std::pair<std::string, std::string>, int64_t> team_usage_;       // (team, accelerator)
  std::map<std::pair<std::string, std::string>, int64_t> committed_usage_;  // (provider, accelerator)
};

}  // namespace awan::scheduler

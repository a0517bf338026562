// The fleet scheduler: a queue of jobs placed on the fleet's capacity books by a policy chosen by
// name (fifo, priority, fairshare, backfill). Gangs are placed all or nothing inside one pool; a
// job may preempt running jobs only if they are preemptible and of lower priority, or if they
// borrow another team's idle quota while this job is within its own; pools whose provider still has
// committed capacity unused are tried before on-demand ones, and on-demand/spot use stays within
// the fleet's limits. No I/O; time is passed in: the simulator drives it, and so does the server's
// job controller when its fleet config has `scheduler:` (docs/scheduler.md). Not thread-safe.
//
// Cost model of one pass: the queue is kept ordered (one ordered map per team for fair share), a
// pass stops at the first blocked job unless the policy backfills (then it looks at most
// `backfill_window` jobs further), and a job that failed to start is not tried again until the
// books change (an epoch counter). Running jobs live in a slab with compact per-pool lists of jobs
// and preemption candidates.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "awan/scheduler/capacity.h"

namespace awan::scheduler {

struct JobSpec {
  int64_t id = 0;
  std::string team;
  int priority = 0;                   // higher goes first (priority, fairshare, backfill policies)
  Needs alternatives;                 // accelerator choices, best first
  std::optional<int64_t> duration_s;  // estimate; backfill needs it
  bool preemptible = false;
  int64_t submit_s = 0;
};

// Where a running job's accelerators are paid from.
enum class Tier : uint8_t { kCommitted, kOnDemand, kSpot };
std::string_view TierName(Tier tier);

namespace detail {
// Where a running job sits in the scheduler's indexes (its own bookkeeping).
struct RunningIndex {
  uint32_t team = 0, accelerator = 0;
  uint32_t position = 0;         // in its pool's list of running jobs
  uint32_t victim_position = 0;  // in its pool's list of preemption candidates, when `victim`
  bool victim = false;           // preemptible or borrowing, under a policy that preempts
};
}  // namespace detail

struct Running {
  JobSpec spec;
  Placement placement;
  size_t alternative = 0;
  int64_t start_s = 0;
  bool borrowed = false;        // beyond its team's quota: may be reclaimed
  bool committed = false;       // wholly on committed capacity (tier == kCommitted)
  Tier tier = Tier::kOnDemand;  // kCommitted, or where the part beyond the commitment is paid from
  int64_t committed_accelerators = 0;  // how many of its accelerators the contracts pay for
  detail::RunningIndex index;          // the scheduler's bookkeeping
};

// The running jobs by id: a read-only view of the scheduler's slab (jobs stay at one address while
// they run; only small slot numbers live in the hash map). Iterates as (id, const Running&) pairs,
// in no particular order.
class RunningJobs {
 public:
  size_t size() const { return slot_.size(); }
  bool empty() const { return slot_.empty(); }
  bool contains(int64_t id) const { return slot_.contains(id); }
  size_t count(int64_t id) const { return slot_.count(id); }
  // The job, or nullptr when it is not running.
  const Running* find(int64_t id) const {
    auto it = slot_.find(id);
    return it == slot_.end() ? nullptr : &slab_[it->second];
  }
  // Throws std::out_of_range when it is not running.
  const Running& at(int64_t id) const { return slab_[slot_.at(id)]; }

  class iterator {
   public:
    using Inner = absl::flat_hash_map<int64_t, uint32_t>::const_iterator;
    iterator(Inner it, const std::deque<Running>* slab) : it_(it), slab_(slab) {}
    std::pair<int64_t, const Running&> operator*() const {
      return {it_->first, (*slab_)[it_->second]};
    }
    iterator& operator++() {
      ++it_;
      return *this;
    }
    bool operator==(const iterator& o) const { return it_ == o.it_; }

   private:
    Inner it_;
    const std::deque<Running>* slab_;
  };
  iterator begin() const { return {slot_.begin(), &slab_}; }
  iterator end() const { return {slot_.end(), &slab_}; }

 private:
  friend class Scheduler;
  absl::flat_hash_map<int64_t, uint32_t> slot_;
  std::deque<Running> slab_;
  std::vector<uint32_t> free_;  // slots to reuse
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
  // Order: (team usage per weight, if fair_share) → (priority, if by_priority) → submission → id.
  virtual bool by_priority() const { return false; }
  virtual bool fair_share() const { return false; }
  virtual bool preemption() const { return false; }
  virtual bool backfill() const { return false; }
};
// "fifo", "priority", "fairshare", "backfill"; nullptr for an unknown name.
std::unique_ptr<Policy> MakePolicy(std::string_view name);
std::vector<std::string> PolicyNames();

struct SchedulerOptions {
  // Jobs looked at behind a blocked head when backfilling (Slurm's bf_max_job_test plays this
  // part).
  size_t backfill_window = 500;
  // Seconds between backfill scans (Slurm's bf_interval): the head is tried on every pass, the
  // jobs behind it at most this often.
  int64_t backfill_interval_s = 0;
};

class Scheduler {
 public:
  Scheduler(const FleetModel& fleet, std::unique_ptr<Policy> policy, SchedulerOptions options = {});
  ~Scheduler();

  void Submit(JobSpec job);
  // Takes a queued job out of the queue (cancelled before it started); false if it is not queued.
  // `job` must be the spec it was submitted with (its team, priority and submission find it).
  bool Withdraw(const JobSpec& job);
  // Books a job that is already running in `pool` (the server adopting its jobs after a restart):
  // the first alternative of the pool's accelerator is placed there without preemption. False when
  // the pool has no room for it or sells no accelerator it asks for.
  bool Adopt(JobSpec job, uint32_t pool, int64_t now);
  // A running job ended (or was cancelled): its capacity is free again.
  void Finish(int64_t id);
  // Takes pools down (or up) by provider and optionally region; returns the running jobs that were
  // on the pools taken down (ascending ids) — they are back in the queue.
  std::vector<int64_t> SetOutage(const std::string& provider, const std::string& region, bool down);
  // One scheduling pass at `now` (seconds since the fleet's start): starts what it can, preempting
  // where the policy allows. Preempted jobs are back in the queue.
  std::vector<Decision> Schedule(int64_t now);

  const RunningJobs& running() const { return running_; }
  size_t queued() const { return queued_; }
  // Queued jobs no pool of the fleet could ever hold (they wait without blocking others).
  size_t unplaceable() const { return never_fits_.size(); }
  int64_t TeamUsage(const std::string& team, const std::string& accelerator) const;
  const Capacity& capacity() const { return capacity_; }
  const Policy& policy() const { return *policy_; }
  // Accelerators in use per (provider, accelerator) market and tier; for cost accounting.
  struct MarketUse {
    std::string provider, accelerator;
    int64_t committed_now = 0;  // what the contracts commit at the last pass
    double contract_price =
        0;  // accelerator-hour price of the committed capacity (mean over contracts)
    int64_t in_use[3] = {0, 0, 0};  // indexed by Tier
  };
  const std::vector<MarketUse>& markets() const { return markets_; }
  // Committed accelerators of market `m` at `t` (all contracts summed).
  int64_t CommittedAt(size_t market, int64_t t) const;
  size_t MarketOf(uint32_t pool) const { return pool_market_[pool]; }

 private:
  struct Entry;
  struct Key {
    int64_t rank = 0;  // -priority, or 0 when the policy ignores priority
    int64_t submit_s = 0;
    int64_t id = 0;
    auto operator<=>(const Key&) const = default;
  };

  void Enqueue(JobSpec job);  // interns its team and accelerators, then the overload below
  void Enqueue(JobSpec job, uint32_t team, absl::InlinedVector<uint32_t, 2> accelerators);
  Key KeyOf(const JobSpec& job) const;
  uint32_t TeamIndex(const std::string& team);
  size_t AcceleratorIndex(const std::string& accelerator);
  // Starts `job` if it can (moving it into the running set) and returns true.
  // `team` and `accelerators` (per alternative) are the job's interned indexes.
  bool TryStart(JobSpec& job, uint32_t team, std::span<const uint32_t> accelerators, int64_t now,
                std::vector<Decision>& out, bool allow_preemption,
                const std::optional<uint32_t>& avoid_pool);
  // The pools selling accelerator `accelerator` (an index of accelerators_), in fleet order.
  std::span<const uint32_t> PoolsOf(size_t accelerator) const;
  struct Payment {
    int64_t committed = 0;
    Tier tier = Tier::kCommitted;
  };
  std::optional<Payment> PaymentFor(uint32_t pool, const JobSpec& job, const Need& need) const;
  // Whether some available pool could take the job now if it were empty, within the market limits.
  bool AdmissibleNow(const JobSpec& job) const;
  void Add(int64_t id, Running r, uint32_t team, uint32_t accelerator);
  Running Remove(int64_t id);
  // Takes the job in slab slot `at` out of every index (the slab entry itself is left as it is).
  void Unindex(uint32_t at);
  // When the blocked `job` could start at the earliest (and in which pool), given running jobs'
  // estimated ends; nullopt if some running job there has no estimate.
  std::optional<std::pair<int64_t, uint32_t>> Shadow(const JobSpec& job, int64_t now) const;

  const FleetModel& fleet_;
  std::unique_ptr<Policy> policy_;
  SchedulerOptions options_;
  Capacity capacity_;
  std::vector<std::map<Key, Entry>> buckets_;  // one per team with fair share, else one
  std::vector<JobSpec> never_fits_;
  std::vector<JobSpec> preempted_;  // during a pass; queued again at its end
  std::optional<std::pair<int64_t, uint32_t>> last_reservation_;
  int64_t reservation_head_ = -1;
  bool commitments_valid_ = false;
  int64_t commitments_at_s_ = 0, next_ramp_s_ = 0;
  uint64_t outage_changes_ = 0, reservation_outages_ = 0;
  size_t queued_ = 0;
  uint64_t epoch_ = 1;  // changes whenever a failed start could now succeed
  RunningJobs running_;
  Running& RunningAt(int64_t id) { return running_.slab_[running_.slot_.at(id)]; }
  // Per pool, unordered, each job knowing its position: its running jobs (slab slot and estimated
  // end) and its preemption candidates (what the search filters and orders by). Ordered views are
  // built when a preemption or a reservation needs them: keeping ordered trees of every running job
  // costs a cache miss per tree level per start, and these compact lists are read contiguously.
  struct PoolJob {
    uint32_t slot = 0;
    int64_t end = 0;  // estimated; INT64_MAX when unknown
  };
  struct Victim {
    uint32_t slot = 0, team = 0;
    int priority = 0;
    bool preemptible = false, borrowed = false;
    uint32_t single_node = UINT32_MAX;  // its node when it runs on one, else UINT32_MAX
    int64_t start_s = 0, id = 0;
  };
  std::vector<std::vector<PoolJob>> in_pool_;
  std::vector<std::vector<Victim>> victims_;
  // Per pool, for a quick "preemption cannot help here": preemptible accelerators by priority, and
  // borrowed accelerators.
  std::vector<std::map<int, int64_t>> preemptible_by_priority_;
  std::vector<int64_t> borrowed_accelerators_;
  std::vector<std::vector<uint16_t>>
      victim_on_node_;                 // per pool, per node: accelerators of candidates
  std::vector<int64_t> unknown_ends_;  // per pool, backfill only: jobs without estimate
  std::optional<int64_t> last_backfill_s_;
  std::vector<std::pair<uint32_t, Payment>> order_scratch_;
  std::vector<double> share_scratch_;
  std::vector<std::map<Key, Entry>::iterator> cursor_scratch_;  // TryStart's pool order, reused
  std::vector<std::string> team_names_;
  std::vector<double> team_weight_;
  std::vector<std::vector<int64_t>> quota_, team_usage_;  // [team][accelerator]
  std::vector<std::string> accelerators_;
  std::vector<std::vector<uint32_t>> pools_of_;  // by accelerator index
  std::vector<MarketUse> markets_;
  std::vector<std::vector<const Contract*>> market_contracts_;
  std::vector<std::optional<int64_t>> market_max_on_demand_, market_max_spot_;
  std::vector<size_t> pool_market_;
};

}  // namespace awan::scheduler

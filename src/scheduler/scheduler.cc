#include "awan/scheduler/scheduler.h"

#include <algorithm>

namespace awan::scheduler {
namespace {

class Fifo : public Policy {
 public:
  std::string_view name() const override { return "fifo"; }
  bool Before(const JobSpec& a, const JobSpec& b, const std::map<std::string, double>&) const override {
    return a.submit_s != b.submit_s ? a.submit_s < b.submit_s : a.id < b.id;
  }
};

class Priority : public Policy {
 public:
  std::string_view name() const override { return "priority"; }
  bool Before(const JobSpec& a, const JobSpec& b, const std::map<std::string, double>& s) const override {
    if (a.priority != b.priority) return a.priority > b.priority;
    return Fifo().Before(a, b, s);
  }
  bool preemption() const override { return true; }
};

class FairShare : public Policy {
 public:
  std::string_view name() const override { return "fairshare"; }
  bool Before(const JobSpec& a, const JobSpec& b, const std::map<std::string, double>& s) const override {
    const auto share = [&](const std::string& team) {
      auto it = s.find(team);
      return it == s.end() ? 0.0 : it->second;
    };
    if (share(a.team) != share(b.team)) return share(a.team) < share(b.team);
    return Priority().Before(a, b, s);
  }
};

class Backfill : public Priority {
 public:
  std::string_view name() const override { return "backfill"; }
  bool backfill() const override { return true; }
};

}  // namespace

std::unique_ptr<Policy> MakePolicy(std::string_view name) {
  if (name == "fifo") return std::make_unique<Fifo>();
  if (name == "priority") return std::make_unique<Priority>();
  if (name == "fairshare") return std::make_unique<FairShare>();
  if (name == "backfill") return std::make_unique<Backfill>();
  return nullptr;
}

std::vector<std::string> PolicyNames() { return {"fifo", "priority", "fairshare", "backfill"}; }

Scheduler::Scheduler(const FleetModel& fleet, std::unique_ptr<Policy> policy)
    : fleet_(fleet), policy_(std::move(policy)), capacity_(fleet) {}

void Scheduler::Submit(const JobSpec& job) { queue_.push_back(job); }

int64_t Scheduler::TeamUsage(const std::string& team, const std::string& accelerator) const {
  auto it = team_usage_.find({team, accelerator});
  return it == team_usage_.end() ? 0 : it->second;
}

void Scheduler::Account(const Running& r, int sign) {
  const Need& need = r.spec.alternatives[r.alternative];
  team_usage_[{r.spec.team, need.accelerator}] += sign * need.accelerators();
  if (r.committed) {
    committed_usage_[{capacity_.pool(r.placement.pool).provider, need.accelerator}] += sign * need.accelerators();
  }
}

void Scheduler::Finish(int64_t id) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  capacity_.Release(it->second.placement);
  Account(it->second, -1);
  running_.erase(it);
}

std::vector<int64_t> Scheduler::SetOutage(const std::string& provider, const std::string& region, bool down) {
  std::vector<int64_t> requeued;
  for (uint32_t p = 0; p < capacity_.pool_count(); ++p) {
    const Pool& pool = capacity_.pool(p);
    if (pool.provider != provider || (!region.empty() && pool.region != region)) continue;
    capacity_.SetAvailable(p, !down);
  }
  if (!down) return requeued;
  for (auto it = running_.begin(); it != running_.end();) {
    const Pool& pool = capacity_.pool(it->second.placement.pool);
    if (pool.provider == provider && (region.empty() || pool.region == region)) {
      requeued.push_back(it->first);
      capacity_.Release(it->second.placement);
      Account(it->second, -1);
      queue_.push_back(it->second.spec);
      it = running_.erase(it);
    } else {
      ++it;
    }
  }
  return requeued;
}

bool Scheduler::WithinQuota(const JobSpec& job, const Need& need) const {
  for (const Team& t : fleet_.teams) {
    if (t.name != job.team) continue;
    auto q = t.quota.find(need.accelerator);
    const int64_t quota = q == t.quota.end() ? 0 : q->second;
    return TeamUsage(job.team, need.accelerator) + need.accelerators() <= quota;
  }
  return false;  // a team without quotas only borrows
}

// Pools that can ever hold `need`, those with unused committed capacity first (fleet order within).
std::vector<uint32_t> Scheduler::PoolOrder(const Need& need, int64_t now) const {
  std::vector<uint32_t> committed, market;
  for (uint32_t p : capacity_.PoolsFor(need.accelerator)) {
    if (!capacity_.EverFits(p, need)) continue;
    const Pool& pool = capacity_.pool(p);
    int64_t commit = 0;
    for (const Contract& c : fleet_.contracts) {
      if (c.provider == pool.provider && c.accelerator == need.accelerator) commit += c.CommittedAt(now);
    }
    auto used = committed_usage_.find({pool.provider, need.accelerator});
    const int64_t in_use = used == committed_usage_.end() ? 0 : used->second;
    (commit - in_use >= need.accelerators() ? committed : market).push_back(p);
  }
  committed.insert(committed.end(), market.begin(), market.end());
  return committed;
}

bool Scheduler::TryStart(const JobSpec& job, int64_t now, std::vector<Decision>& out, bool allow_preemption,
                         const std::optional<uint32_t>& avoid_pool) {
  for (size_t a = 0; a < job.alternatives.size(); ++a) {
    const Need& need = job.alternatives[a];
    const bool within = WithinQuota(job, need);
    const std::vector<uint32_t> order = PoolOrder(need, now);
    auto start = [&](const Placement& placement) {
      Running r{job, placement, a, now, !within, false};
      const Pool& pool = capacity_.pool(placement.pool);
      int64_t commit = 0;
      for (const Contract& c : fleet_.contracts) {
        if (c.provider == pool.provider && c.accelerator == need.accelerator) commit += c.CommittedAt(now);
      }
      auto used = committed_usage_.find({pool.provider, need.accelerator});
      r.committed = commit - (used == committed_usage_.end() ? 0 : used->second) >= need.accelerators();
      Account(r, +1);
      running_[job.id] = std::move(r);
      out.push_back({Decision::Kind::kStart, job.id});
    };
    for (uint32_t p : order) {
      if (avoid_pool && *avoid_pool == p) continue;
      if (auto placement = capacity_.PlaceIn(p, need)) {
        start(*placement);
        return true;
      }
    }
    if (!allow_preemption) continue;
    // Preempt in one pool: lower-priority preemptible jobs, and (for a job within its quota) jobs
    // borrowing other teams' idle quota; cheapest victims first. All or nothing: undo if it fails.
    for (uint32_t p : order) {
      if (avoid_pool && *avoid_pool == p) continue;
      std::vector<const Running*> victims;
      for (const auto& [id, r] : running_) {
        if (r.placement.pool != p) continue;
        const bool lower = r.spec.preemptible && r.spec.priority < job.priority;
        const bool reclaim = within && r.borrowed && r.spec.team != job.team;
        if (lower || reclaim) victims.push_back(&r);
      }
      std::sort(victims.begin(), victims.end(), [](const Running* x, const Running* y) {
        if (x->spec.priority != y->spec.priority) return x->spec.priority < y->spec.priority;
        return x->start_s > y->start_s;  // the most recent loses least work
      });
      std::vector<const Running*> taken;
      std::optional<Placement> placement;
      for (const Running* v : victims) {
        capacity_.Release(v->placement);
        taken.push_back(v);
        if ((placement = capacity_.PlaceIn(p, need))) break;
      }
      if (!placement) {
        for (auto it = taken.rbegin(); it != taken.rend(); ++it) capacity_.Restore((*it)->placement);
        continue;
      }
      for (const Running* v : taken) {
        const int64_t id = v->spec.id;
        Account(*v, -1);
        queue_.push_back(v->spec);
        out.push_back({Decision::Kind::kPreempt, id});
        running_.erase(id);
      }
      start(*placement);
      return true;
    }
  }
  return false;
}

std::optional<std::pair<int64_t, uint32_t>> Scheduler::Shadow(const JobSpec& job, int64_t now) const {
  std::vector<const Running*> by_end;
  for (const auto& [id, r] : running_) {
    if (!r.spec.duration_s) return std::nullopt;
    by_end.push_back(&r);
  }
  std::sort(by_end.begin(), by_end.end(), [](const Running* a, const Running* b) {
    return a->start_s + *a->spec.duration_s < b->start_s + *b->spec.duration_s;
  });
  Capacity future = capacity_;
  for (const Running* r : by_end) {
    future.Release(r->placement);
    for (const Need& need : job.alternatives) {
      for (uint32_t p : future.PoolsFor(need.accelerator)) {
        if (future.PlaceIn(p, need)) return std::make_pair(std::max(now, r->start_s + *r->spec.duration_s), p);
      }
    }
  }
  return std::nullopt;
}

std::vector<Decision> Scheduler::Schedule(int64_t now) {
  std::vector<Decision> out;
  std::map<std::string, double> share;
  for (const Team& t : fleet_.teams) {
    double used = 0;
    for (const auto& [key, n] : team_usage_) {
      if (key.first == t.name) used += static_cast<double>(n);
    }
    share[t.name] = used / t.weight;
  }
  std::stable_sort(queue_.begin(), queue_.end(),
                   [&](const JobSpec& a, const JobSpec& b) { return policy_->Before(a, b, share); });
  std::vector<JobSpec> waiting;
  std::optional<std::pair<int64_t, uint32_t>> reservation;  // the blocked head's (time, pool), backfill only
  bool blocked = false;
  std::vector<JobSpec> queue;
  queue.swap(queue_);
  auto ever_fits = [&](const JobSpec& job) {
    for (const Need& need : job.alternatives) {
      for (uint32_t p : capacity_.PoolsFor(need.accelerator)) {
        if (capacity_.EverFits(p, need)) return true;
      }
    }
    return false;
  };
  for (const JobSpec& job : queue) {
    if (!ever_fits(job)) {
      waiting.push_back(job);  // no pool can ever hold it: it waits without holding up the others
      continue;
    }
    if (blocked && !policy_->backfill()) {
      waiting.push_back(job);
      continue;
    }
    if (blocked) {
      // EASY backfill: a later job may start if it ends before the head's reservation, or if it
      // keeps out of the reserved pool.
      const bool ends_in_time = reservation && job.duration_s && now + *job.duration_s <= reservation->first;
      const std::optional<uint32_t> avoid =
          ends_in_time || !reservation ? std::nullopt : std::optional<uint32_t>(reservation->second);
      if (!reservation || !TryStart(job, now, out, false, avoid)) waiting.push_back(job);
      continue;
    }
    if (TryStart(job, now, out, policy_->preemption(), std::nullopt)) continue;
    waiting.push_back(job);
    blocked = true;
    if (policy_->backfill()) reservation = Shadow(job, now);
  }
  // Jobs preempted during this pass were appended to queue_; keep them with the waiting ones.
  waiting.insert(waiting.end(), queue_.begin(), queue_.end());
  queue_ = std::move(waiting);
  return out;
}

}  // namespace awan::scheduler

#include "awan/scheduler/scheduler.h"

#include <algorithm>
#include <limits>

#include "absl/container/inlined_vector.h"

namespace awan::scheduler {
namespace {

class Fifo : public Policy {
 public:
  std::string_view name() const override { return "fifo"; }
};

class Priority : public Policy {
 public:
  std::string_view name() const override { return "priority"; }
  bool by_priority() const override { return true; }
  bool preemption() const override { return true; }
};

class FairShare : public Policy {
 public:
  std::string_view name() const override { return "fairshare"; }
  bool by_priority() const override { return true; }
  bool fair_share() const override { return true; }
};

class Backfill : public Priority {
 public:
  std::string_view name() const override { return "backfill"; }
  bool backfill() const override { return true; }
};

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

}  // namespace

std::string_view TierName(Tier tier) {
  switch (tier) {
    case Tier::kCommitted:
      return "committed";
    case Tier::kOnDemand:
      return "on_demand";
    case Tier::kSpot:
      return "spot";
  }
  return "?";
}

std::unique_ptr<Policy> MakePolicy(std::string_view name) {
  if (name == "fifo") return std::make_unique<Fifo>();
  if (name == "priority") return std::make_unique<Priority>();
  if (name == "fairshare") return std::make_unique<FairShare>();
  if (name == "backfill") return std::make_unique<Backfill>();
  return nullptr;
}

std::vector<std::string> PolicyNames() { return {"fifo", "priority", "fairshare", "backfill"}; }

struct Scheduler::Entry {
  JobSpec spec;
  uint32_t team = 0;
  absl::InlinedVector<uint32_t, 2> accelerators;  // index of each alternative's accelerator
  uint64_t failed_epoch = kNever;  // the epoch of its last failed start; retried once it changes
  bool failed_as_head = false;  // that attempt was the head's (preemption allowed, no pool avoided)
};

Scheduler::Scheduler(const FleetModel& fleet, std::unique_ptr<Policy> policy,
                     SchedulerOptions options)
    : fleet_(fleet), policy_(std::move(policy)), options_(options), capacity_(fleet) {
  for (const Team& t : fleet_.teams) {
    const uint32_t team = TeamIndex(t.name);
    team_weight_[team] = t.weight > 0 ? t.weight : 1;
    for (const auto& [acc, n] : t.quota) quota_[team][AcceleratorIndex(acc)] = n;
  }
  buckets_.resize(policy_->fair_share() ? team_names_.size() : 1);
  for (size_t p = 0; p < capacity_.pool_count(); ++p) {
    in_pool_.emplace_back();
    victims_.emplace_back();
  }
  unknown_ends_.assign(capacity_.pool_count(), 0);
  preemptible_by_priority_.resize(capacity_.pool_count());
  for (uint32_t p = 0; p < capacity_.pool_count(); ++p) {
    victim_on_node_.emplace_back(static_cast<size_t>(capacity_.pool(p).nodes), 0);
  }
  borrowed_accelerators_.assign(capacity_.pool_count(), 0);
  auto market = [&](const std::string& provider, const std::string& accelerator) {
    for (size_t m = 0; m < markets_.size(); ++m) {
      if (markets_[m].provider == provider && markets_[m].accelerator == accelerator) return m;
    }
    markets_.push_back({provider, accelerator});
    market_contracts_.emplace_back();
    market_max_on_demand_.emplace_back();
    market_max_spot_.emplace_back();
    return markets_.size() - 1;
  };
  for (uint32_t p = 0; p < capacity_.pool_count(); ++p) {
    const Pool& pool = capacity_.pool(p);
    pool_market_.push_back(market(pool.provider, pool.accelerator));
    const size_t accelerator = AcceleratorIndex(pool.accelerator);
    if (pools_of_.size() <= accelerator) pools_of_.resize(accelerator + 1);
    pools_of_[accelerator].push_back(p);
  }
  for (const Contract& c : fleet_.contracts)
    market_contracts_[market(c.provider, c.accelerator)].push_back(&c);
  for (const MarketLimit& l : fleet_.markets) {
    const size_t m = market(l.provider, l.accelerator);
    market_max_on_demand_[m] = l.max_on_demand;
    market_max_spot_[m] = l.max_spot;
  }
  for (size_t m = 0; m < markets_.size(); ++m) {
    double sum = 0;
    for (const Contract* c : market_contracts_[m]) sum += c->price_per_accelerator_hour;
    if (!market_contracts_[m].empty())
      markets_[m].contract_price = sum / static_cast<double>(market_contracts_[m].size());
    markets_[m].committed_now = CommittedAt(m, 0);
  }
}

Scheduler::~Scheduler() = default;

uint32_t Scheduler::TeamIndex(const std::string& team) {
  for (uint32_t i = 0; i < team_names_.size(); ++i) {
    if (team_names_[i] == team) return i;
  }
  team_names_.push_back(team);
  team_weight_.push_back(1);
  quota_.emplace_back(accelerators_.size(), 0);
  team_usage_.emplace_back(accelerators_.size(), 0);
  if (policy_ && policy_->fair_share() && !buckets_.empty()) buckets_.resize(team_names_.size());
  return static_cast<uint32_t>(team_names_.size() - 1);
}

size_t Scheduler::AcceleratorIndex(const std::string& accelerator) {
  for (size_t i = 0; i < accelerators_.size(); ++i) {
    if (accelerators_[i] == accelerator) return i;
  }
  accelerators_.push_back(accelerator);
  for (auto& row : quota_) row.push_back(0);
  for (auto& row : team_usage_) row.push_back(0);
  return accelerators_.size() - 1;
}

int64_t Scheduler::CommittedAt(size_t market, int64_t t) const {
  int64_t n = 0;
  for (const Contract* c : market_contracts_[market]) n += c->CommittedAt(t);
  return n;
}

Scheduler::Key Scheduler::KeyOf(const JobSpec& job) const {
  return {policy_->by_priority() ? -static_cast<int64_t>(job.priority) : 0, job.submit_s, job.id};
}

void Scheduler::Submit(JobSpec job) {
  const uint32_t team = TeamIndex(job.team);
  absl::InlinedVector<uint32_t, 2> accelerators;
  bool fits = false;
  for (const Need& need : job.alternatives) {
    accelerators.push_back(static_cast<uint32_t>(AcceleratorIndex(need.accelerator)));
    for (uint32_t p : PoolsOf(accelerators.back())) {
      if (fits) break;
      fits = capacity_.ShapeFits(p, need.nodes, need.per_node);
    }
  }
  ++queued_;
  if (!fits) {
    never_fits_.push_back(std::move(job));
    return;
  }
  Enqueue(std::move(job), team, std::move(accelerators));
}

bool Scheduler::Withdraw(const JobSpec& job) {
  auto never = std::find_if(never_fits_.begin(), never_fits_.end(),
                            [&](const JobSpec& j) { return j.id == job.id; });
  if (never != never_fits_.end()) {
    never_fits_.erase(never);
    --queued_;
    return true;
  }
  auto& bucket = buckets_[policy_->fair_share() ? TeamIndex(job.team) : 0];
  auto it = bucket.find(KeyOf(job));
  if (it == bucket.end() || it->second.spec.id != job.id) return false;
  bucket.erase(it);
  --queued_;
  if (reservation_head_ == job.id) reservation_head_ = -1;
  ++epoch_;  // the jobs behind it may start now
  return true;
}

bool Scheduler::Adopt(JobSpec job, uint32_t pool, int64_t now) {
  if (pool >= capacity_.pool_count() || running_.contains(job.id)) return false;
  const uint32_t team = TeamIndex(job.team);
  for (size_t a = 0; a < job.alternatives.size(); ++a) {
    const Need& need = job.alternatives[a];
    if (need.accelerator != capacity_.pool(pool).accelerator ||
        !capacity_.ShapeFits(pool, need.nodes, need.per_node)) {
      continue;
    }
    auto placement = capacity_.PlaceIn(pool, need);
    if (!placement) return false;
    const uint32_t accelerator = static_cast<uint32_t>(AcceleratorIndex(need.accelerator));
    const bool within =
        team_usage_[team][accelerator] + need.accelerators() <= quota_[team][accelerator];
    const Payment pay = PaymentFor(pool, job, need).value_or(Payment{0, Tier::kOnDemand});
    const int64_t id = job.id;
    Add(id,
        Running{std::move(job),
                *placement,
                a,
                now,
                !within,
                pay.tier == Tier::kCommitted,
                pay.tier,
                pay.committed,
                {}},
        team, accelerator);
    return true;
  }
  return false;
}

void Scheduler::Enqueue(JobSpec job) {
  const uint32_t team = TeamIndex(job.team);
  absl::InlinedVector<uint32_t, 2> accelerators;
  for (const Need& need : job.alternatives)
    accelerators.push_back(static_cast<uint32_t>(AcceleratorIndex(need.accelerator)));
  Enqueue(std::move(job), team, std::move(accelerators));
}

void Scheduler::Enqueue(JobSpec job, uint32_t team, absl::InlinedVector<uint32_t, 2> accelerators) {
  const Key key = KeyOf(job);
  buckets_[policy_->fair_share() ? team : 0].emplace(
      key, Entry{std::move(job), team, std::move(accelerators)});
}

int64_t Scheduler::TeamUsage(const std::string& team, const std::string& accelerator) const {
  for (size_t t = 0; t < team_names_.size(); ++t) {
    if (team_names_[t] != team) continue;
    for (size_t a = 0; a < accelerators_.size(); ++a) {
      if (accelerators_[a] == accelerator) return team_usage_[t][a];
    }
  }
  return 0;
}

void Scheduler::Add(int64_t id, Running r, uint32_t team, uint32_t accelerator) {
  const int64_t n = r.spec.alternatives[r.alternative].accelerators();
  team_usage_[team][accelerator] += n;
  MarketUse& use = markets_[pool_market_[r.placement.pool]];
  use.in_use[0] += r.committed_accelerators;
  if (r.tier != Tier::kCommitted)
    use.in_use[static_cast<int>(r.tier)] += n - r.committed_accelerators;
  const uint32_t pool = r.placement.pool;
  r.index = {};
  r.index.team = team;
  r.index.accelerator = accelerator;
  if ((r.spec.preemptible || r.borrowed) && policy_->preemption()) {  // only preemption looks there
    r.index.victim = true;
    for (uint32_t node : r.placement.nodes) {
      victim_on_node_[pool][node] =
          static_cast<uint16_t>(victim_on_node_[pool][node] + r.placement.per_node);
    }
    if (r.spec.preemptible) preemptible_by_priority_[pool][r.spec.priority] += n;
    if (r.borrowed) borrowed_accelerators_[pool] += n;
  }
  if (!r.spec.duration_s) ++unknown_ends_[pool];
  uint32_t slot;
  if (running_.free_.empty()) {
    slot = static_cast<uint32_t>(running_.slab_.size());
    running_.slab_.emplace_back();
  } else {
    slot = running_.free_.back();
    running_.free_.pop_back();
  }
  r.index.position = static_cast<uint32_t>(in_pool_[pool].size());
  in_pool_[pool].push_back({slot, r.spec.duration_s ? r.start_s + *r.spec.duration_s
                                                    : std::numeric_limits<int64_t>::max()});
  if (r.index.victim) {
    r.index.victim_position = static_cast<uint32_t>(victims_[pool].size());
    victims_[pool].push_back({slot, team, r.spec.priority, r.spec.preemptible, r.borrowed,
                              r.placement.nodes.size() == 1 ? r.placement.nodes[0] : UINT32_MAX,
                              r.start_s, id});
  }
  running_.slab_[slot] = std::move(r);
  running_.slot_.emplace(id, slot);
  ++epoch_;
}

Running Scheduler::Remove(int64_t id) {
  auto it = running_.slot_.find(id);
  const uint32_t at = it->second;
  running_.slot_.erase(it);
  Unindex(at);
  Running r = std::move(running_.slab_[at]);
  running_.free_.push_back(at);  // the moved-from entry is overwritten by the next start
  return r;
}

void Scheduler::Unindex(uint32_t at) {
  const Running& r = running_.slab_[at];
  const detail::RunningIndex& slot = r.index;
  const int64_t n =
      static_cast<int64_t>(r.placement.per_node) * static_cast<int64_t>(r.placement.nodes.size());
  team_usage_[slot.team][slot.accelerator] -= n;
  MarketUse& use = markets_[pool_market_[r.placement.pool]];
  use.in_use[0] -= r.committed_accelerators;
  if (r.tier != Tier::kCommitted)
    use.in_use[static_cast<int>(r.tier)] -= n - r.committed_accelerators;
  const uint32_t pool = r.placement.pool;
  if (slot.victim) {
    if (r.spec.preemptible) {
      auto level = preemptible_by_priority_[pool].find(r.spec.priority);
      if ((level->second -= n) == 0) preemptible_by_priority_[pool].erase(level);
    }
    if (r.borrowed) borrowed_accelerators_[pool] -= n;
    for (uint32_t node : r.placement.nodes) {
      victim_on_node_[pool][node] =
          static_cast<uint16_t>(victim_on_node_[pool][node] - r.placement.per_node);
    }
  }
  if (!r.spec.duration_s) --unknown_ends_[pool];
  std::vector<PoolJob>& jobs = in_pool_[pool];
  jobs[slot.position] = jobs.back();
  running_.slab_[jobs[slot.position].slot].index.position = slot.position;
  jobs.pop_back();
  if (slot.victim) {
    std::vector<Victim>& victims = victims_[pool];
    victims[slot.victim_position] = victims.back();
    running_.slab_[victims[slot.victim_position].slot].index.victim_position = slot.victim_position;
    victims.pop_back();
  }
  ++epoch_;
}

void Scheduler::Finish(int64_t id) {
  auto it = running_.slot_.find(id);
  if (it == running_.slot_.end()) return;
  const uint32_t at = it->second;
  running_.slot_.erase(it);
  Unindex(at);
  capacity_.Release(running_.slab_[at].placement);
  running_.free_.push_back(at);  // the entry is overwritten by the next start
}

std::vector<int64_t> Scheduler::SetOutage(const std::string& provider, const std::string& region,
                                          bool down) {
  std::vector<int64_t> requeued;
  std::vector<bool> hit(capacity_.pool_count(), false);
  for (uint32_t p = 0; p < capacity_.pool_count(); ++p) {
    const Pool& pool = capacity_.pool(p);
    if (pool.provider != provider || (!region.empty() && pool.region != region)) continue;
    capacity_.SetAvailable(p, !down);
    hit[p] = down;
    ++outage_changes_;
  }
  for (uint32_t p = 0; p < capacity_.pool_count(); ++p) {
    if (!hit[p]) continue;
    for (const PoolJob& j : in_pool_[p]) requeued.push_back(running_.slab_[j.slot].spec.id);
  }
  ++epoch_;
  std::sort(requeued.begin(), requeued.end());
  for (int64_t id : requeued) {
    Running r = Remove(id);
    capacity_.Release(r.placement);
    Enqueue(std::move(r.spec));
    ++queued_;
  }
  return requeued;
}

// How the job would pay for `need` in `pool`: what the contracts still have room for, and the rest
// (if any) from spot (preemptible jobs, where the fleet allows spot) or on-demand within its limit.
std::optional<Scheduler::Payment> Scheduler::PaymentFor(uint32_t pool, const JobSpec& job,
                                                        const Need& need) const {
  const size_t m = pool_market_[pool];
  const MarketUse& use = markets_[m];
  const int64_t n = need.accelerators();
  Payment pay;
  pay.committed = std::clamp<int64_t>(use.committed_now - use.in_use[0], 0, n);
  const int64_t rest = n - pay.committed;
  if (rest == 0) {
    pay.tier = Tier::kCommitted;
  } else if (job.preemptible && market_max_spot_[m] &&
             use.in_use[2] + rest <= *market_max_spot_[m]) {
    pay.tier = Tier::kSpot;
  } else if (!market_max_on_demand_[m] || use.in_use[1] + rest <= *market_max_on_demand_[m]) {
    pay.tier = Tier::kOnDemand;
  } else {
    return std::nullopt;
  }
  return pay;
}

std::span<const uint32_t> Scheduler::PoolsOf(size_t accelerator) const {
  return accelerator < pools_of_.size() ? std::span<const uint32_t>(pools_of_[accelerator])
                                        : std::span<const uint32_t>();
}

bool Scheduler::TryStart(JobSpec& job, uint32_t team, std::span<const uint32_t> accelerators,
                         int64_t now, std::vector<Decision>& out, bool allow_preemption,
                         const std::optional<uint32_t>& avoid_pool) {
  for (size_t a = 0; a < job.alternatives.size(); ++a) {
    const Need& need = job.alternatives[a];
    const uint32_t accelerator = accelerators[a];
    const bool within =
        team_usage_[team][accelerator] + need.accelerators() <= quota_[team][accelerator];
    // Pools with room in their commitment first, then the market's (fleet order within each).
    const auto pools = PoolsOf(accelerator);
    auto for_each_pool = [&](auto&& visit) {
      for (int pass = 0; pass < 2; ++pass) {
        for (uint32_t p : pools) {
          if ((avoid_pool && *avoid_pool == p) || !capacity_.Available(p) ||
              !capacity_.ShapeFits(p, need.nodes, need.per_node)) {
            continue;
          }
          const std::optional<Payment> pay = PaymentFor(p, job, need);
          if (pay && (pay->tier == Tier::kCommitted) == (pass == 0) && visit(p, *pay)) return true;
        }
      }
      return false;
    };
    auto start = [&](const Placement& placement, Payment pay) {
      const int64_t id = job.id;
      Running r{std::move(job), placement,     a, now, !within, pay.tier == Tier::kCommitted,
                pay.tier,       pay.committed, {}};
      Add(id, std::move(r), team, accelerator);
      out.push_back({Decision::Kind::kStart, id});
    };
    const bool placed = for_each_pool([&](uint32_t p, Payment pay) {
      if (capacity_.FreeAccelerators(p) < need.accelerators()) return false;
      auto placement = capacity_.PlaceIn(p, need);
      if (placement) start(*placement, pay);
      return placement.has_value();
    });
    if (placed) return true;
    if (!allow_preemption) continue;
    std::vector<std::pair<uint32_t, Payment>>& order = order_scratch_;
    order.clear();
    for_each_pool([&](uint32_t p, Payment pay) {
      order.emplace_back(p, pay);
      return false;
    });
    // Preempt in one pool: lower-priority preemptible jobs, and (for a job within its quota) jobs
    // borrowing other teams' idle quota; lowest priority and most recent first (they lose least).
    // All or nothing: what was released is restored if the gang still does not fit.
    for (const auto& [p, pay] : order) {
      // An upper bound first: free, plus every lower-priority preemptible and every borrowed
      // accelerator. Most pools are ruled out here without looking at a single job.
      int64_t bound = capacity_.FreeAccelerators(p) + (within ? borrowed_accelerators_[p] : 0);
      for (const auto& [priority, n] : preemptible_by_priority_[p]) {
        if (priority >= job.priority) break;
        bound += n;
      }
      if (bound < need.accelerators()) continue;
      // Then per node: enough nodes must be able to get per_node free (free plus every preemption
      // candidate on it, an upper bound) — else releasing and restoring would be wasted work.
      const std::vector<uint16_t>& on_node = victim_on_node_[p];
      const auto could_free = [&](uint32_t node) {
        return capacity_.FreeOn(p, node) + on_node[node] >= need.per_node;
      };
      int64_t nodes_ok = 0;
      for (uint32_t node = 0; node < on_node.size() && nodes_ok < need.nodes; ++node)
        nodes_ok += could_free(node);
      if (nodes_ok < need.nodes) continue;
      // The candidates, lowest priority and most recent first (they lose least); a single-node job
      // on a node that could never get per_node free would not help.
      std::vector<const Victim*> candidates;
      for (const Victim& v : victims_[p]) {
        const bool lower = v.preemptible && v.priority < job.priority;
        const bool reclaim = within && v.borrowed && v.team != team;
        if (!lower && !reclaim) continue;
        if (v.single_node != UINT32_MAX && !could_free(v.single_node)) continue;
        candidates.push_back(&v);
      }
      std::sort(candidates.begin(), candidates.end(), [](const Victim* x, const Victim* y) {
        if (x->priority != y->priority) return x->priority < y->priority;
        if (x->start_s != y->start_s) return x->start_s > y->start_s;
        return x->id < y->id;
      });
      std::vector<const Running*> taken;  // stay in place until Remove below
      std::optional<Placement> placement;
      for (const Victim* v : candidates) {
        const Running& r = running_.slab_[v->slot];
        capacity_.Release(r.placement);
        taken.push_back(&r);
        if ((placement = capacity_.PlaceIn(p, need))) break;
      }
      if (!placement) {
        for (auto it = taken.rbegin(); it != taken.rend(); ++it)
          capacity_.Restore((*it)->placement);
        continue;
      }
      // Victims whose accelerators the gang did not need after all keep running: taken back, most
      // valuable (last released) first, where their nodes still have the room.
      std::vector<int64_t> ids;
      for (auto it = taken.rbegin(); it != taken.rend(); ++it) {
        if (!capacity_.TryRestore((*it)->placement)) ids.push_back((*it)->spec.id);
      }
      std::sort(ids.begin(), ids.end());
      for (int64_t id : ids) {
        preempted_.push_back(Remove(id).spec);  // queued again after the pass
        out.push_back({Decision::Kind::kPreempt, id});
      }
      // Preempting may have freed commitment: settle the payment again.
      start(*placement, PaymentFor(p, job, need).value_or(pay));
      return true;
    }
  }
  return false;
}

bool Scheduler::AdmissibleNow(const JobSpec& job) const {
  for (const Need& need : job.alternatives) {
    for (uint32_t p : capacity_.PoolsFor(need.accelerator)) {
      if (!capacity_.Available(p) || !capacity_.EverFits(p, need)) continue;
      const size_t m = pool_market_[p];
      if (!market_max_on_demand_[m]) return true;
      int64_t limit = markets_[m].committed_now + *market_max_on_demand_[m];
      if (job.preemptible && market_max_spot_[m]) limit += *market_max_spot_[m];
      if (need.accelerators() <= limit) return true;
    }
  }
  return false;
}

std::optional<std::pair<int64_t, uint32_t>> Scheduler::Shadow(const JobSpec& job,
                                                              int64_t now) const {
  std::optional<std::pair<int64_t, uint32_t>> best;
  for (const Need& need : job.alternatives) {
    for (uint32_t p : capacity_.PoolsFor(need.accelerator)) {
      // A pool with a running job of unknown length has no reservation time to offer.
      if (!capacity_.Available(p) || !capacity_.EverFits(p, need) || unknown_ends_[p] > 0) continue;
      // Running jobs by estimated end (jobs of equal end give the same answer in any order). A
      // heap, not a sort: most gangs fit after a few ends, so only those come out in order.
      std::vector<PoolJob> ends = in_pool_[p];
      const auto later = [](const PoolJob& x, const PoolJob& y) { return x.end > y.end; };
      std::make_heap(ends.begin(), ends.end(), later);
      const auto next = [&]() -> std::optional<std::pair<int64_t, const Placement*>> {
        if (ends.empty() || (best && ends.front().end >= best->first))
          return std::nullopt;  // no better
        std::pop_heap(ends.begin(), ends.end(), later);
        const PoolJob e = ends.back();
        ends.pop_back();
        return std::make_pair(std::max(now, e.end), &running_.slab_[e.slot].placement);
      };
      if (auto t = capacity_.EarliestFit(p, need, now, next); t && (!best || *t < best->first))
        best = {{*t, p}};
    }
  }
  return best;
}

std::vector<Decision> Scheduler::Schedule(int64_t now) {
  std::vector<Decision> out;
  // Commitments change only at ramp steps: recomputed when time crosses the next one (or goes
  // back).
  if (!commitments_valid_ || now >= next_ramp_s_ || now < commitments_at_s_) {
    next_ramp_s_ = std::numeric_limits<int64_t>::max();
    for (size_t m = 0; m < markets_.size(); ++m) {
      const int64_t committed = CommittedAt(m, now);
      if (committed != markets_[m].committed_now) ++epoch_;
      markets_[m].committed_now = committed;
      for (const Contract* c : market_contracts_[m]) {
        for (const RampStep& step : c->ramp) {
          if (step.from_s > now) next_ramp_s_ = std::min(next_ramp_s_, step.from_s);
        }
      }
    }
    commitments_valid_ = true;
    commitments_at_s_ = now;
  }
  // Team shares are fixed for the pass (usage per weight at its start).
  std::vector<double>& share = share_scratch_;
  share.assign(buckets_.size(), 0);
  if (policy_->fair_share()) {
    for (size_t t = 0; t < buckets_.size(); ++t) {
      int64_t used = 0;
      for (int64_t n : team_usage_[t]) used += n;
      share[t] = static_cast<double>(used) / team_weight_[t];
    }
  }
  std::vector<std::map<Key, Entry>::iterator>& cursor = cursor_scratch_;
  cursor.clear();
  for (auto& bucket : buckets_) cursor.push_back(bucket.begin());
  auto next = [&]() -> std::optional<size_t> {
    std::optional<size_t> best;
    for (size_t b = 0; b < buckets_.size(); ++b) {
      if (cursor[b] == buckets_[b].end()) continue;
      if (!best || share[b] < share[*best] ||
          (share[b] == share[*best] && cursor[b]->first < cursor[*best]->first)) {
        best = b;
      }
    }
    return best;
  };
  std::optional<std::pair<int64_t, uint32_t>>
      reservation;  // the blocked head's (time, pool), backfill only
  bool blocked = false;
  bool backfilling = false;
  struct FailedShape {
    uint32_t accelerator;
    int nodes, per_node;
    bool preemptible, avoided;  // avoided: tried keeping out of the reserved pool
  };
  std::vector<FailedShape> failed_shapes;
  size_t looked_behind = 0;
  while (auto b = next()) {
    auto it = cursor[*b]++;
    Entry& e = it->second;
    const bool as_head = !blocked;
    if (blocked && (!policy_->backfill() || !backfilling || !reservation ||
                    ++looked_behind > options_.backfill_window)) {
      break;
    }
    if (blocked && capacity_.TotalFree() == 0) break;
    bool started = false;
    if (e.failed_epoch != epoch_ || e.failed_as_head != as_head) {
      if (as_head) {
        started =
            TryStart(e.spec, e.team, e.accelerators, now, out, policy_->preemption(), std::nullopt);
      } else {
        // EASY backfill: a later job may start if it ends before the head's reservation, or if it
        // keeps out of the reserved pool.
        const bool ends_in_time =
            e.spec.duration_s && now + *e.spec.duration_s <= reservation->first;
        // Nothing is freed during a scan: a job at least as big as one that already failed, of the
        // same accelerator and kind, fails too (queues hold few distinct shapes).
        bool dominated = true;
        for (size_t k = 0; k < e.spec.alternatives.size() && dominated; ++k) {
          const Need& need = e.spec.alternatives[k];
          dominated =
              std::any_of(failed_shapes.begin(), failed_shapes.end(), [&](const FailedShape& f) {
                return f.accelerator == e.accelerators[k] && f.preemptible == e.spec.preemptible &&
                       (!f.avoided || !ends_in_time) && need.nodes >= f.nodes &&
                       need.per_node >= f.per_node;
              });
        }
        if (!dominated) {
          started =
              TryStart(e.spec, e.team, e.accelerators, now, out, false,
                       ends_in_time ? std::nullopt : std::optional<uint32_t>(reservation->second));
          if (!started) {
            for (size_t k = 0; k < e.spec.alternatives.size(); ++k) {
              const FailedShape f{e.accelerators[k], e.spec.alternatives[k].nodes,
                                  e.spec.alternatives[k].per_node, e.spec.preemptible,
                                  !ends_in_time};
              // Keep only the smallest failed shapes: a bigger one adds nothing.
              std::erase_if(failed_shapes, [&](const FailedShape& g) {
                return g.accelerator == f.accelerator && g.preemptible == f.preemptible &&
                       g.avoided == f.avoided && g.nodes >= f.nodes && g.per_node >= f.per_node;
              });
              failed_shapes.push_back(f);
            }
          }
        }
      }
      if (!started) {
        e.failed_epoch = epoch_;
        e.failed_as_head = as_head;
      }
    }
    if (started) {
      buckets_[*b].erase(it);
      --queued_;
      continue;
    }
    if (!blocked) {
      // A job no pool could take now even if it were empty (pools down, or beyond what the
      // contracts and market limits allow for now) waits without holding up the queue.
      if (!AdmissibleNow(e.spec)) continue;
      blocked = true;
      backfilling = policy_->backfill() &&
                    (!last_backfill_s_ || now - *last_backfill_s_ >= options_.backfill_interval_s);
      if (backfilling) {
        last_backfill_s_ = now;
        // The head's reservation holds while it stays the head and its time has not come: running
        // jobs only end earlier than estimated, and nothing that would end later may start in the
        // reserved pool. Recomputed when the head changes, when the time passes, after outages.
        if (reservation_head_ != e.spec.id || !last_reservation_ ||
            now >= last_reservation_->first || reservation_outages_ != outage_changes_) {
          reservation = Shadow(e.spec, now);
          reservation_head_ = e.spec.id;
          reservation_outages_ = outage_changes_;
          if (reservation != last_reservation_)
            ++epoch_;  // backfill failures were judged against the old one
          last_reservation_ = reservation;
        } else {
          reservation = last_reservation_;
        }
      }
    }
  }
  queued_ += preempted_.size();
  for (JobSpec& job : preempted_) Enqueue(std::move(job));
  preempted_.clear();
  return out;
}

}  // namespace awan::scheduler

#include "awan/simulator/simulator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <random>

namespace awan::simulator {
namespace {

using scheduler::Decision;
using scheduler::Tier;

// 64 bytes: one cache line per job, read at random when runs end.
struct alignas(64) JobState {
  int64_t submit_s = 0;
  int64_t remaining_s = 0;  // work left
  int64_t run_start = -1;   // start of the current run segment; -1 when not running
  int64_t first_start = -1;
  int64_t accelerators = 0;  // of the current placement
  int64_t committed = 0;     // of those, paid by the contracts
  uint32_t generation = 0;   // bumped when a run ends early: stale heap events are skipped
  uint32_t provider = 0;
  uint32_t market = 0;
  Tier tier = Tier::kOnDemand;
  bool done = false;
};

// A run's end (completion or spot interruption): one per running job. 16 bytes.
struct HeapEvent {
  int64_t t = 0;
  uint32_t job = 0;
  uint32_t generation : 31 = 0;
  uint32_t interrupt : 1 = 0;
};

// A radix heap (monotone priority queue): simulated time never goes back, so run ends are bucketed
// by the highest bit in which their time differs from the last time taken out (`last_`, never
// later than the simulated now, so every push is at or after it). Push is O(1), and each event
// moves down at most 64 buckets in all: far fewer cache misses than a binary heap of a hundred
// thousand running jobs. Events of one time come out together (PopAll), in no particular order;
// the caller sorts them by job for determinism.
class RadixHeap {
 public:
  bool empty() const { return size_ == 0; }
  void Push(const HeapEvent& e) {
    buckets_[Bucket(static_cast<uint64_t>(e.t))].push_back(e);
    ++size_;
    if (top_ && e.t < *top_) top_ = e.t;
  }
  // The earliest time in the heap; call only when not empty. Takes nothing out.
  int64_t Top() {
    if (!buckets_[0].empty()) return static_cast<int64_t>(last_);
    if (!top_) {
      size_t i = 1;
      while (buckets_[i].empty()) ++i;
      int64_t min = std::numeric_limits<int64_t>::max();
      for (const HeapEvent& e : buckets_[i]) min = std::min(min, e.t);
      top_ = min;  // the lowest non-empty bucket holds the smallest times
    }
    return *top_;
  }
  // Moves every event of the earliest time into `out`.
  void PopAll(std::vector<HeapEvent>& out) {
    if (buckets_[0].empty()) {
      const uint64_t t = static_cast<uint64_t>(Top());
      size_t i = 1;
      while (buckets_[i].empty()) ++i;
      last_ = t;
      std::vector<HeapEvent> moving;
      moving.swap(buckets_[i]);
      for (const HeapEvent& e : moving) buckets_[Bucket(static_cast<uint64_t>(e.t))].push_back(e);
      moving.clear();
      if (buckets_[i].empty()) buckets_[i].swap(moving);  // keep the capacity
    }
    top_.reset();
    size_ -= buckets_[0].size();
    out.insert(out.end(), buckets_[0].begin(), buckets_[0].end());
    buckets_[0].clear();
  }

 private:
  size_t Bucket(uint64_t key) const {
    return key == last_ ? 0 : 64 - static_cast<size_t>(__builtin_clzll(key ^ last_));
  }
  std::vector<HeapEvent> buckets_[65];
  uint64_t last_ = 0;
  std::optional<int64_t> top_;  // cached Top() while nothing is taken out
  size_t size_ = 0;
};

struct OutageChange {
  int64_t t = 0;
  size_t outage = 0;  // index into scenario.outages
  bool down = true;
};

}  // namespace

Stats Summarise(std::vector<double>& values) {
  Stats s;
  s.count = static_cast<int64_t>(values.size());
  if (values.empty()) return s;
  double sum = 0;
  for (double v : values) sum += v;
  s.mean = sum / static_cast<double>(values.size());
  auto rank = [&](double q) {
    size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
    k = std::clamp<size_t>(k, 1, values.size()) - 1;
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
    return values[k];
  };
  s.p50 = rank(0.50);
  s.p99 = rank(0.99);
  return s;
}

SimResult Simulate(const scheduler::FleetModel& base_fleet, const Workload& workload,
                   const Scenario& scenario, const PriceBook& prices, const SimOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  const scheduler::FleetModel fleet = ApplySlips(base_fleet, scenario);
  SimResult res;
  res.fleet = fleet.name.empty() ? fleet.source : fleet.name;
  res.policy = options.policy;
  res.workload_source = workload.source;
  res.workload_format = workload.format;
  res.scenario_source = scenario.source;
  res.skipped = workload.skipped;
  res.adjusted = workload.adjusted;
  res.total_accelerators = fleet.TotalAccelerators();

  auto policy = scheduler::MakePolicy(options.policy);
  if (!policy) policy = scheduler::MakePolicy("fifo");
  scheduler::Scheduler sched(fleet, std::move(policy), options.scheduler);

  // Providers and market prices, by index.
  std::vector<std::string> providers;
  std::vector<uint32_t> pool_provider;
  for (const auto& pool : fleet.pools) {
    auto it = std::find(providers.begin(), providers.end(), pool.provider);
    if (it == providers.end()) it = providers.insert(providers.end(), pool.provider);
    pool_provider.push_back(static_cast<uint32_t>(it - providers.begin()));
  }
  std::vector<int64_t> provider_total(providers.size(), 0);
  for (size_t p = 0; p < fleet.pools.size(); ++p)
    provider_total[pool_provider[p]] += fleet.pools[p].accelerators();
  const auto& markets = sched.markets();
  std::vector<MarketPrice> market_price(markets.size());
  std::vector<bool> market_priced(markets.size(), false),
      market_unpriced_used(markets.size(), false);
  for (size_t m = 0; m < markets.size(); ++m) {
    auto it = prices.find({markets[m].provider, markets[m].accelerator});
    if (it != prices.end()) {
      market_price[m] = it->second;
      market_priced[m] = true;
    }
  }

  const size_t n = workload.jobs.size();
  std::vector<JobState> state(n);
  std::vector<double> jct, delay, recorded;
  jct.reserve(n);
  delay.reserve(n);
  RadixHeap heap;
  std::vector<HeapEvent> due;
  std::mt19937_64 rng(options.seed);
  const double interrupt_rate = scenario.spot_interruptions_per_hour / 3600.0;
  std::vector<double> provider_busy_s(providers.size(), 0);  // accelerator-seconds
  double busy_s = 0, used_committed_usd = 0;
  int64_t busy_now = 0;

  std::vector<OutageChange> changes;
  for (size_t i = 0; i < scenario.outages.size(); ++i) {
    changes.push_back({scenario.outages[i].at_s, i, true});
    if (scenario.outages[i].for_s)
      changes.push_back({scenario.outages[i].at_s + *scenario.outages[i].for_s, i, false});
  }
  std::stable_sort(changes.begin(), changes.end(),
                   [](const OutageChange& a, const OutageChange& b) { return a.t < b.t; });
  std::vector<bool> outage_active(scenario.outages.size(), false);

  auto job_spec = [&](size_t i) {
    const TraceJob& t = workload.jobs[i];
    scheduler::JobSpec spec;
    spec.id = static_cast<int64_t>(i);
    spec.team = t.team;
    spec.priority = t.priority;
    spec.alternatives = t.alternatives;
    spec.duration_s = state[i].remaining_s == t.duration_s ? t.estimate_s.value_or(t.duration_s)
                                                           : state[i].remaining_s;
    spec.preemptible = t.preemptible;
    spec.submit_s = t.submit_s;
    return spec;
  };
  // Closes the current run segment at `now`: utilisation and cost.
  auto close_segment = [&](size_t i, int64_t now) {
    JobState& s = state[i];
    const double acc_s =
        static_cast<double>(s.accelerators) * static_cast<double>(now - s.run_start);
    busy_s += acc_s;
    provider_busy_s[s.provider] += acc_s;
    busy_now -= s.accelerators;
    const double run_h = static_cast<double>(now - s.run_start) / 3600;
    used_committed_usd +=
        static_cast<double>(s.committed) * run_h * markets[s.market].contract_price;
    const double market_h = static_cast<double>(s.accelerators - s.committed) * run_h;
    switch (s.tier) {
      case Tier::kCommitted:
        break;
      case Tier::kOnDemand:
        res.cost_on_demand += market_h * market_price[s.market].on_demand;
        break;
      case Tier::kSpot:
        res.cost_spot += market_h * market_price[s.market].spot;
        break;
    }
    if (s.tier != Tier::kCommitted && !market_priced[s.market])
      market_unpriced_used[s.market] = true;
  };
  // A run that ended early (preemption, interruption, outage): work since the last checkpoint is
  // lost.
  auto lose_place = [&](size_t i, int64_t now) {
    JobState& s = state[i];
    close_segment(i, now);
    const int64_t ran = now - s.run_start;
    const int64_t interval = workload.jobs[i].checkpoint_s.value_or(scenario.checkpoint_interval_s);
    const int64_t saved = interval > 0 ? std::min(s.remaining_s, (ran / interval) * interval) : 0;
    res.lost_work_accelerator_hours +=
        static_cast<double>(s.accelerators) * static_cast<double>(ran - saved) / 3600;
    s.remaining_s -= saved;
    s.run_start = -1;
    ++s.generation;
    ++res.requeued;
  };

  // Samples of the time series.
  const int64_t first_t = n ? workload.jobs.front().submit_s : 0;
  const int64_t last_submit = n ? workload.jobs.back().submit_s : 0;
  int64_t sample_every = options.sample_s > 0
                             ? options.sample_s
                             : std::max<int64_t>(60, (last_submit - first_t + 86400) / 500);
  int64_t next_sample = first_t;
  auto committed_now = [&](int64_t t) {
    int64_t c = 0;
    for (size_t m = 0; m < markets.size(); ++m) c += sched.CommittedAt(m, t);
    return c;
  };
  auto take_sample = [&](int64_t t) {
    Sample s;
    s.t_s = t;
    s.busy_accelerators = busy_now;
    s.utilization = res.total_accelerators ? static_cast<double>(busy_now) /
                                                 static_cast<double>(res.total_accelerators)
                                           : 0;
    s.running_jobs = sched.running().size();
    s.queued_jobs = sched.queued();
    s.committed_accelerators = committed_now(t);
    for (uint32_t p = 0; p < sched.capacity().pool_count(); ++p) {
      if (!sched.capacity().Available(p))
        s.down_accelerators += sched.capacity().pool(p).accelerators();
    }
    res.series.push_back(s);
    if (res.series.size() >= 20000) {  // keep the series bounded: halve its resolution
      std::vector<Sample> half;
      for (size_t k = 0; k < res.series.size(); k += 2) half.push_back(res.series[k]);
      res.series = std::move(half);
      sample_every *= 2;
    }
  };

  size_t next_arrival = 0, next_change = 0;
  int64_t now = first_t;
  int64_t done = 0;
  int64_t last_progress = 0;
  for (size_t i = 0; i < n; ++i) {
    state[i].remaining_s = workload.jobs[i].duration_s;
    state[i].submit_s = workload.jobs[i].submit_s;
  }
  while (true) {
    int64_t t = std::numeric_limits<int64_t>::max();
    if (next_arrival < n) t = std::min(t, workload.jobs[next_arrival].submit_s);
    if (!heap.empty()) t = std::min(t, heap.Top());
    // Scenario events still matter while something waits that a pool could ever hold.
    const bool work_left =
        next_arrival < n || !heap.empty() || sched.queued() > sched.unplaceable();
    if (next_change < changes.size() && work_left) t = std::min(t, changes[next_change].t);
    if (t == std::numeric_limits<int64_t>::max()) break;
    if (scenario.horizon_s && t > *scenario.horizon_s) break;
    while (next_sample < t) {  // the state from the last event time until t
      take_sample(next_sample);
      next_sample += sample_every;
    }
    now = t;
    while (next_arrival < n && workload.jobs[next_arrival].submit_s == t) {
      sched.Submit(job_spec(next_arrival));
      ++res.submitted;
      ++res.events;
      ++next_arrival;
    }
    due.clear();
    if (!heap.empty() && heap.Top() == t) {
      heap.PopAll(due);
      std::sort(due.begin(), due.end(),
                [](const HeapEvent& a, const HeapEvent& b) { return a.job < b.job; });
    }
    for (const HeapEvent& e : due) {
      JobState& s = state[e.job];
      if (e.generation != (s.generation & 0x7fffffffu) || s.run_start < 0)
        continue;  // its run already ended
      ++res.events;
      if (e.interrupt) {
        sched.Finish(e.job);
        lose_place(e.job, t);
        ++res.interrupted;
        sched.Submit(job_spec(e.job));
      } else {
        close_segment(e.job, t);
        sched.Finish(e.job);
        s.run_start = -1;
        s.remaining_s = 0;
        s.done = true;
        ++done;
        ++res.completed;
        jct.push_back(static_cast<double>(t - s.submit_s));
      }
    }
    while (next_change < changes.size() && changes[next_change].t == t) {
      const OutageChange c = changes[next_change++];
      const OutageEvent& o = scenario.outages[c.outage];
      ++res.events;
      outage_active[c.outage] = c.down;
      if (c.down) {
        for (int64_t id : sched.SetOutage(o.provider, o.region, true))
          lose_place(static_cast<size_t>(id), t);
      } else {
        sched.SetOutage(o.provider, o.region, false);
        // Outages still going on keep their pools down (nothing can have started there since).
        for (size_t k = 0; k < scenario.outages.size(); ++k) {
          if (outage_active[k] && scenario.outages[k].provider == o.provider) {
            sched.SetOutage(o.provider, scenario.outages[k].region, true);
          }
        }
      }
    }
    for (const Decision& d : sched.Schedule(t)) {
      ++res.events;
      const size_t i = static_cast<size_t>(d.job);
      JobState& s = state[i];
      if (d.kind == Decision::Kind::kPreempt) {
        ++res.preempted;
        if (s.run_start >= 0) {
          lose_place(i, t);
        } else {
          ++res.requeued;  // started and preempted in the same pass: nothing ran
        }
        continue;
      }
      const scheduler::Running* running = sched.running().find(d.job);
      if (!running) continue;  // preempted later in the same pass
      const scheduler::Running& r = *running;
      s.run_start = t;
      if (s.first_start < 0) {
        s.first_start = t;
        delay.push_back(static_cast<double>(t - s.submit_s));
        if (workload.jobs[i].recorded_queue_delay_s) {
          recorded.push_back(static_cast<double>(*workload.jobs[i].recorded_queue_delay_s));
        }
      }
      s.accelerators = r.spec.alternatives[r.alternative].accelerators();
      s.provider = pool_provider[r.placement.pool];
      s.market = static_cast<uint32_t>(sched.MarketOf(r.placement.pool));
      s.tier = r.tier;
      s.committed = r.committed_accelerators;
      busy_now += s.accelerators;
      HeapEvent e{t + s.remaining_s, static_cast<uint32_t>(i), s.generation & 0x7fffffffu, 0};
      if (s.tier == Tier::kSpot && interrupt_rate > 0) {
        std::exponential_distribution<double> gap(interrupt_rate);
        const double after = gap(rng);
        if (after < static_cast<double>(s.remaining_s)) {
          e.t = t + std::max<int64_t>(1, static_cast<int64_t>(after));
          e.interrupt = 1;
        }
      }
      heap.Push(e);
    }
    if (options.progress && res.events - last_progress >= options.progress_every_events) {
      last_progress = res.events;
      options.progress(t, done, sched.queued());
    }
  }
  const int64_t end = scenario.horizon_s ? std::max(now, *scenario.horizon_s) : now;
  // Runs still going at the end count up to it.
  for (size_t i = 0; i < n; ++i) {
    if (state[i].run_start >= 0) close_segment(i, end);
    if (!state[i].done) ++res.unfinished;
  }
  take_sample(end);
  res.start_s = first_t;
  res.end_s = end;
  res.unplaceable = static_cast<int64_t>(sched.unplaceable());
  const double span = static_cast<double>(std::max<int64_t>(1, end - first_t));
  res.utilization =
      res.total_accelerators ? busy_s / (static_cast<double>(res.total_accelerators) * span) : 0;
  for (size_t p = 0; p < providers.size(); ++p) {
    res.utilization_by_provider[providers[p]] =
        provider_total[p] ? provider_busy_s[p] / (static_cast<double>(provider_total[p]) * span)
                          : 0;
  }
  // Committed capacity is paid for over the whole span, used or not.
  for (const auto& c : fleet.contracts) {
    for (size_t k = 0; k < c.ramp.size(); ++k) {
      const int64_t from = std::max(first_t, c.ramp[k].from_s);
      const int64_t to = std::min(end, k + 1 < c.ramp.size() ? c.ramp[k + 1].from_s : end);
      if (to > from) {
        res.cost_committed += static_cast<double>(c.ramp[k].accelerators) *
                              static_cast<double>(to - from) / 3600 * c.price_per_accelerator_hour;
      }
    }
  }
  res.cost_idle_committed = std::max(0.0, res.cost_committed - used_committed_usd);
  for (size_t m = 0; m < markets.size(); ++m) {
    if (market_unpriced_used[m])
      res.unpriced.push_back(markets[m].provider + "/" + markets[m].accelerator);
  }
  res.jct_s = Summarise(jct);
  res.queue_delay_s = Summarise(delay);
  if (!recorded.empty()) res.recorded_queue_delay_s = Summarise(recorded);
  res.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return res;
}

}  // namespace awan::simulator

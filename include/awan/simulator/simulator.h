// The discrete-event fleet simulator (issue 5): replays a workload through the same scheduler the
// server uses, on a fleet model, under a scenario. Deterministic: the same inputs and seed give the
// same result (wall_s aside). Events: arrivals, starts, completions, preemptions, spot
// interruptions, outage starts and ends; a job that loses its place (preemption, interruption,
// outage) goes back to the queue with the work since its last checkpoint lost.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "awan/scheduler/scheduler.h"
#include "awan/simulator/scenario.h"
#include "awan/simulator/workload.h"

namespace awan::simulator {

// USD per accelerator-hour outside the contracts, per (provider, accelerator).
struct MarketPrice {
  double on_demand = 0;
  double spot = 0;
};
using PriceBook = std::map<std::pair<std::string, std::string>, MarketPrice>;

struct SimOptions {
  std::string policy = "fifo";
  uint64_t seed = 1;
  scheduler::SchedulerOptions scheduler;
  // Time-series sample interval; 0 = about 500 samples over the run.
  int64_t sample_s = 0;
  // Called about every `progress_every_events` events with (simulated time, jobs done, queued).
  std::function<void(int64_t now, int64_t done, size_t queued)> progress;
  int64_t progress_every_events = 1 << 20;
};

struct Stats {
  double mean = 0, p50 = 0, p99 = 0;
  int64_t count = 0;
};

struct Sample {
  int64_t t_s = 0;
  int64_t busy_accelerators = 0;
  double utilization = 0;
  size_t running_jobs = 0;
  size_t queued_jobs = 0;
  int64_t committed_accelerators = 0;
  int64_t down_accelerators = 0;
};

struct SimResult {
  std::string fleet, policy, workload_source, workload_format, scenario_source;
  int64_t total_accelerators = 0;
  std::map<std::string, int64_t> skipped, adjusted;
  int64_t submitted = 0, completed = 0, preempted = 0, interrupted = 0, requeued = 0,
          unfinished = 0;
  int64_t unplaceable = 0;  // queued jobs no pool of the fleet could ever hold
  int64_t events = 0;
  int64_t start_s = 0, end_s = 0;  // simulated span (first arrival → last event)
  double utilization = 0;
  std::map<std::string, double> utilization_by_provider;
  Stats jct_s, queue_delay_s;
  std::optional<Stats> recorded_queue_delay_s;  // from the trace (openb), same jobs
  double cost_committed = 0, cost_on_demand = 0, cost_spot = 0, cost_idle_committed = 0;
  double lost_work_accelerator_hours = 0;
  std::vector<std::string> unpriced;  // markets used without a known price (cost counted as 0)
  std::vector<Sample> series;
  double wall_s = 0;
};

SimResult Simulate(const scheduler::FleetModel& fleet, const Workload& workload,
                   const Scenario& scenario, const PriceBook& prices, const SimOptions& options);

// Percentiles of `values` (reordered): nearest rank.
Stats Summarise(std::vector<double>& values);

}  // namespace awan::simulator

// What the controller is told (ControllerOptions) and what it tells about its fleet scheduler
// (SchedulerSummary). Plain data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace awan::controller {

struct ControllerOptions {
  std::string home;                  // job folders go under home/jobs/<id>/
  int64_t cancel_grace_ms = 5000;    // SIGTERM, then SIGKILL after this long
  int64_t poll_interval_ms = 50;     // how often running nodes are looked at
  int64_t block_ms = 5 * 60 * 1000;  // how long a failed zone/region/provider is skipped
  int64_t retry_base_ms = 2000, retry_cap_ms = 60000;  // --retry-until-up backoff
  std::function<int64_t()> now_ms;  // the clock (default: system clock, ms since epoch)

  // Services (docs/services.md).
  std::string gateway_host = "127.0.0.1";      // the host of the endpoints the server hands out
  int64_t probe_interval_ms = 1000;            // each running replica's readiness probe
  int not_ready_after_failures = 3;            // consecutive failed probes of a ready replica
  int64_t replace_not_ready_after_ms = 30000;  // a replica not ready this long is replaced
  int64_t drain_ms = 2000;  // a replica leaves the routes this long before it is stopped
  int failures_before_service_fails = 3;  // replicas in a row that ended before they were ready
  int64_t load_window_ms = 10000;         // the autoscaler's QPS is measured over this window
};

// What the fleet scheduler holds, as of the loop's last pass (for `awan server status`).
struct SchedulerSummary {
  bool enabled = false;
  std::string policy, fleet_file;
  size_t queued = 0, running = 0;
  int64_t accelerators_in_use = 0, accelerators_total = 0;
};

}  // namespace awan::controller

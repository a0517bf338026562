// The autoscaler's rule, pure and time-injected: how many replicas a service's load asks for, and
// the delays before a change applies. The replica manager runs it on what the gateways report;
// `awan serve replay --autoscalers` runs the same code on emulated replicas in virtual time, so a
// target can be chosen on a recorded trace before it serves real traffic. See docs/services.md
// (QPS, requests in flight) and docs/llm.md (tokens in flight, waiting requests).
#pragma once

#include <cstdint>
#include <string>

#include "awan/spec/service.h"

namespace awan::controller {

// A service's load over the load window, summed over every gateway that reported it. The last
// three are means over the window (time-weighted: the gateways report them integrated over time),
// not a sample: a burst shorter than the window moves them in proportion to its length.
struct LoadSignals {
  double qps = 0;                // requests answered per second
  int64_t in_flight = 0;         // requests the gateways hold open
  int64_t tokens_in_flight = 0;  // their tokens: prompt + expected output (LLM routes)
  double waiting = 0;            // requests queued at the replicas (their /metrics)
  double tokens_per_s = 0;       // tokens (prompt + expected output) of requests routed, per second
};

struct ScaleNeed {
  int replicas = 0;
  std::string why;  // the signal that asked for the most, e.g. "12.0 QPS, target 5 per replica"
};

// Each configured target asks for ceil(signal / target) replicas (SkyServe's rule for QPS; the
// same for the others); the largest ask (at least min_replicas) wins, plus num_overprovision,
// within [min, max].
ScaleNeed DesiredReplicas(const spec::ReplicaPolicy& policy, const LoadSignals& load);

// Hysteresis: the target moves to what the load asks for once it has asked for more (fewer) for
// upscale_delay_seconds (downscale_delay_seconds) without a break.
class ScaleDelay {
 public:
  // Feeds one reading at `now_ms`. Returns true when the target changed (`from` says what it was).
  bool Step(const spec::ReplicaPolicy& policy, int64_t now_ms, int need, int* from = nullptr);
  int target() const { return target_; }
  void set_target(int target) { target_ = target; }

 private:
  int target_ = 0;  // 0: not set yet (min_replicas at the first step)
  int64_t above_since_ = -1, below_since_ = -1;
};

}  // namespace awan::controller

// Autoscalers compared on a recorded LLM trace (issue 12, token-aware autoscaling): the trace is
// replayed as `awan serve replay` does (emulated replicas, the gateway's balancer and a routing
// policy, virtual time), but the replica count follows an autoscaler — the replica manager's own
// rule and delays (controller/autoscaler.h) fed the signals a gateway reports: QPS over the load
// window, requests and tokens in flight, requests waiting at the replicas. New replicas serve
// after a start-up time; removed ones drain. Each autoscaler's replica-hours are reported beside
// its TTFT and SLO attainment, so a target is chosen on a trace before it serves. See docs/llm.md.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/llm/replay.h"
#include "awan/spec/service.h"

namespace awan::llm {

struct Autoscaler {
  std::string name;  // as given, e.g. "qps=4" or "tokens_in_flight=30000"
  spec::ReplicaPolicy policy;
};

// "SIGNAL=TARGET[+SIGNAL=TARGET...]" with SIGNAL one of qps, in_flight, tokens_in_flight, waiting
// (the replica_policy targets of the same names, per replica); `base` gives min/max replicas and
// the delays. Errors name the part that is wrong and the signals there are.
absl::StatusOr<Autoscaler> ParseAutoscaler(const std::string& text,
                                           const spec::ReplicaPolicy& base);

struct AutoscaleOptions {
  double replica_start_s = 60;  // from launch to serving (a GPU node, its image, the weights)
  double load_window_s = 10;    // QPS is measured over this window (the server's load window)
  double interval_s = 1;        // how often the autoscaler runs
};

struct AutoscaleResult {
  std::string autoscaler;
  PolicyResult figures;      // TTFT, goodput (SLO attainment), hits, ... of the whole replay
  double replica_hours = 0;  // every replica from launch until it stopped (or the replay ended)
  double mean_replicas = 0;  // replica-hours over the replay's span
  int peak_replicas = 0;
  int scale_ups = 0, scale_downs = 0;
};

// Replays `trace` once per autoscaler with routing `policy`, starting from the autoscalers'
// min_replicas (serving at the first arrival).
absl::StatusOr<std::vector<AutoscaleResult>> ReplayAutoscaled(
    const std::vector<TraceRequest>& trace, const std::string& policy,
    const std::vector<Autoscaler>& autoscalers, const ReplayOptions& options,
    const AutoscaleOptions& scaling);

// {"autoscalers": [{"autoscaler", "policy", "replica_hours", "mean_replicas", "peak_replicas",
// "scale_ups", "scale_downs", "ttft_s": {...}, "goodput", "requests", ...}]}
std::string AutoscaleJson(const std::vector<AutoscaleResult>& results);
std::string AutoscaleTable(const std::vector<AutoscaleResult>& results,
                           const ReplayOptions& options, const AutoscaleOptions& scaling);

}  // namespace awan::llm

#include "awan/controller/autoscaler.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"

namespace awan::controller {

ScaleNeed DesiredReplicas(const spec::ReplicaPolicy& p, const LoadSignals& load) {
  ScaleNeed out;
  int most = -1;
  const auto ask = [&](const std::optional<double>& target, double signal, std::string shown) {
    if (!target) return;
    const int n = static_cast<int>(std::ceil(signal / *target - 1e-9));
    if (n > most) {
      most = n;
      out.why = fmt::format("{}, target {:g} per replica", shown, *target);
    }
  };
  ask(p.target_qps_per_replica, load.qps, fmt::format("{:.1f} QPS", load.qps));
  ask(p.target_in_flight_per_replica, static_cast<double>(load.in_flight),
      fmt::format("{} requests in flight", load.in_flight));
  ask(p.target_tokens_in_flight_per_replica, static_cast<double>(load.tokens_in_flight),
      fmt::format("{} tokens in flight", load.tokens_in_flight));
  ask(p.target_waiting_per_replica, load.waiting,
      fmt::format("{:.0f} requests waiting", load.waiting));
  ask(p.target_tokens_per_second_per_replica, load.tokens_per_s,
      fmt::format("{:.0f} tokens/s", load.tokens_per_s));
  out.replicas = std::clamp(std::max(most, p.min_replicas) + p.num_overprovision, p.min_replicas,
                            std::max(p.min_replicas, p.max_replicas));
  return out;
}

bool ScaleDelay::Step(const spec::ReplicaPolicy& p, int64_t now, int need, int* from) {
  if (target_ == 0) target_ = p.min_replicas;
  const auto due = [&](int64_t& since, double delay_s) {
    if (since < 0) since = now;
    return now - since >= static_cast<int64_t>(delay_s * 1000);
  };
  if (need > target_) {
    below_since_ = -1;
    if (!due(above_since_, p.upscale_delay_s)) return false;
  } else if (need < target_) {
    above_since_ = -1;
    if (!due(below_since_, p.downscale_delay_s)) return false;
  } else {
    above_since_ = below_since_ = -1;
    return false;
  }
  if (from != nullptr) *from = target_;
  target_ = need;
  above_since_ = below_since_ = -1;
  return true;
}

}  // namespace awan::controller

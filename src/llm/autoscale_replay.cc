#include "awan/llm/autoscale_replay.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "awan/controller/autoscaler.h"
#include "awan/gateway/balancer.h"

namespace awan::llm {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kScrapeS = 0.1;  // a gateway reads the replicas' /metrics ten times a second

struct Slot {
  std::string id;
  Engine engine;
  double launched_s = 0, ready_s = 0, drain_s = 0, stopped_s = -1, last_finish_s = 0;
  bool serving = false, draining = false;
  int64_t in_flight = 0;
  bool live() const { return stopped_s < 0 && !draining; }
};

}  // namespace

absl::StatusOr<Autoscaler> ParseAutoscaler(const std::string& text,
                                           const spec::ReplicaPolicy& base) {
  Autoscaler out{text, base};
  out.policy.target_qps_per_replica.reset();
  out.policy.target_in_flight_per_replica.reset();
  out.policy.target_tokens_in_flight_per_replica.reset();
  out.policy.target_waiting_per_replica.reset();
  out.policy.target_tokens_per_second_per_replica.reset();
  const auto bad = [&](const std::string& part, const std::string& why) {
    return absl::InvalidArgumentError(fmt::format(
        "--autoscalers: '{}' {}; give SIGNAL=TARGET[+SIGNAL=TARGET], SIGNAL one of qps, "
        "in_flight, tokens_in_flight, waiting, tokens_per_s (per replica), e.g. qps=4 or "
        "tokens_in_flight=30000",
        part, why));
  };
  for (size_t start = 0; start <= text.size();) {
    const size_t plus = std::min(text.find('+', start), text.size());
    const std::string part = text.substr(start, plus - start);
    start = plus + 1;
    const size_t eq = part.find('=');
    if (eq == std::string::npos) return bad(part, "has no '='");
    const std::string signal = part.substr(0, eq);
    const std::string number = part.substr(eq + 1);
    char* end = nullptr;
    const double v = std::strtod(number.c_str(), &end);
    if (number.empty() || *end != '\0' || !(v > 0) || v > 1e12) {
      return bad(part, "needs a target above 0");
    }
    if (signal == "qps") {
      out.policy.target_qps_per_replica = v;
    } else if (signal == "in_flight") {
      out.policy.target_in_flight_per_replica = v;
    } else if (signal == "tokens_in_flight") {
      out.policy.target_tokens_in_flight_per_replica = v;
    } else if (signal == "waiting") {
      out.policy.target_waiting_per_replica = v;
    } else if (signal == "tokens_per_s") {
      out.policy.target_tokens_per_second_per_replica = v;
    } else {
      return bad(part, fmt::format("names no signal ('{}')", signal));
    }
  }
  return out;
}

absl::StatusOr<std::vector<AutoscaleResult>> ReplayAutoscaled(
    const std::vector<TraceRequest>& trace, const std::string& policy_name,
    const std::vector<Autoscaler>& autoscalers, const ReplayOptions& options,
    const AutoscaleOptions& scaling) {
  if (!(options.speed > 0)) return absl::InvalidArgumentError("--speed must be more than 0");
  if (!(scaling.replica_start_s >= 0) || !(scaling.load_window_s > 0) ||
      !(scaling.interval_s > 0)) {
    return absl::InvalidArgumentError(
        "--replica-start-s must be 0 or more, the load window and interval more than 0");
  }
  std::vector<AutoscaleResult> results;
  for (const Autoscaler& scaler : autoscalers) {
    const spec::ReplicaPolicy& p = scaler.policy;
    if (p.min_replicas < 1 || p.max_replicas < p.min_replicas || p.max_replicas > 4096) {
      return absl::InvalidArgumentError(
          "--min-replicas must be at least 1 and --max-replicas within min..4096");
    }
    auto made = gateway::MakePolicy(policy_name);
    if (!made.ok()) return made.status();
    double now_s = 0;
    gateway::BalancerOptions bo;
    bo.now_ms = [&now_s] { return static_cast<int64_t>(std::llround(now_s * 1000)); };
    gateway::Balancer balancer(std::move(*made), bo);
    std::vector<std::unique_ptr<Slot>> slots;
    std::map<std::string, size_t> index_of;
    const auto launch = [&](double at, bool ready) {
      auto s = std::make_unique<Slot>(Slot{std::to_string(slots.size()), Engine(options.model)});
      s->launched_s = at;
      s->ready_s = ready ? at : at + scaling.replica_start_s;
      index_of[s->id] = slots.size();
      slots.push_back(std::move(s));
    };
    const auto publish = [&] {  // the balancer's set: serving replicas that are not draining
      std::vector<gateway::ReplicaAddress> set;
      for (const auto& s : slots) {
        if (s->serving && s->live()) set.push_back({s->id, "emulated", 0});
      }
      balancer.SetReplicas(set);
      for (const auto& a : set) balancer.SetReady(a.id, true);
    };
    for (int i = 0; i < p.min_replicas; ++i) launch(0, true);

    AutoscaleResult result;
    result.autoscaler = scaler.name;
    controller::ScaleDelay delay;
    delay.set_target(p.min_replicas);
    std::map<uint64_t, std::pair<size_t, gateway::Balancer::Lease>> leases;
    int64_t tokens_in_flight = 0, refused = 0;
    std::vector<Completion> done;
    std::deque<double> arrivals;  // within the load window
    std::deque<std::pair<double, gateway::Balancer::LoadIntegrals>> integrals;
    // The replicas' metrics, as a gateway reads them: for llm_score, and for the waiting signal.
    const bool scrape = policy_name == "llm_score" || p.target_waiting_per_replica.has_value();

    const auto advance = [&](double t) {
      now_s = t;
      bool changed = false;
      for (auto& s : slots) {
        if (s->stopped_s >= 0) continue;
        const size_t before = done.size();
        s->engine.RunUntil(t, done);
        for (size_t i = before; i < done.size(); ++i) {
          s->last_finish_s = std::max(s->last_finish_s, done[i].finish_s);
          auto it = leases.find(done[i].id);
          if (it == leases.end()) continue;
          tokens_in_flight -= it->second.second.tokens;
          --s->in_flight;
          balancer.Release(it->second.second, gateway::Outcome::kOk);
          leases.erase(it);
        }
        if (s->draining && s->in_flight == 0) {
          s->stopped_s = std::max(s->drain_s, s->last_finish_s);
        }
        if (!s->serving && s->live() && s->ready_s <= t) {
          s->serving = true;
          changed = true;
        }
      }
      if (changed) publish();
    };

    const auto autoscale = [&](double t) {
      while (!arrivals.empty() && arrivals.front() <= t - scaling.load_window_s) {
        arrivals.pop_front();
      }
      // As the server reads a gateway's reports: QPS over the window, the others' means over it
      // from the balancer's integrals (one sample older than the window kept).
      controller::LoadSignals load;
      load.qps = static_cast<double>(arrivals.size()) / scaling.load_window_s;
      integrals.emplace_back(t, balancer.Integrals());
      while (integrals.size() > 2 && integrals[1].first <= t - scaling.load_window_s) {
        integrals.pop_front();
      }
      const double span = integrals.back().first - integrals.front().first;
      if (span > 0) {
        const auto& a = integrals.front().second;
        const auto& b = integrals.back().second;
        load.in_flight = std::llround((b.request_seconds - a.request_seconds) / span);
        load.tokens_in_flight = std::llround((b.token_seconds - a.token_seconds) / span);
        load.waiting = (b.waiting_seconds - a.waiting_seconds) / span;
        load.tokens_per_s = (b.tokens_routed - a.tokens_routed) / span;
      } else {
        load.in_flight = static_cast<int64_t>(leases.size());
        load.tokens_in_flight = tokens_in_flight;
      }
      const controller::ScaleNeed need = controller::DesiredReplicas(p, load);
      int from = 0;
      if (delay.Step(p, static_cast<int64_t>(std::llround(t * 1000)), need.replicas, &from)) {
        ++(need.replicas > from ? result.scale_ups : result.scale_downs);
      }
      int live = 0;
      for (const auto& s : slots) live += s->live() ? 1 : 0;
      bool changed = false;
      while (live < delay.target()) {
        launch(t, scaling.replica_start_s == 0);
        changed = changed || scaling.replica_start_s == 0;
        if (scaling.replica_start_s == 0) slots.back()->serving = true;
        ++live;
      }
      while (live > delay.target()) {
        // A replica still starting goes first (the newest); else the serving one with the fewest
        // requests drains.
        Slot* victim = nullptr;
        for (auto it = slots.rbegin(); it != slots.rend() && victim == nullptr; ++it) {
          if ((*it)->live() && !(*it)->serving) victim = it->get();
        }
        if (victim != nullptr) {
          victim->stopped_s = t;
        } else {
          for (auto& s : slots) {
            if (s->live() && (victim == nullptr || s->in_flight < victim->in_flight)) {
              victim = s.get();
            }
          }
          victim->draining = true;
          victim->drain_s = t;
          if (victim->in_flight == 0) victim->stopped_s = t;
          changed = true;
        }
        --live;
      }
      if (changed) publish();
      int running = 0;
      for (const auto& s : slots) running += s->stopped_s < 0 ? 1 : 0;
      result.peak_replicas = std::max(result.peak_replicas, running);
    };

    const double first = trace.empty() ? 0 : trace.front().arrival_s / options.speed;
    double next_tick = first, next_scrape = first;
    size_t n = 0;
    result.peak_replicas = p.min_replicas;
    while (true) {
      double busy = kInf;
      for (const auto& s : slots) {
        if (s->stopped_s < 0) busy = std::min(busy, s->engine.NextEventTime());
      }
      if (n >= trace.size() && !std::isfinite(busy)) break;
      const double next_arrival = n < trace.size() ? trace[n].arrival_s / options.speed : kInf;
      const double t = std::min(
          {next_arrival, next_tick, scrape ? next_scrape : kInf, n >= trace.size() ? busy : kInf});
      advance(t);
      if (scrape && t >= next_scrape) {
        for (const auto& s : slots) {
          if (!s->serving || !s->live()) continue;
          balancer.SetMetrics(s->id,
                              {static_cast<double>(s->engine.waiting()),
                               static_cast<double>(s->engine.running()), s->engine.kv_usage()});
        }
        next_scrape += kScrapeS;
      }
      if (t >= next_tick) {
        autoscale(t);
        next_tick += scaling.interval_s;
      }
      if (t >= next_arrival) {
        const TraceRequest& tr = trace[n];
        arrivals.push_back(t);
        gateway::RequestInfo info{tr.prompt_tokens + tr.output_tokens, tr.blocks};
        auto lease = balancer.Acquire("", info);
        if (!lease) return absl::InternalError("no emulated replica is serving");
        const size_t index = index_of.at(lease->address().id);
        if (!slots[index]->engine.Submit(EngineRequest(tr, n, t))) {
          ++refused;
          balancer.Release(*lease, gateway::Outcome::kOk);
        } else {
          tokens_in_flight += lease->tokens;
          ++slots[index]->in_flight;
          leases.emplace(n, std::make_pair(index, std::move(*lease)));
        }
        ++n;
      }
    }
    double end = first;
    for (const Completion& c : done) end = std::max(end, c.finish_s);
    double seconds = 0;
    int64_t queries = 0, hits = 0;
    for (const auto& s : slots) {
      const double stop = s->stopped_s >= 0 ? s->stopped_s : end;
      seconds += std::max(0.0, stop - s->launched_s);
      queries += s->engine.prefix_queries();
      hits += s->engine.prefix_hits();
    }
    result.figures = Summarize(policy_name, done, first, queries, hits, {}, options);
    result.figures.refused = refused;
    result.replica_hours = seconds / 3600;
    result.mean_replicas = end > first ? seconds / (end - first) : 0;
    results.push_back(std::move(result));
  }
  return results;
}

std::string AutoscaleJson(const std::vector<AutoscaleResult>& results) {
  using J = nlohmann::ordered_json;
  const auto r4 = [](double v) { return std::round(v * 10000) / 10000; };
  J list = J::array();
  for (const AutoscaleResult& a : results) {
    const PolicyResult& r = a.figures;
    list.push_back(
        {{"autoscaler", a.autoscaler},
         {"policy", r.policy},
         {"replica_hours", r4(a.replica_hours)},
         {"mean_replicas", r4(a.mean_replicas)},
         {"peak_replicas", a.peak_replicas},
         {"scale_ups", a.scale_ups},
         {"scale_downs", a.scale_downs},
         {"ttft_s", {{"p50", r4(r.ttft_p50)}, {"p90", r4(r.ttft_p90)}, {"p99", r4(r.ttft_p99)}}},
         {"e2e_s", {{"p50", r4(r.e2e_p50)}, {"p99", r4(r.e2e_p99)}}},
         {"goodput", r4(r.goodput)},
         {"prefix_hit_ratio", r4(r.prefix_hit_ratio)},
         {"output_tokens_per_s", std::round(r.output_tokens_per_s * 10) / 10},
         {"requests", r.requests},
         {"refused", r.refused}});
  }
  return J{{"autoscalers", list}}.dump(2) + "\n";
}

std::string AutoscaleTable(const std::vector<AutoscaleResult>& results,
                           const ReplayOptions& options, const AutoscaleOptions& scaling) {
  std::string out = fmt::format("{:<28} {:<14} {:>9} {:>8} {:>5} {:>7} {:>9} {:>9} {:>9} {:>8}\n",
                                "AUTOSCALER", "POLICY", "REPLICA_H", "MEAN", "PEAK", "UP/DOWN",
                                "TTFT_P50", "TTFT_P90", "TTFT_P99", "GOODPUT");
  for (const AutoscaleResult& a : results) {
    const PolicyResult& r = a.figures;
    out += fmt::format(
        "{:<28} {:<14} {:>9.2f} {:>8.2f} {:>5} {:>7} {:>8.3f}s {:>8.3f}s {:>8.3f}s {:>7.1f}%\n",
        a.autoscaler, r.policy, a.replica_hours, a.mean_replicas, a.peak_replicas,
        fmt::format("{}/{}", a.scale_ups, a.scale_downs), r.ttft_p50, r.ttft_p90, r.ttft_p99,
        r.goodput * 100);
  }
  out += fmt::format(
      "(replicas start serving {:g} s after launch; QPS over a {:g} s window; the autoscaler runs "
      "every {:g} s; GOODPUT: TTFT ≤ {:g} s and time per output token ≤ {:g} s; REPLICA_H: "
      "replica-hours from launch to stop)\n",
      scaling.replica_start_s, scaling.load_window_s, scaling.interval_s, options.slo_ttft_s,
      options.slo_tpot_s);
  return out;
}

}  // namespace awan::llm

#include "awan/gateway/balancer.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>
#include <cmath>
#include <deque>
#include <map>
#include <stdexcept>
#include <unordered_set>

namespace awan::gateway {

struct Balancer::ReplicaState {
  ReplicaAddress address;
  bool in_set = true;
  bool ready = false;
  int64_t ejected_until = 0;  // ms on the balancer's clock
  int consecutive_failures = 0;
  int64_t in_flight = 0;
  int64_t tokens_in_flight = 0;
  int64_t requests = 0, failures = 0, ejections = 0;
  ReplicaMetrics metrics;
  int64_t metrics_at = INT64_MIN;  // ms on the balancer's clock; never
  int64_t routed_since_metrics = 0;
};

const ReplicaAddress& Balancer::Lease::address() const { return replica->address; }

namespace {

// The first of `usable` that `eligible` accepts at or after index `next` in set order, wrapping
// around to the first one it accepts; `next` moves past it. Both built-in policies take turns this
// way, so an idle set is used evenly rather than always from its first replica.
template <typename Eligible>
size_t InTurn(const std::vector<Candidate>& usable, size_t& next, Eligible eligible) {
  const Candidate* chosen = nullptr;
  for (const Candidate& c : usable) {
    if (!eligible(c)) continue;
    if (chosen == nullptr) chosen = &c;
    if (c.index >= next) {
      chosen = &c;
      break;
    }
  }
  next = chosen->index + 1;
  return chosen->index;
}

// Of `usable`, one with the least `load` (requests or tokens in flight), in turn among equals.
template <typename Load>
size_t LeastInTurn(const std::vector<Candidate>& usable, size_t& next, Load load) {
  int64_t least = load(usable.front());
  for (const Candidate& c : usable) least = std::min(least, load(c));
  return InTurn(usable, next, [&](const Candidate& c) { return load(c) == least; });
}
int64_t Requests(const Candidate& c) { return c.in_flight; }
int64_t Tokens(const Candidate& c) { return c.tokens_in_flight; }

// The next usable replica after the last one picked.
class RoundRobin final : public Policy {
 public:
  void Reset(size_t) override { next_ = 0; }
  size_t Pick(const std::vector<Candidate>& usable, const RequestInfo&) override {
    return InTurn(usable, next_, [](const Candidate&) { return true; });
  }

 private:
  size_t next_ = 0;
};

// The replica with the fewest requests in flight; ties in turn.
class LeastLoad final : public Policy {
 public:
  void Reset(size_t) override { next_ = 0; }
  size_t Pick(const std::vector<Candidate>& usable, const RequestInfo&) override {
    return LeastInTurn(usable, next_, Requests);
  }

 private:
  size_t next_ = 0;
};

// The replica with the fewest tokens in flight (prompt + output of its requests under way, as
// the gateway estimated them when it routed them); ties in turn.
class LeastTokens final : public Policy {
 public:
  void Reset(size_t) override { next_ = 0; }
  size_t Pick(const std::vector<Candidate>& usable, const RequestInfo&) override {
    return LeastInTurn(usable, next_, Tokens);
  }

 private:
  size_t next_ = 0;
};

// Prefix affinity with bounded load. The policy remembers which prefix blocks it sent to each
// replica (the most recent kBlocksPerReplica of them): the replica that was sent the longest
// leading run of the request's blocks likely holds them in its KV cache. It gets the request when
// that run is at least kMinMatch of the request's blocks (SGLang's cache-aware router has such a
// threshold too, 0.3 of the prompt's characters in sglang-router 0.3.2: a short common prefix,
// such as one shared system prompt, is not worth a detour; 0.3 here found 22.1% of the Mooncake
// trace's tokens cached against 21.8%, with a higher TTFT p90 and a busier busiest replica) and
// while its requests in flight stay within kLoadBound × the mean (+1), the guard of consistent
// hashing with bounded loads. Otherwise the least loaded replica takes it, in turn. The prefix
// blocks a policy sent to each replica (the most recent kBlocksPerReplica of them): the replica
// that was sent the longest leading run of a request's blocks likely holds them in its KV cache.
class PrefixMemory {
 public:
  static constexpr size_t kBlocksPerReplica = 1 << 16;
  void Reset(size_t size) { sent_.assign(size, {}); }
  // How many leading blocks of `blocks` were sent to replica `index`.
  size_t Match(size_t index, std::span<const uint64_t> blocks) const {
    if (index >= sent_.size()) return 0;
    const Sent& s = sent_[index];
    size_t match = 0;
    while (match < blocks.size() && s.blocks.count(blocks[match]) != 0) ++match;
    return match;
  }
  void Remember(size_t index, std::span<const uint64_t> blocks) {
    if (index >= sent_.size()) return;
    Sent& s = sent_[index];
    for (uint64_t b : blocks) {
      if (!s.blocks.insert(b).second) continue;
      s.order.push_back(b);
      if (s.order.size() > kBlocksPerReplica) {
        s.blocks.erase(s.order.front());
        s.order.pop_front();
      }
    }
  }

 private:
  struct Sent {
    std::unordered_set<uint64_t> blocks;
    std::deque<uint64_t> order;  // oldest first, to forget beyond kBlocksPerReplica
  };
  std::vector<Sent> sent_;
};

// The bounded-load guard of consistent hashing with bounded loads: a replica may take one more
// request while its requests in flight stay within kLoadBound × the mean (+1).
constexpr double kLoadBound = 1.25;
double LoadBound(const std::vector<Candidate>& usable) {
  int64_t total = 0;
  for (const Candidate& c : usable) total += c.in_flight;
  return kLoadBound * static_cast<double>(total + 1) / static_cast<double>(usable.size()) + 1;
}

// Prefix affinity with bounded load. The replica that was sent the longest leading run of the
// request's blocks (PrefixMemory) gets it when that run is at least kMinMatch of the request's
// blocks (as SGLang's cache-aware router does: a short common prefix, such as one shared system
// prompt, is not worth a detour) and within the load bound. Otherwise the least loaded replica
// takes it, in turn.
class PrefixAffinity final : public Policy {
 public:
  static constexpr double kMinMatch = 0.5;

  void Reset(size_t size) override {
    next_ = 0;
    memory_.Reset(size);
  }
  size_t Pick(const std::vector<Candidate>& usable, const RequestInfo& request) override {
    const double bound = LoadBound(usable);
    const Candidate* best = nullptr;
    size_t best_match = 0;
    for (const Candidate& c : usable) {
      if (static_cast<double>(c.in_flight) + 1 > bound) continue;
      const size_t match = memory_.Match(c.index, request.blocks);
      if (match > best_match ||
          (match == best_match && match > 0 && best != nullptr && c.in_flight < best->in_flight)) {
        best = &c;
        best_match = match;
      }
    }
    size_t pick;
    if (best != nullptr &&
        static_cast<double>(best_match) >= kMinMatch * static_cast<double>(request.blocks.size())) {
      pick = best->index;
    } else {
      pick = LeastInTurn(usable, next_, Requests);
    }
    memory_.Remember(pick, request.blocks);
    return pick;
  }

 private:
  size_t next_ = 0;
  PrefixMemory memory_;
};

// A weighted score per replica, as llm-d's endpoint picker combines its scorers (each in 0..1,
// higher better): queue (kQueueWeight: 1 − its queue over the longest queue + 1, the queue being
// the replica's waiting + running requests from its metrics plus those routed to it since, or this
// gateway's requests in flight on it when its metrics are unknown), KV cache (kKvWeight: 1 − its
// use; the mean of the known ones when unknown) and prefix (kPrefixWeight: the share of the
// request's blocks sent to it before, within the load bound, else 0). The highest wins; ties in
// turn.
class LlmScore final : public Policy {
 public:
  static constexpr double kQueueWeight = 2, kKvWeight = 2, kPrefixWeight = 3;

  void Reset(size_t size) override {
    next_ = 0;
    memory_.Reset(size);
  }
  size_t Pick(const std::vector<Candidate>& usable, const RequestInfo& request) override {
    const double bound = LoadBound(usable);
    double longest = 0, kv_known = 0, known = 0;
    queue_.resize(usable.size());
    for (size_t i = 0; i < usable.size(); ++i) {
      const Candidate& c = usable[i];
      queue_[i] = c.metrics != nullptr ? c.metrics->waiting + c.metrics->running +
                                             static_cast<double>(c.routed_since_metrics)
                                       : static_cast<double>(c.in_flight);
      longest = std::max(longest, queue_[i]);
      if (c.metrics != nullptr) {
        kv_known += c.metrics->kv_usage;
        ++known;
      }
    }
    const double kv_unknown = known > 0 ? kv_known / known : 0;
    double best = -1;
    for (size_t i = 0; i < usable.size(); ++i) {
      const Candidate& c = usable[i];
      const double kv = c.metrics != nullptr ? c.metrics->kv_usage : kv_unknown;
      double prefix = 0;
      if (!request.blocks.empty() && static_cast<double>(c.in_flight) + 1 <= bound) {
        prefix = static_cast<double>(memory_.Match(c.index, request.blocks)) /
                 static_cast<double>(request.blocks.size());
      }
      score_.resize(usable.size());
      score_[i] = kQueueWeight * (1 - queue_[i] / (longest + 1)) +
                  kKvWeight * (1 - std::clamp(kv, 0.0, 1.0)) + kPrefixWeight * prefix;
      best = std::max(best, score_[i]);
    }
    const size_t pick = InTurn(usable, next_, [&](const Candidate& c) {
      const size_t i = static_cast<size_t>(&c - usable.data());
      return score_[i] >= best - 1e-9;
    });
    memory_.Remember(pick, request.blocks);
    return pick;
  }

 private:
  size_t next_ = 0;
  PrefixMemory memory_;
  std::vector<double> queue_, score_;  // per usable candidate, reused
};

struct Registry {
  std::mutex mu;
  std::map<std::string, PolicyFactory, std::less<>> factories;  // guarded by mu
};

Registry& Policies() {
  static Registry* registry = [] {
    auto* r = new Registry;
    r->factories["round_robin"] = [] { return std::make_unique<RoundRobin>(); };
    r->factories["least_load"] = [] { return std::make_unique<LeastLoad>(); };
    r->factories["least_tokens"] = [] { return std::make_unique<LeastTokens>(); };
    r->factories["prefix_affinity"] = [] { return std::make_unique<PrefixAffinity>(); };
    r->factories["llm_score"] = [] { return std::make_unique<LlmScore>(); };
    return r;
  }();
  return *registry;
}

}  // namespace

void RegisterPolicy(std::string name, PolicyFactory factory) {
  Registry& r = Policies();
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.factories.emplace(name, std::move(factory)).second) {
    throw std::logic_error(fmt::format("load-balancing policy '{}' is registered twice", name));
  }
}

absl::StatusOr<std::unique_ptr<Policy>> MakePolicy(std::string_view name) {
  Registry& r = Policies();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.factories.find(name);
  if (it == r.factories.end()) {
    std::string known;
    for (const auto& [n, f] : r.factories) known += (known.empty() ? "" : ", ") + n;
    return absl::InvalidArgumentError(
        fmt::format("unknown load-balancing policy '{}'; policies: {}", name, known));
  }
  return it->second();
}

std::vector<std::string> PolicyNames() {
  Registry& r = Policies();
  std::lock_guard<std::mutex> lock(r.mu);
  std::vector<std::string> names;
  for (const auto& [n, f] : r.factories) names.push_back(n);
  return names;
}

std::optional<ReplicaMetrics> ParseReplicaMetrics(std::string_view text) {
  ReplicaMetrics m;
  bool any = false;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string_view::npos) continue;
    const std::string_view name = line.substr(0, name_end);
    double* into = nullptr;
    bool largest = false;
    if (name == "vllm:num_requests_waiting" || name == "sglang:num_queue_reqs") {
      into = &m.waiting;
    } else if (name == "vllm:num_requests_running" || name == "sglang:num_running_reqs") {
      into = &m.running;
    } else if (name == "vllm:kv_cache_usage_perc" || name == "vllm:gpu_cache_usage_perc" ||
               name == "sglang:token_usage") {
      into = &m.kv_usage;
      largest = true;
    } else {
      continue;
    }
    // The value follows the labels (which may hold spaces inside quotes): after the last '}'.
    const size_t labels_end = line.rfind('}');
    std::string_view rest = labels_end != std::string_view::npos && line[name_end] == '{'
                                ? line.substr(labels_end + 1)
                                : line.substr(name_end);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    rest = rest.substr(0, rest.find(' '));  // a timestamp may follow
    double v = 0;
    const auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), v);
    if (ec != std::errc() || ptr != rest.data() + rest.size() || !std::isfinite(v) || v < 0) {
      continue;
    }
    *into = largest ? std::max(*into, v) : *into + v;
    any = true;
  }
  if (!any) return std::nullopt;
  return m;
}

Balancer::Balancer(std::unique_ptr<Policy> policy, BalancerOptions options)
    : policy_(std::move(policy)), options_(std::move(options)) {}

Balancer::~Balancer() = default;

int64_t Balancer::Now() const {
  if (options_.now_ms) return options_.now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Balancer::SetReplicas(const std::vector<ReplicaAddress>& replicas) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<ReplicaState>> next;
  for (const ReplicaAddress& a : replicas) {
    auto same = std::find_if(replicas_.begin(), replicas_.end(),
                             [&](const auto& r) { return r && r->address.id == a.id; });
    if (same != replicas_.end() && (*same)->address == a) {
      next.push_back(std::move(*same));  // keeps its counts and health
    } else {
      auto fresh = std::make_shared<ReplicaState>();
      fresh->address = a;
      next.push_back(std::move(fresh));
    }
  }
  for (auto& gone : replicas_) {
    if (!gone) continue;  // moved into `next`
    gone->in_set = false;
    if (gone->in_flight > 0) draining_.push_back(std::move(gone));
  }
  replicas_ = std::move(next);
  policy_->Reset(replicas_.size());
}

void Balancer::SetReady(std::string_view id, bool ready) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& r : replicas_) {
    if (r->address.id == id) r->ready = ready;
  }
}

void Balancer::SetMetrics(std::string_view id, const ReplicaMetrics& metrics) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = Now();
  Integrate(now);
  waiting_now_ = 0;
  for (auto& r : replicas_) {
    if (r->address.id == id) {
      r->metrics = metrics;
      r->metrics_at = now;
      r->routed_since_metrics = 0;
    }
    if (r->metrics_at != INT64_MIN && now - r->metrics_at <= options_.metrics_stale_ms) {
      waiting_now_ += r->metrics.waiting;
    }
  }
}

void Balancer::Integrate(int64_t now) {
  if (integrated_at_ != INT64_MIN && now > integrated_at_) {
    const double ms = static_cast<double>(now - integrated_at_);
    integrals_ms_.request_seconds += static_cast<double>(requests_now_) * ms;
    integrals_ms_.token_seconds += static_cast<double>(tokens_now_) * ms;
    integrals_ms_.waiting_seconds += waiting_now_ * ms;
  }
  if (integrated_at_ == INT64_MIN || now > integrated_at_) integrated_at_ = now;
}

Balancer::LoadIntegrals Balancer::Integrals() const {
  std::lock_guard<std::mutex> lock(mu_);
  LoadIntegrals out = integrals_ms_;
  const int64_t now = Now();
  if (integrated_at_ != INT64_MIN && now > integrated_at_) {
    const double ms = static_cast<double>(now - integrated_at_);
    out.request_seconds += static_cast<double>(requests_now_) * ms;
    out.token_seconds += static_cast<double>(tokens_now_) * ms;
    out.waiting_seconds += waiting_now_ * ms;
  }
  out.request_seconds /= 1000;  // ms → s (tokens_routed is a count)
  out.token_seconds /= 1000;
  out.waiting_seconds /= 1000;
  return out;
}

std::optional<Balancer::Lease> Balancer::Acquire(std::string_view exclude,
                                                 const RequestInfo& request) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = Now();
  std::vector<Candidate> usable;
  usable.reserve(replicas_.size());
  for (size_t i = 0; i < replicas_.size(); ++i) {
    const ReplicaState& r = *replicas_[i];
    if (!r.ready || r.ejected_until > now || r.address.id == exclude) continue;
    const bool fresh = r.metrics_at != INT64_MIN && now - r.metrics_at <= options_.metrics_stale_ms;
    usable.push_back({i, r.in_flight, r.tokens_in_flight, &r.address, fresh ? &r.metrics : nullptr,
                      r.routed_since_metrics});
  }
  if (usable.empty()) return std::nullopt;
  const size_t pick = policy_->Pick(usable, request);
  // The policy's contract: one of the usable ones. Anything else is a bug in the policy; fall
  // back to the first rather than send to a replica that must not take traffic.
  const bool valid = std::any_of(usable.begin(), usable.end(),
                                 [&](const Candidate& c) { return c.index == pick; });
  std::shared_ptr<ReplicaState>& chosen = replicas_[valid ? pick : usable.front().index];
  ++chosen->in_flight;
  ++chosen->routed_since_metrics;
  chosen->tokens_in_flight += request.tokens;
  ++chosen->requests;
  Integrate(now);
  ++requests_now_;
  tokens_now_ += request.tokens;
  integrals_ms_.tokens_routed += static_cast<double>(request.tokens);
  return Lease{chosen, request.tokens};
}

void Balancer::Release(Lease& lease, Outcome outcome) {
  if (!lease.replica) return;  // released already
  std::lock_guard<std::mutex> lock(mu_);
  ReplicaState& r = *lease.replica;
  --r.in_flight;
  r.tokens_in_flight -= lease.tokens;
  Integrate(Now());
  --requests_now_;
  tokens_now_ -= lease.tokens;
  switch (outcome) {
    case Outcome::kOk:
      r.consecutive_failures = 0;
      break;
    case Outcome::kConnectError:
    case Outcome::kServerError:
    case Outcome::kTimeout:
      ++r.failures;
      if (++r.consecutive_failures >= options_.eject_after_failures) {
        r.ejected_until = Now() + options_.ejection_ms;
        r.consecutive_failures = 0;
        ++r.ejections;
      }
      break;
    case Outcome::kCancelled:
      break;
  }
  if (!r.in_set && r.in_flight == 0) {
    std::erase_if(draining_, [&](const auto& d) { return d.get() == &r; });
  }
  lease.replica.reset();
}

std::vector<Balancer::Stats> Balancer::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = Now();
  std::vector<Stats> out;
  for (const auto* list : {&replicas_, &draining_}) {
    for (const auto& r : *list) {
      const bool fresh =
          r->metrics_at != INT64_MIN && now - r->metrics_at <= options_.metrics_stale_ms;
      out.push_back({r->address.id, r->ready, r->ejected_until > now, r->in_set, r->in_flight,
                     r->requests, r->failures, r->ejections, r->tokens_in_flight,
                     fresh ? std::optional<ReplicaMetrics>(r->metrics) : std::nullopt});
    }
  }
  return out;
}

int64_t Balancer::InFlight() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t total = 0;
  for (const auto* list : {&replicas_, &draining_}) {
    for (const auto& r : *list) total += r->in_flight;
  }
  return total;
}

}  // namespace awan::gateway

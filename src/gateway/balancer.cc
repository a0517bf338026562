#include "awan/gateway/balancer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
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
// that run is at least kMinMatch of the request's blocks (as SGLang's cache-aware router does: a
// short common prefix, such as one shared system prompt, is not worth a detour) and while its
// requests in flight stay within kLoadBound × the mean (+1), the guard of consistent hashing with
// bounded loads. Otherwise the least loaded replica takes it, in turn.
class PrefixAffinity final : public Policy {
 public:
  static constexpr double kLoadBound = 1.25;
  static constexpr double kMinMatch = 0.5;
  static constexpr size_t kBlocksPerReplica = 1 << 16;

  void Reset(size_t size) override {
    next_ = 0;
    sent_.assign(size, {});
  }
  size_t Pick(const std::vector<Candidate>& usable, const RequestInfo& request) override {
    int64_t total = 0;
    for (const Candidate& c : usable) total += c.in_flight;
    const double bound =
        kLoadBound * static_cast<double>(total + 1) / static_cast<double>(usable.size()) + 1;
    const Candidate* best = nullptr;
    size_t best_match = 0;
    for (const Candidate& c : usable) {
      if (static_cast<double>(c.in_flight) + 1 > bound || c.index >= sent_.size()) continue;
      const Sent& s = sent_[c.index];
      size_t match = 0;
      while (match < request.blocks.size() && s.blocks.count(request.blocks[match]) != 0) ++match;
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
    if (pick < sent_.size()) Remember(sent_[pick], request.blocks);
    return pick;
  }

 private:
  struct Sent {
    std::unordered_set<uint64_t> blocks;
    std::deque<uint64_t> order;  // oldest first, to forget beyond kBlocksPerReplica
  };
  static void Remember(Sent& s, std::span<const uint64_t> blocks) {
    for (uint64_t b : blocks) {
      if (!s.blocks.insert(b).second) continue;
      s.order.push_back(b);
      if (s.order.size() > kBlocksPerReplica) {
        s.blocks.erase(s.order.front());
        s.order.pop_front();
      }
    }
  }
  size_t next_ = 0;
  std::vector<Sent> sent_;
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

std::optional<Balancer::Lease> Balancer::Acquire(std::string_view exclude,
                                                 const RequestInfo& request) {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = Now();
  std::vector<Candidate> usable;
  usable.reserve(replicas_.size());
  for (size_t i = 0; i < replicas_.size(); ++i) {
    const ReplicaState& r = *replicas_[i];
    if (!r.ready || r.ejected_until > now || r.address.id == exclude) continue;
    usable.push_back({i, r.in_flight, r.tokens_in_flight, &r.address});
  }
  if (usable.empty()) return std::nullopt;
  const size_t pick = policy_->Pick(usable, request);
  // The policy's contract: one of the usable ones. Anything else is a bug in the policy; fall
  // back to the first rather than send to a replica that must not take traffic.
  const bool valid = std::any_of(usable.begin(), usable.end(),
                                 [&](const Candidate& c) { return c.index == pick; });
  std::shared_ptr<ReplicaState>& chosen = replicas_[valid ? pick : usable.front().index];
  ++chosen->in_flight;
  chosen->tokens_in_flight += request.tokens;
  ++chosen->requests;
  return Lease{chosen, request.tokens};
}

void Balancer::Release(Lease& lease, Outcome outcome) {
  if (!lease.replica) return;  // released already
  std::lock_guard<std::mutex> lock(mu_);
  ReplicaState& r = *lease.replica;
  --r.in_flight;
  r.tokens_in_flight -= lease.tokens;
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
      out.push_back({r->address.id, r->ready, r->ejected_until > now, r->in_set, r->in_flight,
                     r->requests, r->failures, r->ejections});
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

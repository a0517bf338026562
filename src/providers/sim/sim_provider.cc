#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "awan/catalog/catalog.h"
#include "awan/common/status_macros.h"
#include "awan/providers/local.h"
#include "awan/providers/sim.h"

namespace awan::providers {
namespace {

std::string Key(const std::string& region, const std::string& zone, const std::string& type) {
  return region + "/" + zone + "/" + type;
}

}  // namespace

SimProvider::SimProvider(SimConfig config, const catalog::Catalog& source)
    : config_(std::move(config)), rng_(config_.seed) {
  const std::string emulates = config_.emulates.empty() ? config_.name : config_.emulates;
  const std::set<std::string> regions(config_.regions.begin(), config_.regions.end());
  for (const catalog::Offering& o : source.offerings()) {
    if (source.Name(o.provider) != emulates) continue;
    const std::string region(source.Name(o.region));
    if (!regions.empty() && regions.count(region) == 0) continue;
    offerings_.push_back({region, std::string(source.Name(o.zone)),
                          std::string(source.Name(o.instance_type)),
                          std::string(source.Name(o.accelerator)), o.accelerator_count, o.vcpus,
                          o.memory_gib, o.price, o.spot_price, o.network_gbps});
  }
}

void SimProvider::AddOfferings(catalog::Catalog& catalog) const {
  for (const SimOffering& o : offerings_) {
    catalog.Add({config_.name, o.region, o.zone, o.instance_type, o.accelerator,
                 o.accelerator_count, o.vcpus, o.memory_gib, o.price, o.spot_price, false,
                 o.network_gbps});
  }
  catalog.SetProviderInfo(config_.name,
                          fmt::format("emulated ({} catalog, sim provider)",
                                      config_.emulates.empty() ? config_.name : config_.emulates),
                          "");
}

int SimProvider::CapacityFor(const std::string& region, const std::string& zone,
                             const std::string& type) const {
  if (!zone.empty()) {
    if (auto it = config_.capacity.find(region + "/" + zone + "/" + type);
        it != config_.capacity.end())
      return it->second;
  }
  if (auto it = config_.capacity.find(region + "/" + type); it != config_.capacity.end())
    return it->second;
  return config_.default_capacity;
}

bool SimProvider::InOutage(const std::string& region, int64_t now) const {
  for (const auto& [r, until] : outages_) {
    if ((r.empty() || r == region) && (until == 0 || until > now)) return true;
  }
  return false;
}

ProvisionResult SimProvider::Provision(int64_t job_id, const Offer& offer, int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = std::find_if(offerings_.begin(), offerings_.end(), [&](const SimOffering& o) {
    return o.region == offer.region && o.zone == offer.zone &&
           o.instance_type == offer.instance_type;
  });
  if (it == offerings_.end()) {
    return ProviderError{
        ErrorKind::kInvalidRequest,
        fmt::format("{} does not sell {} in {}{}", config_.name, offer.instance_type, offer.region,
                    offer.zone.empty() ? "" : "/" + offer.zone)};
  }
  if (offer.spot && it->spot_price <= 0) {
    return ProviderError{
        ErrorKind::kInvalidRequest,
        fmt::format("{} has no spot market for {}", config_.name, offer.instance_type)};
  }
  // Outages: the whole provider, or one region.
  for (const auto& [r, until] : outages_) {
    if (until != 0 && until <= now) continue;
    if (r.empty())
      return ProviderError{ErrorKind::kProviderDown,
                           fmt::format("{} is down (emulated outage)", config_.name)};
    if (r == offer.region) {
      return ProviderError{ErrorKind::kProviderDown,
                           fmt::format("region {} is down (emulated outage)", r),
                           ErrorScope::kRegion};
    }
  }
  for (const SimFailure& f : config_.failures) {
    if (!f.region.empty() && f.region != offer.region) continue;
    if (!f.zone.empty() && f.zone != offer.zone) continue;
    if (std::uniform_real_distribution<double>(0, 1)(rng_) < f.probability) {
      return ProviderError{
          f.kind, fmt::format("injected failure ({}) in {}", ErrorKindName(f.kind), offer.region)};
    }
  }
  if (auto q = config_.quota.find(offer.region); q != config_.quota.end()) {
    int held = 0;
    for (const auto& [id, h] : held_) {
      if (h.region == offer.region) held += h.nodes;
    }
    if (held + offer.num_nodes > q->second) {
      return ProviderError{ErrorKind::kQuotaExceeded,
                           fmt::format("quota of {} nodes in {} ({} held, {} asked)", q->second,
                                       offer.region, held, offer.num_nodes)};
    }
  }
  const std::string key = Key(offer.region, offer.zone, offer.instance_type);
  const int capacity = CapacityFor(offer.region, offer.zone, offer.instance_type);
  if (used_[key] + offer.num_nodes > capacity) {
    // All or nothing: a gang that does not fit takes nothing.
    return ProviderError{ErrorKind::kCapacityUnavailable,
                         fmt::format("{} free of {} × {} in {}{}, {} asked", capacity - used_[key],
                                     capacity, offer.instance_type, offer.region,
                                     offer.zone.empty() ? "" : "/" + offer.zone, offer.num_nodes)};
  }
  used_[key] += offer.num_nodes;
  Allocation a;
  a.id = fmt::format("sim-{}-{}", config_.name, next_id_++);
  a.region = offer.region;
  a.zone = offer.zone;
  a.instance_type = offer.instance_type;
  for (int i = 0; i < offer.num_nodes; ++i)
    a.hosts.push_back(fmt::format("{}-j{}-n{}", a.id, job_id, i));
  const int64_t delay =
      config_.delay_max_ms > config_.delay_min_ms
          ? std::uniform_int_distribution<int64_t>(config_.delay_min_ms, config_.delay_max_ms)(rng_)
          : config_.delay_min_ms;
  a.ready_at = now + delay;
  held_[a.id] = {offer.region, offer.zone, offer.instance_type, offer.num_nodes, offer.spot,
                 a.hosts,      now};
  return a;
}

absl::StatusOr<NodeHandle> SimProvider::StartNode(const Allocation&, const NodeSpec& spec) {
  ASSIGN_OR_RETURN(ProcessHandle process, providers::StartNode(spec));
  return ToNodeHandle(process);
}

NodeProbe SimProvider::ProbeNode(const std::string& node_dir, const NodeHandle& handle) {
  return providers::ProbeNode(node_dir, ToProcessHandle(handle));
}

std::optional<NodeHandle> SimProvider::FindNode(const std::string& node_dir) {
  auto process = ReadNodePid(node_dir);
  if (!process) return std::nullopt;
  return ToNodeHandle(*process);
}

void SimProvider::SignalNode(const std::string&, const NodeHandle& handle, int signal) {
  providers::SignalNode(ToProcessHandle(handle), signal);
}

void SimProvider::Release(const std::string& allocation_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(allocation_id);
  if (it == held_.end()) return;
  used_[Key(it->second.region, it->second.zone, it->second.instance_type)] -= it->second.nodes;
  held_.erase(it);
}

void SimProvider::Readopt(const Allocation& allocation, const Offer& offer) {
  std::lock_guard<std::mutex> lock(mu_);
  if (allocation.id.empty() || held_.count(allocation.id) != 0) return;
  used_[Key(offer.region, offer.zone, offer.instance_type)] += offer.num_nodes;
  held_[allocation.id] = {
      offer.region,     offer.zone, offer.instance_type, offer.num_nodes, offer.spot,
      allocation.hosts, 0};
}

void SimProvider::SetOutage(const std::string& region, int64_t until) {
  std::lock_guard<std::mutex> lock(mu_);
  outages_[region] = until;
  // What ran there is gone with it: each allocation is reported lost (TakeEvents), and its job
  // recovers elsewhere.
  for (const auto& [id, h] : held_) {
    if (!region.empty() && h.region != region) continue;
    const bool known = std::any_of(outaged_.begin(), outaged_.end(),
                                   [&id = id](const auto& o) { return o.first == id; });
    if (!known) {
      outaged_.emplace_back(id, fmt::format("{} {} is down (emulated outage): allocation {} lost",
                                            config_.name, h.region, id));
    }
  }
}

void SimProvider::Restore(const std::string& region) {
  std::lock_guard<std::mutex> lock(mu_);
  outages_.erase(region);
}

bool SimProvider::Preempt(const std::string& host) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, h] : held_) {
    if (std::find(h.hosts.begin(), h.hosts.end(), host) != h.hosts.end() || id == host) {
      if (std::find(preempted_.begin(), preempted_.end(), id) == preempted_.end())
        preempted_.push_back(id);
      return true;
    }
  }
  return false;
}

std::vector<std::string> SimProvider::TakePreempted(int64_t now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (config_.spot_preemptions_per_hour > 0) {
    for (auto& [id, h] : held_) {
      if (!h.spot) continue;
      const double hours = static_cast<double>(now - h.checked_at) / 3.6e6;
      h.checked_at = now;
      if (hours <= 0) continue;
      const double p = 1 - std::exp(-config_.spot_preemptions_per_hour * hours);
      if (std::uniform_real_distribution<double>(0, 1)(rng_) < p &&
          std::find(preempted_.begin(), preempted_.end(), id) == preempted_.end()) {
        preempted_.push_back(id);
      }
    }
  }
  std::vector<std::string> out;
  out.swap(preempted_);
  return out;
}

std::vector<NodeEvent> SimProvider::TakeEvents(int64_t now) {
  std::vector<NodeEvent> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, why] : outaged_) out.push_back({NodeEvent::Kind::kOutage, id, why});
    outaged_.clear();
  }
  for (std::string& id : TakePreempted(now)) {
    out.push_back(
        {NodeEvent::Kind::kPreempted, id,
         fmt::format("{} preempted allocation {} (emulated spot interruption)", config_.name, id)});
  }
  return out;
}

std::string SimProvider::Describe() const {
  return fmt::format("emulated {}, {} nodes per zone and type by default", config_.emulates,
                     config_.default_capacity);
}

std::vector<SimProvider::Usage> SimProvider::Books() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Usage> out;
  std::set<std::string> seen;
  for (const SimOffering& o : offerings_) {
    const std::string key = Key(o.region, o.zone, o.instance_type);
    if (!seen.insert(key).second) continue;
    auto it = used_.find(key);
    out.push_back({o.region, o.zone, o.instance_type, it == used_.end() ? 0 : it->second,
                   CapacityFor(o.region, o.zone, o.instance_type)});
  }
  return out;
}

int SimProvider::NodesHeld() const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const auto& [id, h] : held_) n += h.nodes;
  return n;
}

}  // namespace awan::providers

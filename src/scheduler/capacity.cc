#include "awan/scheduler/capacity.h"

#include <algorithm>

namespace awan::scheduler {

Capacity::Capacity(const FleetModel& fleet) {
  pools_.resize(fleet.pools.size());
  for (uint32_t i = 0; i < fleet.pools.size(); ++i) {
    const Pool& spec = fleet.pools[i];
    PoolBooks& p = pools_[i];
    p.spec = &spec;
    const int per = std::clamp(spec.accelerators_per_node, 1, 255);
    p.free.assign(static_cast<size_t>(spec.nodes), static_cast<uint8_t>(per));
    p.at_level.resize(static_cast<size_t>(per) + 1);
    p.position.resize(static_cast<size_t>(spec.nodes));
    auto& full = p.at_level[static_cast<size_t>(per)];
    full.reserve(static_cast<size_t>(spec.nodes));
    for (uint32_t n = 0; n < static_cast<uint32_t>(spec.nodes); ++n) {
      p.position[n] = static_cast<uint32_t>(full.size());
      full.push_back(n);
    }
    p.free_accelerators = static_cast<int64_t>(per) * spec.nodes;
    auto it = std::find_if(by_accelerator_.begin(), by_accelerator_.end(),
                           [&](const auto& e) { return e.first == spec.accelerator; });
    if (it == by_accelerator_.end()) {
      by_accelerator_.push_back({spec.accelerator, {}});
      it = by_accelerator_.end() - 1;
    }
    it->second.push_back(i);
  }
}

std::span<const uint32_t> Capacity::PoolsFor(const std::string& accelerator) const {
  for (const auto& [name, pools] : by_accelerator_) {
    if (name == accelerator) return pools;
  }
  return {};
}

int64_t Capacity::TotalFree() const {
  int64_t n = 0;
  for (const PoolBooks& p : pools_) n += p.available ? p.free_accelerators : 0;
  return n;
}

bool Capacity::EverFits(uint32_t pool, const Need& need) const {
  const Pool& spec = *pools_[pool].spec;
  return spec.accelerator == need.accelerator && need.per_node <= spec.accelerators_per_node &&
         need.nodes <= spec.nodes;
}

void Capacity::Move(PoolBooks& p, uint32_t node, int to_level) {
  // Swap-remove from the current level, append to the new one: O(1).
  auto& from = p.at_level[p.free[node]];
  const uint32_t at = p.position[node];
  const uint32_t last = from.back();
  from[at] = last;
  p.position[last] = at;
  from.pop_back();
  auto& to = p.at_level[static_cast<size_t>(to_level)];
  p.position[node] = static_cast<uint32_t>(to.size());
  to.push_back(node);
  p.free[node] = static_cast<uint8_t>(to_level);
}

std::optional<Placement> Capacity::PlaceIn(uint32_t pool, const Need& need) {
  PoolBooks& p = pools_[pool];
  if (!p.available || !EverFits(pool, need) || p.free_accelerators < need.accelerators())
    return std::nullopt;
  const int per = static_cast<int>(p.at_level.size()) - 1;
  // Enough nodes with room? Count before touching anything: all or nothing.
  int64_t candidates = 0;
  for (int level = need.per_node; level <= per && candidates < need.nodes; ++level) {
    candidates += static_cast<int64_t>(p.at_level[static_cast<size_t>(level)].size());
  }
  if (candidates < need.nodes) return std::nullopt;
  Placement placement;
  placement.pool = pool;
  placement.per_node = need.per_node;
  placement.nodes.reserve(static_cast<size_t>(need.nodes));
  for (int level = need.per_node;
       level <= per && static_cast<int>(placement.nodes.size()) < need.nodes; ++level) {
    auto& bucket = p.at_level[static_cast<size_t>(level)];
    while (!bucket.empty() && static_cast<int>(placement.nodes.size()) < need.nodes) {
      const uint32_t node = bucket.back();
      Move(p, node, level - need.per_node);
      placement.nodes.push_back(node);
    }
  }
  p.free_accelerators -= need.accelerators();
  return placement;
}

void Capacity::Release(const Placement& placement) {
  PoolBooks& p = pools_[placement.pool];
  for (uint32_t node : placement.nodes) Move(p, node, p.free[node] + placement.per_node);
  p.free_accelerators +=
      static_cast<int64_t>(placement.per_node) * static_cast<int64_t>(placement.nodes.size());
}

void Capacity::Restore(const Placement& placement) {
  PoolBooks& p = pools_[placement.pool];
  for (uint32_t node : placement.nodes) Move(p, node, p.free[node] - placement.per_node);
  p.free_accelerators -=
      static_cast<int64_t>(placement.per_node) * static_cast<int64_t>(placement.nodes.size());
}

std::optional<int64_t> Capacity::EarliestFit(
    uint32_t pool, const Need& need, int64_t now,
    std::span<const std::pair<int64_t, const Placement*>> releases) const {
  size_t i = 0;
  return EarliestFit(pool, need, now, [&]() -> std::optional<std::pair<int64_t, const Placement*>> {
    if (i == releases.size()) return std::nullopt;
    return releases[i++];
  });
}

std::optional<int64_t> Capacity::EarliestFit(
    uint32_t pool, const Need& need, int64_t now,
    const std::function<std::optional<std::pair<int64_t, const Placement*>>()>& next) const {
  const PoolBooks& p = pools_[pool];
  if (!p.available || !EverFits(pool, need)) return std::nullopt;
  const int per = static_cast<int>(p.at_level.size()) - 1;
  int64_t fitting = 0;  // nodes with at least per_node free
  for (int level = need.per_node; level <= per; ++level) {
    fitting += static_cast<int64_t>(p.at_level[static_cast<size_t>(level)].size());
  }
  if (fitting >= need.nodes) return now;
  std::vector<uint8_t> free = p.free;
  while (auto release = next()) {
    const auto& [t, placement] = *release;
    for (uint32_t node : placement->nodes) {
      const int before = free[node];
      free[node] = static_cast<uint8_t>(before + placement->per_node);
      if (before < need.per_node && free[node] >= need.per_node) ++fitting;
    }
    if (fitting >= need.nodes) return std::max(now, t);
  }
  return std::nullopt;
}

bool Capacity::TryRestore(const Placement& placement) {
  const PoolBooks& p = pools_[placement.pool];
  for (uint32_t node : placement.nodes) {
    if (p.free[node] < placement.per_node) return false;
  }
  Restore(placement);
  return true;
}

void Capacity::SetAvailable(uint32_t pool, bool available) { pools_[pool].available = available; }

}  // namespace awan::scheduler

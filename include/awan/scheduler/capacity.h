// The scheduler's capacity books: every node of every pool with its free accelerators, indexed by
// free level so a gang placement finds its nodes without scanning the fleet. Placement is all or
// nothing inside one pool (one interconnect domain) and best-fit: nodes with the fewest free
// accelerators that still fit are used first, keeping whole nodes free for big gangs.
// Not thread-safe: the scheduler's thread owns it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "awan/scheduler/fleet_model.h"

namespace awan::scheduler {

// What a job needs: `nodes` nodes with `per_node` accelerators each, of one type.
struct Need {
  std::string accelerator;
  int nodes = 1;
  int per_node = 1;
  int64_t accelerators() const { return static_cast<int64_t>(nodes) * per_node; }
};

// Accelerator alternatives of a job, best first: usually one, kept inline (no allocation per job).
using Needs = absl::InlinedVector<Need, 1>;

// A placement: which pool, and which nodes (indexes into the pool) took `per_node` each.
struct Placement {
  uint32_t pool = 0;
  int per_node = 0;
  absl::InlinedVector<uint32_t, 2> nodes;  // most jobs use one node: no allocation for them
};

class Capacity {
 public:
  explicit Capacity(const FleetModel& fleet);

  // Places `need` in pool `pool` if it fits there now; nothing changes otherwise.
  std::optional<Placement> PlaceIn(uint32_t pool, const Need& need);
  // Gives a placement's accelerators back.
  void Release(const Placement& placement);
  // Takes exactly these nodes again (they must be free, e.g. just released): undoes a Release.
  void Restore(const Placement& placement);
  // Restore if every node of the placement has the room; false (and nothing changes) otherwise.
  bool TryRestore(const Placement& placement);
  // Takes a pool out of service (outage) or back; an unavailable pool places nothing. Placements
  // already in it are the caller's to requeue and release.
  void SetAvailable(uint32_t pool, bool available);
  bool Available(uint32_t pool) const { return pools_[pool].available; }

  size_t pool_count() const { return pools_.size(); }
  const Pool& pool(uint32_t i) const { return *pools_[i].spec; }
  int64_t FreeAccelerators(uint32_t pool) const { return pools_[pool].free_accelerators; }
  int FreeOn(uint32_t pool, uint32_t node) const { return pools_[pool].free[node]; }
  int64_t TotalFree() const;
  // The pools selling `accelerator` (in fleet order).
  std::span<const uint32_t> PoolsFor(const std::string& accelerator) const;
  // The earliest time `need` fits in `pool` if the placements in `releases` (sorted by time) are
  // given back at their times: `now` if it fits already, nullopt if it never does (or the pool is
  // down). Copies only that pool's per-node free counts.
  std::optional<int64_t> EarliestFit(
      uint32_t pool, const Need& need, int64_t now,
      std::span<const std::pair<int64_t, const Placement*>> releases) const;
  // The same, with the releases produced one at a time by `next` (nullopt when there are no more),
  // so a caller walking an index in time order stops as soon as the gang fits.
  std::optional<int64_t> EarliestFit(
      uint32_t pool, const Need& need, int64_t now,
      const std::function<std::optional<std::pair<int64_t, const Placement*>>()>& next) const;
  // Whether a gang of `nodes` × `per_node` fits the pool's shape (accelerator type not checked).
  bool ShapeFits(uint32_t pool, int nodes, int per_node) const {
    const Pool& spec = *pools_[pool].spec;
    return per_node <= spec.accelerators_per_node && nodes <= spec.nodes;
  }
  // Whether `need` could fit in `pool` if it were empty.
  bool EverFits(uint32_t pool, const Need& need) const;

 private:
  struct PoolBooks {
    const Pool* spec = nullptr;
    bool available = true;
    int64_t free_accelerators = 0;
    std::vector<uint8_t> free;                    // per node
    std::vector<std::vector<uint32_t>> at_level;  // free level → nodes at it
    std::vector<uint32_t> position;               // node → index in at_level[free[node]]
  };
  void Move(PoolBooks& p, uint32_t node, int to_level);

  std::vector<PoolBooks> pools_;
  std::vector<std::pair<std::string, std::vector<uint32_t>>> by_accelerator_;
};

}  // namespace awan::scheduler

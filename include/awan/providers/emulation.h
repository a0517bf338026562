// The emulation controls of an emulated provider (`sim`): take regions down and back, preempt a
// node, read the books. `awan sim …` and /v1/sim/* reach an emulated provider only through this
// interface (Provider::emulation()), never by its class. Implementations are thread-safe (API
// handlers call them while the controller's loop provisions).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace awan::providers {

class Emulation {
 public:
  virtual ~Emulation() = default;
  // `region` "" = the whole provider; `until` 0 = until restored. Nodes running there are lost
  // (reported by the provider's next events, so their jobs recover elsewhere) and nothing new is
  // provisioned there until it ends.
  virtual void SetOutage(const std::string& region, int64_t until) = 0;
  virtual void Restore(const std::string& region) = 0;
  virtual bool InOutage(const std::string& region, int64_t now) const = 0;
  // Marks the allocation holding `host` as preempted (reported by the provider's next events);
  // false if no live allocation has it.
  virtual bool Preempt(const std::string& host) = 0;
  // The books: nodes held per zone and instance type.
  struct Usage {
    std::string region, zone, instance_type;
    int used = 0, capacity = 0;
  };
  virtual std::vector<Usage> Books() const = 0;
};

}  // namespace awan::providers

// The catalog: every offering each provider sells (instance type × region × zone with its price).
// Strings are interned once into symbols so the optimizer compares integers on its hot path;
// offerings are indexed by accelerator. A Catalog is built once (Add..., then Finalize) and
// read-only after: concurrent readers are safe, writers are not.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace awan::catalog {

using Symbol = uint32_t;
inline constexpr Symbol kNoSymbol = 0;  // the empty string: "no zone", "no accelerator"

struct Offering {
  Symbol provider = kNoSymbol;
  Symbol region = kNoSymbol;
  Symbol zone = kNoSymbol;  // kNoSymbol when the provider has no zones
  Symbol instance_type = kNoSymbol;
  Symbol accelerator = kNoSymbol;  // kNoSymbol for CPU-only offerings
  int accelerator_count = 0;       // per node (a TPU slice counts as 1)
  double vcpus = 0;
  double memory_gib = 0;
  double price = 0;       // on-demand USD/hour per node; 0 = not offered on demand
  double spot_price = 0;  // spot USD/hour per node; 0 = no spot
  // A machine shared out by CPUs and memory (the local machine): a task asking for up to `vcpus`
  // and `memory_gib` fits, not only one asking for exactly that.
  bool divisible = false;
  // The node's high-bandwidth interconnect for multi-node training (InfiniBand, EFA, RoCE,
  // GPUDirect), Gbit/s per node; 0 = ordinary networking or unknown. `network_tier: best` asks for
  // one (kHighBandwidthGbps or more).
  double network_gbps = 0;
};

inline constexpr double kHighBandwidthGbps = 400;

// The strings of an offering, as read from a file.
struct OfferingRow {
  std::string_view provider, region, zone, instance_type, accelerator;
  int accelerator_count = 0;
  double vcpus = 0, memory_gib = 0, price = 0, spot_price = 0;
  bool divisible = false;
  double network_gbps = 0;
};

// Where a provider's offerings came from.
struct ProviderInfo {
  std::string name;
  std::string source;  // a URL or file path
  std::string as_of;   // date of the prices, if known
  size_t offerings = 0;
};

class Catalog {
 public:
  Catalog();

  // Adds one offering. Invalidates the index until Finalize().
  void Add(const OfferingRow& row);
  // Records (or updates) where a provider's data came from.
  void SetProviderInfo(std::string_view name, std::string_view source, std::string_view as_of);
  // Builds the accelerator index and provider counts. Call after the last Add.
  void Finalize();

  const std::vector<Offering>& offerings() const { return offerings_; }
  size_t size() const { return offerings_.size(); }
  const std::vector<ProviderInfo>& providers() const { return providers_; }

  std::string_view Name(Symbol s) const { return names_[s]; }
  // Exact lookup.
  std::optional<Symbol> Find(std::string_view name) const;
  // Accelerator lookup ignoring case (users write h100 or H100).
  std::optional<Symbol> FindAccelerator(std::string_view name) const;
  // Offerings (indexes into offerings()) with this accelerator; for kNoSymbol, the CPU-only ones.
  std::span<const uint32_t> WithAccelerator(Symbol accelerator) const;
  // Every distinct accelerator name in the catalog, sorted.
  std::vector<std::string> AcceleratorNames() const;
  bool HasProvider(std::string_view name) const;

 private:
  Symbol Intern(std::string_view s);

  std::vector<Offering> offerings_;
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, Symbol> symbols_;
  absl::flat_hash_map<std::string, Symbol> accelerators_lower_;
  absl::flat_hash_map<Symbol, std::vector<uint32_t>> by_accelerator_;
  std::vector<ProviderInfo> providers_;
  bool finalized_ = false;
};

}  // namespace awan::catalog

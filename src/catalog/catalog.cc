#include "awan/catalog/catalog.h"

#include <algorithm>

#include "awan/common/text.h"

namespace awan::catalog {

Catalog::Catalog() {
  names_.emplace_back();
  symbols_.emplace("", kNoSymbol);
}

Symbol Catalog::Intern(std::string_view s) {
  if (s.empty()) return kNoSymbol;
  auto it = symbols_.find(absl::string_view(s.data(), s.size()));
  if (it != symbols_.end()) return it->second;
  const auto id = static_cast<Symbol>(names_.size());
  names_.emplace_back(s);
  symbols_.emplace(std::string(s), id);
  return id;
}

void Catalog::Add(const OfferingRow& row) {
  Offering o;
  o.provider = Intern(row.provider);
  o.region = Intern(row.region);
  o.zone = Intern(row.zone);
  o.instance_type = Intern(row.instance_type);
  o.accelerator = Intern(row.accelerator);
  o.accelerator_count = o.accelerator == kNoSymbol ? 0 : row.accelerator_count;
  o.vcpus = row.vcpus;
  o.memory_gib = row.memory_gib;
  o.price = row.price;
  o.spot_price = row.spot_price;
  o.divisible = row.divisible;
  o.network_gbps = row.network_gbps;
  offerings_.push_back(o);
  finalized_ = false;
}

void Catalog::SetProviderInfo(std::string_view name, std::string_view source,
                              std::string_view as_of) {
  for (ProviderInfo& p : providers_) {
    if (p.name == name) {
      p.source = source;
      p.as_of = as_of;
      return;
    }
  }
  providers_.push_back({std::string(name), std::string(source), std::string(as_of), 0});
}

void Catalog::Finalize() {
  by_accelerator_.clear();
  accelerators_lower_.clear();
  absl::flat_hash_map<Symbol, size_t> per_provider;
  for (uint32_t i = 0; i < offerings_.size(); ++i) {
    const Offering& o = offerings_[i];
    by_accelerator_[o.accelerator].push_back(i);
    ++per_provider[o.provider];
  }
  for (const auto& [symbol, unused] : by_accelerator_) {
    if (symbol != kNoSymbol) accelerators_lower_.emplace(ToLower(names_[symbol]), symbol);
  }
  for (const auto& [symbol, count] : per_provider) {
    const std::string& name = names_[symbol];
    auto it = std::find_if(providers_.begin(), providers_.end(),
                           [&](const ProviderInfo& p) { return p.name == name; });
    if (it == providers_.end()) {
      providers_.push_back({name, "", "", 0});
      it = providers_.end() - 1;
    }
    it->offerings = count;
  }
  std::sort(providers_.begin(), providers_.end(),
            [](const ProviderInfo& a, const ProviderInfo& b) { return a.name < b.name; });
  finalized_ = true;
}

std::optional<Symbol> Catalog::Find(std::string_view name) const {
  auto it = symbols_.find(absl::string_view(name.data(), name.size()));
  if (it == symbols_.end()) return std::nullopt;
  return it->second;
}

std::optional<Symbol> Catalog::FindAccelerator(std::string_view name) const {
  auto exact = symbols_.find(absl::string_view(name.data(), name.size()));
  if (exact != symbols_.end() && by_accelerator_.contains(exact->second)) return exact->second;
  auto it = accelerators_lower_.find(ToLower(name));
  if (it == accelerators_lower_.end()) return std::nullopt;
  return it->second;
}

std::span<const uint32_t> Catalog::WithAccelerator(Symbol accelerator) const {
  auto it = by_accelerator_.find(accelerator);
  if (it == by_accelerator_.end()) return {};
  return it->second;
}

std::vector<std::string> Catalog::AcceleratorNames() const {
  std::vector<std::string> out;
  for (const auto& [symbol, unused] : by_accelerator_) {
    if (symbol != kNoSymbol) out.push_back(names_[symbol]);
  }
  std::sort(out.begin(), out.end());
  return out;
}

bool Catalog::HasProvider(std::string_view name) const {
  return std::any_of(providers_.begin(), providers_.end(),
                     [&](const ProviderInfo& p) { return p.name == name && p.offerings > 0; });
}

}  // namespace awan::catalog

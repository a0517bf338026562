// A synthetic catalog of any size, for benchmarks and property tests: P providers × R regions × Z
// zones × a mix of instance types with realistic accelerator counts and prices. Deterministic for a
// given spec (seeded), so runs are comparable. Not used by the product's decisions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "awan/catalog/catalog.h"

namespace awan::catalog {

struct GeneratedCatalogSpec {
  int providers = 30;
  int regions_per_provider = 12;
  int zones_per_region = 3;
  int instance_types_per_zone = 93;  // 30 × 12 × 3 × 93 ≈ 100,000 offerings
  uint64_t seed = 1;
};

// SkyPilot vms.csv text per provider: {provider name, csv}. Loading them all gives the same
// offerings as GenerateCatalog.
std::vector<std::pair<std::string, std::string>> GenerateSkyPilotCsvs(
    const GeneratedCatalogSpec& spec);

// The same catalog built directly (finalized).
Catalog GenerateCatalog(const GeneratedCatalogSpec& spec);

}  // namespace awan::catalog

// Loading catalogs: SkyPilot's per-cloud vms.csv, awan's own YAML format (docs/catalog.md), folders
// of either, and the built-in catalog compiled into the binary. Loaders add to a Catalog and report
// what they skipped and why; they never throw.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "awan/catalog/catalog.h"

namespace awan::catalog {

struct LoadReport {
  size_t files = 0;
  size_t rows = 0;     // data rows read (CSV lines after the header, YAML region×zone expansions)
  size_t loaded = 0;   // offerings added
  size_t merged = 0;   // rows folded into other offerings (GCP accelerator prices)
  size_t skipped = 0;  // rows left out; each reason is in `warnings`
  std::vector<std::string> warnings;
};

// SkyPilot `vms.csv` for one cloud. Columns are found by header name (clouds order them
// differently); `InstanceType`, `Price` and `Region` are required. `provider` names the cloud.
absl::Status LoadSkyPilotCsv(const std::string& path, std::string_view provider, Catalog& catalog,
                             LoadReport& report);
absl::Status ParseSkyPilotCsv(std::string_view text, std::string_view source_name,
                              std::string_view provider, Catalog& catalog, LoadReport& report);

// awan's own catalog format (one provider per YAML document).
absl::Status ParseAwanCatalog(std::string_view yaml, std::string_view source_name, Catalog& catalog,
                              LoadReport& report);

// `--catalog PATH` semantics: each path is a `.csv` file (provider = its folder's name, or the
// file's stem when it is not called vms.csv), a `.yaml` file in awan's format, or a folder holding
// `<cloud>/vms.csv` and/or `*.yaml`. The result is finalized.
absl::StatusOr<Catalog> LoadCatalogPaths(const std::vector<std::string>& paths, LoadReport& report);

// The built-in catalog (src/catalog/builtin/*.yaml, compiled in). Finalized.
absl::StatusOr<Catalog> BuiltinCatalog(LoadReport& report);

}  // namespace awan::catalog

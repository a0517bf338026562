// awan's own catalog format (docs/catalog.md): one provider per YAML document, with `source` and
// `as_of`, its regions (and zones), and offerings priced once with optional per-region overrides.
// Each offering expands to one catalog row per region × zone. Also: `--catalog PATH` resolution and
// the built-in catalog.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "awan/catalog/loader.h"
#include "awan/common/embedded.h"
#include "awan/common/status_macros.h"
#include "awan/common/text.h"

namespace awan {
std::span<const EmbeddedFile> BuiltinCatalogFiles();  // generated (src/catalog/CMakeLists.txt)
}

namespace awan::catalog {
namespace {

namespace fs = std::filesystem;

struct Prices {
  double price = 0, spot_price = 0;
};

class AwanCatalogParser {
 public:
  AwanCatalogParser(std::string_view source, Catalog& catalog, LoadReport& report)
      : source_(source), catalog_(catalog), report_(report) {}

  absl::Status Document(const YAML::Node& doc) {
    if (!doc.IsMap())
      return Error(doc, "(document)", "must be a mapping with provider, regions, offerings");
    const std::string provider = Text(doc, "provider", true);
    RETURN_IF_ERROR(status_);
    catalog_.SetProviderInfo(provider, Text(doc, "source", false), Text(doc, "as_of", false));

    // regions: {name: [zones...]}
    std::vector<std::pair<std::string, std::vector<std::string>>> regions;
    const YAML::Node regions_node = doc["regions"];
    if (!regions_node || !regions_node.IsMap() || regions_node.size() == 0) {
      return Error(regions_node ? regions_node : doc, "regions",
                   "must map each region to its list of zones ([] when it has none)");
    }
    for (auto it = regions_node.begin(); it != regions_node.end(); ++it) {
      std::vector<std::string> zones;
      const YAML::Node zone_list = it->second;  // a copy: yaml-cpp iterators yield temporaries
      if (zone_list.IsSequence()) {
        for (const YAML::Node& z : zone_list) zones.push_back(z.Scalar());
      } else if (!it->second.IsNull()) {
        return Error(it->second, "regions." + it->first.Scalar(), "must be a list of zones");
      }
      regions.emplace_back(it->first.Scalar(), std::move(zones));
    }

    const YAML::Node offerings = doc["offerings"];
    if (!offerings || !offerings.IsSequence()) {
      return Error(offerings ? offerings : doc, "offerings", "must be a list of offerings");
    }
    for (size_t i = 0; i < offerings.size(); ++i) {
      Offering(offerings[i], fmt::format("offerings[{}]", i), provider, regions);
      RETURN_IF_ERROR(status_);
    }
    return absl::OkStatus();
  }

 private:
  // Records the first error; later ones are dropped (the first is what the user fixes first).
  absl::Status Error(const YAML::Node& at, std::string_view field, std::string_view message) {
    if (status_.ok()) {
      const YAML::Mark mark = at.Mark();
      status_ = absl::InvalidArgumentError(
          fmt::format("{}:{}:{}: {}: {}", source_, mark.line + 1, mark.column + 1, field, message));
    }
    return status_;
  }

  std::string Text(const YAML::Node& map, const char* key, bool required) {
    const YAML::Node v = map[key];
    if (!v || v.IsNull()) {
      if (required) (void)Error(map, key, "is required");
      return {};
    }
    if (!v.IsScalar()) (void)Error(v, key, "must be a string");
    return v.Scalar();
  }

  double Num(const YAML::Node& map, const char* key, const std::string& field, bool required) {
    const YAML::Node v = map[key];
    if (!v || v.IsNull()) {
      if (required) (void)Error(map, field + "." + key, "is required");
      return 0;
    }
    auto n = v.IsScalar() ? ParseNumber(v.Scalar()) : std::nullopt;
    if (!n || *n < 0) {
      (void)Error(v, field + "." + key, "must be a non-negative number");
      return 0;
    }
    return *n;
  }

  void Offering(const YAML::Node& o, const std::string& field, const std::string& provider,
                const std::vector<std::pair<std::string, std::vector<std::string>>>& regions) {
    static const std::vector<std::string> kKeys = {
        "instance_type", "accelerator", "accelerator_count", "vcpus",         "memory_gib",
        "price",         "spot_price",  "regions",           "region_prices", "network_gbps"};
    if (!o.IsMap()) {
      (void)Error(o, field, "must be a mapping");
      return;
    }
    for (auto it = o.begin(); it != o.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (std::find(kKeys.begin(), kKeys.end(), key) == kKeys.end()) {
        (void)Error(it->first, field + "." + key,
                    fmt::format("unknown field{}; allowed: {}", DidYouMean(key, kKeys),
                                JoinLimited(kKeys, kKeys.size())));
        return;
      }
    }
    const std::string instance_type = Text(o, "instance_type", true);
    const std::string accelerator = o["accelerator"] ? Text(o, "accelerator", false) : "";
    const double count = accelerator.empty() ? 0 : Num(o, "accelerator_count", field, true);
    const double vcpus = Num(o, "vcpus", field, true);
    const double memory = Num(o, "memory_gib", field, true);
    const Prices base{Num(o, "price", field, true), Num(o, "spot_price", field, false)};
    const double network_gbps = Num(o, "network_gbps", field, false);
    if (!status_.ok()) return;

    std::vector<std::string> where;
    if (const YAML::Node list = o["regions"]) {
      for (const YAML::Node& r : list) {
        const std::string name = r.Scalar();
        if (std::none_of(regions.begin(), regions.end(),
                         [&](auto& p) { return p.first == name; })) {
          std::vector<std::string> known;
          for (const auto& p : regions) known.push_back(p.first);
          (void)Error(r, field + ".regions",
                      fmt::format("region '{}' is not declared under `regions:`{}", name,
                                  DidYouMean(name, known)));
          return;
        }
        where.push_back(name);
      }
    } else {
      for (const auto& p : regions) where.push_back(p.first);
    }
    const YAML::Node overrides = o["region_prices"];
    for (const auto& entry : regions) {
      const std::string& region =
          entry.first;  // not a structured binding: the lambda below uses it
      const std::vector<std::string>& zones = entry.second;
      if (std::find(where.begin(), where.end(), region) == where.end()) continue;
      Prices p = base;
      if (overrides && overrides[region]) {
        const YAML::Node r = overrides[region];
        const std::string f = field + ".region_prices." + region;
        p.price = Num(r, "price", f, true);
        p.spot_price = Num(r, "spot_price", f, false);
        if (!status_.ok()) return;
      }
      auto add = [&](std::string_view zone) {
        ++report_.rows;
        ++report_.loaded;
        catalog_.Add({provider, region, zone, instance_type, accelerator, static_cast<int>(count),
                      vcpus, memory, p.price, p.spot_price, false, network_gbps});
      };
      if (zones.empty()) {
        add("");
      } else {
        for (const std::string& z : zones) add(z);
      }
    }
  }

  std::string_view source_;
  Catalog& catalog_;
  LoadReport& report_;
  absl::Status status_;
};

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot read the catalog file", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

absl::Status LoadFile(const fs::path& path, Catalog& catalog, LoadReport& report) {
  const std::string ext = ToLower(path.extension().string());
  if (ext == ".yaml" || ext == ".yml") {
    ASSIGN_OR_RETURN(auto text, ReadFile(path.string()));
    return ParseAwanCatalog(text, path.string(), catalog, report);
  }
  if (ext == ".csv") {
    // SkyPilot layout: <cloud>/vms.csv; otherwise the file's stem names the provider.
    std::string provider = path.filename() == "vms.csv"
                               ? fs::absolute(path).parent_path().filename().string()
                               : path.stem().string();
    return LoadSkyPilotCsv(path.string(), ToLower(provider), catalog, report);
  }
  return absl::InvalidArgumentError(fmt::format(
      "{}: not a catalog file; --catalog takes a SkyPilot vms.csv, an awan .yaml catalog, or a "
      "folder of <cloud>/vms.csv",
      path.string()));
}

}  // namespace

absl::Status ParseAwanCatalog(std::string_view yaml, std::string_view source_name, Catalog& catalog,
                              LoadReport& report) {
  if (std::string bad = Utf8Error(yaml, source_name); !bad.empty()) {
    return absl::InvalidArgumentError(bad);
  }
  AwanCatalogParser parser(source_name, catalog, report);
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(yaml));
    for (const YAML::Node& doc : docs) {
      RETURN_IF_ERROR(parser.Document(doc));
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}:{}: YAML error: {}", source_name,
                                                  e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  ++report.files;
  return absl::OkStatus();
}

absl::StatusOr<Catalog> LoadCatalogPaths(const std::vector<std::string>& paths,
                                         LoadReport& report) {
  Catalog catalog;
  for (const std::string& p : paths) {
    std::error_code ec;
    const fs::path path(p);
    if (fs::is_directory(path, ec)) {
      std::vector<fs::path> files;
      for (const auto& entry : fs::directory_iterator(path, ec)) {
        if (entry.is_directory() && fs::exists(entry.path() / "vms.csv")) {
          files.push_back(entry.path() / "vms.csv");
        } else if (entry.is_regular_file()) {
          const std::string ext = ToLower(entry.path().extension().string());
          if (ext == ".yaml" || ext == ".yml") files.push_back(entry.path());
        }
      }
      if (files.empty()) {
        return absl::NotFoundError(fmt::format(
            "{}: no catalog in this folder (expected <cloud>/vms.csv or *.yaml files)", p));
      }
      std::sort(files.begin(), files.end());
      for (const fs::path& f : files) {
        RETURN_IF_ERROR(LoadFile(f, catalog, report));
      }
    } else if (fs::exists(path, ec)) {
      RETURN_IF_ERROR(LoadFile(path, catalog, report));
    } else {
      return absl::NotFoundError(fmt::format("{}: no such catalog file or folder", p));
    }
  }
  catalog.Finalize();
  return catalog;
}

absl::StatusOr<Catalog> BuiltinCatalog(LoadReport& report) {
  Catalog catalog;
  for (const EmbeddedFile& f : BuiltinCatalogFiles()) {
    if (absl::Status s =
            ParseAwanCatalog(f.content, fmt::format("builtin:{}", f.name), catalog, report);
        !s.ok()) {
      return s;
    }
  }
  catalog.Finalize();
  return catalog;
}

}  // namespace awan::catalog

// SkyPilot vms.csv importer. libcsv does the RFC 4180 tokenising (GpuInfo fields are quoted and
// contain commas; Verda's use "" escapes); this file maps columns by header name and applies the
// per-cloud quirks documented in docs/catalog.md:
//  - a Price/SpotPrice of 0 or empty means "not offered";
//  - GCP writes 700.0 as a placeholder for "not offered in this zone";
//  - GCP prices GPU VMs (a2/a3/a4/g2) as host-only rows plus separate accelerator rows with an
//  empty
//    InstanceType: they are summed per zone; a host row whose accelerator row is missing is
//    skipped;
//  - TPU rows (empty InstanceType, accelerator tpu-*) become offerings named after the slice.
#include <csv.h>
#include <fmt/format.h>

#include <array>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "awan/catalog/loader.h"
#include "awan/common/status_macros.h"
#include "awan/common/text.h"

namespace awan::catalog {
namespace {

enum Column {
  kInstanceType,
  kAcceleratorName,
  kAcceleratorCount,
  kVcpus,
  kMemoryGiB,
  kPrice,
  kSpotPrice,
  kRegion,
  kZone,
  kNumColumns
};
constexpr std::array<std::string_view, kNumColumns> kColumnNames = {
    "InstanceType", "AcceleratorName", "AcceleratorCount", "vCPUs",           "MemoryGiB",
    "Price",        "SpotPrice",       "Region",           "AvailabilityZone"};
constexpr std::array<bool, kNumColumns> kRequired = {true, false, false, false, false,
                                                     true, false, true,  false};

constexpr double kGcpNotOffered = 700.0;

// A GPU VM on GCP whose catalog row carries only the host price.
struct GcpHostRow {
  std::string instance_type, region, zone, accelerator;
  int count = 0;
  double vcpus = 0, memory_gib = 0, price = 0, spot_price = 0;
  size_t line = 0;
};

struct GcpAcceleratorPrice {
  double price = 0, spot_price = 0;
};

// "8g" or "8g-nolssd" → 8; 0 when `rest` is not of that form.
int GpuCountSuffix(std::string_view rest) {
  int n = 0;
  const char* end = rest.data() + rest.size();
  auto [ptr, ec] = std::from_chars(rest.data(), end, n);
  if (ec != std::errc() || ptr == end || *ptr != 'g') return 0;
  ++ptr;
  return (ptr == end || *ptr == '-') ? n : 0;
}

// The accelerator of a GCP GPU machine family, derived from its name (the catalog leaves it empty).
bool GcpHostAccelerator(std::string_view type, std::string& accelerator, int& count) {
  struct Family {
    std::string_view prefix, accelerator;
  };
  static constexpr std::array<Family, 8> kFamilies = {{{"a2-highgpu-", "A100"},
                                                       {"a2-megagpu-", "A100"},
                                                       {"a2-ultragpu-", "A100-80GB"},
                                                       {"a3-highgpu-", "H100"},
                                                       {"a3-edgegpu-", "H100"},
                                                       {"a3-megagpu-", "H100-MEGA"},
                                                       {"a3-ultragpu-", "H200"},
                                                       {"a4-highgpu-", "B200"}}};
  for (const Family& f : kFamilies) {
    if (type.rfind(f.prefix, 0) != 0) continue;
    count = GpuCountSuffix(type.substr(f.prefix.size()));
    accelerator = f.accelerator;
    return count > 0;
  }
  return false;
}

class CsvImporter {
 public:
  CsvImporter(std::string_view source, std::string_view provider, Catalog& catalog,
              LoadReport& report)
      : source_(source),
        provider_(provider),
        catalog_(catalog),
        report_(report),
        gcp_(provider == "gcp") {
    columns_.fill(-1);
  }

  absl::Status Parse(std::string_view text) {
    csv_parser parser;
    if (csv_init(&parser, CSV_APPEND_NULL) != 0) return absl::InternalError("csv_init failed");
    const size_t consumed = csv_parse(&parser, text.data(), text.size(), &CsvImporter::OnField,
                                      &CsvImporter::OnRow, this);
    if (consumed != text.size() ||
        csv_fini(&parser, &CsvImporter::OnField, &CsvImporter::OnRow, this) != 0) {
      std::string message = csv_strerror(csv_error(&parser));
      csv_free(&parser);
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: CSV syntax error: {}", source_, line_ + 1, message));
    }
    csv_free(&parser);
    RETURN_IF_ERROR(status_);
    if (!header_done_) {
      return absl::InvalidArgumentError(
          fmt::format("{}: the file is empty (expected a header "
                      "line with InstanceType,...,Price,Region)",
                      source_));
    }
    FinishGcp();
    return absl::OkStatus();
  }

 private:
  static void OnField(void* data, size_t len, void* self) {
    auto* me = static_cast<CsvImporter*>(self);
    if (me->fields_used_ == me->fields_.size()) me->fields_.emplace_back();
    me->fields_[me->fields_used_++].assign(static_cast<const char*>(data), len);
  }
  static void OnRow(int /*terminator*/, void* self) {
    auto* me = static_cast<CsvImporter*>(self);
    ++me->line_;
    if (me->status_.ok()) me->Row();
    me->fields_used_ = 0;
  }

  std::string_view Field(Column c) const {
    const int i = columns_[c];
    if (i < 0 || static_cast<size_t>(i) >= fields_used_) return {};
    return fields_[i];
  }

  void Header() {
    header_done_ = true;
    std::vector<std::string> names;
    for (size_t i = 0; i < fields_used_; ++i) {
      std::string name = fields_[i];
      if (i == 0 && name.rfind("\xEF\xBB\xBF", 0) == 0) name.erase(0, 3);  // UTF-8 BOM
      names.push_back(name);
      for (size_t c = 0; c < kNumColumns; ++c) {
        if (name == kColumnNames[c]) columns_[c] = static_cast<int>(i);
      }
    }
    for (size_t c = 0; c < kNumColumns; ++c) {
      if (kRequired[c] && columns_[c] < 0) {
        status_ = absl::InvalidArgumentError(fmt::format(
            "{}:1: missing column '{}'; a SkyPilot vms.csv header names at least InstanceType, "
            "Price and Region (this one has: {})",
            source_, kColumnNames[c], JoinLimited(names, names.size())));
        return;
      }
    }
  }

  // Parses a price or count; empty is 0. Returns false on garbage.
  bool Number(Column c, double& out) {
    std::string_view s = Field(c);
    if (s.empty()) {
      out = 0;
      return true;
    }
    auto v = ParseNumber(s);
    if (!v || *v < 0) {
      Skip(fmt::format("{}:{}: {} '{}' is not a non-negative number; row skipped", source_, line_,
                       kColumnNames[c], s));
      return false;
    }
    out = *v;
    return true;
  }

  void Skip(std::string warning) {
    ++report_.skipped;
    report_.warnings.push_back(std::move(warning));
  }

  void Row() {
    if (!header_done_) {
      Header();
      return;
    }
    if (fields_used_ == 1 && fields_[0].empty()) return;  // blank line
    ++report_.rows;
    double count = 0, vcpus = 0, memory = 0, price = 0, spot = 0;
    if (!Number(kAcceleratorCount, count) || !Number(kVcpus, vcpus) ||
        !Number(kMemoryGiB, memory) || !Number(kPrice, price) || !Number(kSpotPrice, spot)) {
      return;
    }
    const std::string_view region = Field(kRegion);
    if (region.empty()) {
      Skip(fmt::format("{}:{}: empty Region; row skipped", source_, line_));
      return;
    }
    std::string_view instance_type = Field(kInstanceType);
    std::string_view accelerator = Field(kAcceleratorName);
    if (count != std::floor(count)) {
      Skip(fmt::format("{}:{}: fractional AcceleratorCount {} is not supported; row skipped",
                       source_, line_, count));
      return;
    }
    if (gcp_) {
      if (price == kGcpNotOffered) price = 0;
      if (spot == kGcpNotOffered) spot = 0;
      if (instance_type.empty() && !accelerator.empty() && accelerator.rfind("tpu-", 0) != 0) {
        // Price of GPUs to attach to a host VM in this zone.
        gcp_accelerators_[GcpKey(accelerator, static_cast<int>(count), region, Field(kZone))] = {
            price, spot};
        ++report_.merged;
        return;
      }
      std::string derived;
      int derived_count = 0;
      if (accelerator.empty() && GcpHostAccelerator(instance_type, derived, derived_count)) {
        gcp_hosts_.push_back({std::string(instance_type), std::string(region),
                              std::string(Field(kZone)), derived, derived_count, vcpus, memory,
                              price, spot, line_});
        return;
      }
    }
    if (instance_type.empty()) {
      if (accelerator.empty()) {
        Skip(fmt::format("{}:{}: neither InstanceType nor AcceleratorName; row skipped", source_,
                         line_));
        return;
      }
      instance_type = accelerator;  // a TPU slice is its own instance type
    }
    OfferingRow row{
        provider_, region, Field(kZone), instance_type, accelerator, static_cast<int>(count),
        vcpus,     memory, price,        spot};
    catalog_.Add(row);
    ++report_.loaded;
  }

  static std::string GcpKey(std::string_view accelerator, int count, std::string_view region,
                            std::string_view zone) {
    return fmt::format("{}\t{}\t{}\t{}", accelerator, count, region, zone);
  }

  void FinishGcp() {
    size_t missing = 0;
    for (const GcpHostRow& h : gcp_hosts_) {
      auto it = gcp_accelerators_.find(GcpKey(h.accelerator, h.count, h.region, h.zone));
      if (it == gcp_accelerators_.end()) {
        ++missing;
        ++report_.skipped;
        continue;
      }
      const double price = (h.price > 0 && it->second.price > 0) ? h.price + it->second.price : 0;
      const double spot = (h.spot_price > 0 && it->second.spot_price > 0)
                              ? h.spot_price + it->second.spot_price
                              : 0;
      catalog_.Add({provider_, h.region, h.zone, h.instance_type, h.accelerator, h.count, h.vcpus,
                    h.memory_gib, price, spot});
      ++report_.loaded;
    }
    if (missing > 0) {
      report_.warnings.push_back(fmt::format(
          "{}: {} GPU VM rows (a2/a3/a4 families) carry only the host price and the file has no "
          "matching accelerator-price rows; skipped rather than shown too cheap",
          source_, missing));
    }
  }

  std::string_view source_;
  std::string_view provider_;
  Catalog& catalog_;
  LoadReport& report_;
  bool gcp_;
  std::array<int, kNumColumns> columns_{};
  std::vector<std::string> fields_;
  size_t fields_used_ = 0;
  size_t line_ = 0;
  bool header_done_ = false;
  absl::Status status_;
  std::vector<GcpHostRow> gcp_hosts_;
  absl::flat_hash_map<std::string, GcpAcceleratorPrice> gcp_accelerators_;
};

}  // namespace

absl::Status ParseSkyPilotCsv(std::string_view text, std::string_view source_name,
                              std::string_view provider, Catalog& catalog, LoadReport& report) {
  CsvImporter importer(source_name, provider, catalog, report);
  absl::Status status = importer.Parse(text);
  if (status.ok()) {
    ++report.files;
    catalog.SetProviderInfo(provider, source_name, "");
  }
  return status;
}

absl::Status LoadSkyPilotCsv(const std::string& path, std::string_view provider, Catalog& catalog,
                             LoadReport& report) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("{}: cannot read the catalog file", path));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return ParseSkyPilotCsv(text, path, provider, catalog, report);
}

}  // namespace awan::catalog

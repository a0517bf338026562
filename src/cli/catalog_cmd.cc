// `awan catalog ls|providers|accelerators`, and the catalog loading every command shares.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "awan/catalog/accelerators.h"
#include "awan/catalog/loader.h"
#include "awan/common/json_dump.h"
#include "awan/common/text.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {

absl::StatusOr<catalog::Catalog> LoadCatalog(const CatalogArgs& args) {
  catalog::LoadReport report;
  absl::StatusOr<catalog::Catalog> result = args.paths.empty()
                                                ? catalog::BuiltinCatalog(report)
                                                : catalog::LoadCatalogPaths(args.paths, report);
  if (result.ok() && report.skipped > 0) {
    std::cerr << fmt::format("awan: catalog: {} of {} rows skipped", report.skipped, report.rows);
    if (!report.warnings.empty()) std::cerr << "; first: " << report.warnings.front();
    std::cerr << "\n";
  }
  return result;
}

namespace {

std::string Price(double usd) { return usd > 0 ? FormatUsd(usd) : "-"; }

}  // namespace

int RunCatalogLs(const CatalogLsArgs& args) {
  auto catalog = LoadCatalog(args.catalog);
  if (!catalog.ok()) {
    std::cerr << "awan: " << catalog.status().message() << "\n";
    return kExitBadInput;
  }
  const catalog::Catalog& c = *catalog;
  std::vector<uint32_t> rows;
  for (uint32_t i = 0; i < c.size(); ++i) {
    const catalog::Offering& o = c.offerings()[i];
    if (!args.accelerator.empty() && !EqualsIgnoreCase(c.Name(o.accelerator), args.accelerator)) {
      continue;
    }
    if (!args.provider.empty() && !EqualsIgnoreCase(c.Name(o.provider), args.provider)) continue;
    if (!args.region.empty() && c.Name(o.region) != args.region) continue;
    if (args.spot && o.spot_price <= 0) continue;
    rows.push_back(i);
  }
  // Cheapest first; offerings without a price (not sold that way) last.
  auto key = [&](uint32_t i) {
    const catalog::Offering& o = c.offerings()[i];
    const double p = args.spot ? o.spot_price : o.price;
    return p > 0 ? p : 1e300;
  };
  std::stable_sort(rows.begin(), rows.end(),
                   [&](uint32_t a, uint32_t b) { return key(a) < key(b); });
  const size_t total = rows.size();
  if (args.limit > 0 && rows.size() > args.limit) rows.resize(args.limit);

  if (args.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (uint32_t i : rows) {
      const catalog::Offering& o = c.offerings()[i];
      nlohmann::ordered_json j;
      j["provider"] = c.Name(o.provider);
      j["region"] = c.Name(o.region);
      j["zone"] = o.zone == catalog::kNoSymbol ? nlohmann::ordered_json(nullptr)
                                               : nlohmann::ordered_json(c.Name(o.zone));
      j["instance_type"] = c.Name(o.instance_type);
      j["accelerator"] = o.accelerator == catalog::kNoSymbol
                             ? nlohmann::ordered_json(nullptr)
                             : nlohmann::ordered_json(c.Name(o.accelerator));
      j["accelerator_count"] = o.accelerator_count;
      j["vcpus"] = o.vcpus;
      j["memory_gib"] = o.memory_gib;
      j["price"] = o.price > 0 ? nlohmann::ordered_json(o.price) : nlohmann::ordered_json(nullptr);
      j["spot_price"] =
          o.spot_price > 0 ? nlohmann::ordered_json(o.spot_price) : nlohmann::ordered_json(nullptr);
      out.push_back(j);
    }
    std::cout << DumpJson(out, 2) << "\n";
    return kExitOk;
  }
  Table t;
  AddOfferingColumns(t);
  t.Column("$/HOUR", Table::Align::kRight);
  t.Column("SPOT $/HOUR", Table::Align::kRight);
  for (uint32_t i : rows) {
    const catalog::Offering& o = c.offerings()[i];
    t.Row({std::string(c.Name(o.provider)), std::string(c.Name(o.region)),
           o.zone == catalog::kNoSymbol ? "-" : std::string(c.Name(o.zone)),
           std::string(c.Name(o.instance_type)),
           AcceleratorCell(c.Name(o.accelerator), o.accelerator_count),
           fmt::format("{:g}", o.vcpus), fmt::format("{:g}", o.memory_gib), Price(o.price),
           Price(o.spot_price)});
  }
  if (total == 0) {
    std::cerr << "awan: no offering matches; `awan catalog ls` without filters lists all "
              << c.size() << "\n";
    return kExitFailed;
  }
  std::cout << t.Render();
  std::cout << fmt::format("{} of {} offerings shown (prices are USD per hour per node).\n",
                           rows.size(), total);
  return kExitOk;
}

int RunCatalogProviders(const CatalogArgs& args, bool json) {
  auto catalog = LoadCatalog(args);
  if (!catalog.ok()) {
    std::cerr << "awan: " << catalog.status().message() << "\n";
    return kExitBadInput;
  }
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& p : catalog->providers()) {
      out.push_back({{"provider", p.name},
                     {"offerings", p.offerings},
                     {"as_of", p.as_of},
                     {"source", p.source}});
    }
    std::cout << DumpJson(out, 2) << "\n";
    return kExitOk;
  }
  Table t;
  t.Column("PROVIDER");
  t.Column("OFFERINGS", Table::Align::kRight);
  t.Column("AS_OF");
  t.Column("SOURCE");
  for (const auto& p : catalog->providers()) {
    std::string source = p.source;
    std::replace(source.begin(), source.end(), '\n', ' ');
    t.Row({p.name, std::to_string(p.offerings), p.as_of.empty() ? "-" : p.as_of, source});
  }
  std::cout << t.Render();
  return kExitOk;
}

int RunCatalogAccelerators(bool json) {
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& f : catalog::AllAcceleratorFacts()) {
      out.push_back({{"name", f.name},
                     {"vendor", f.vendor},
                     {"bf16_tflops", f.bf16_tflops},
                     {"hbm_gib", f.hbm_gib},
                     {"hbm_tbps", f.hbm_tbps},
                     {"source", f.source}});
    }
    std::cout << DumpJson(out, 2) << "\n";
    return kExitOk;
  }
  Table t;
  t.Column("ACCELERATOR");
  t.Column("VENDOR");
  t.Column("BF16 TFLOP/s", Table::Align::kRight);
  t.Column("HBM GiB", Table::Align::kRight);
  t.Column("HBM TB/s", Table::Align::kRight);
  for (const auto& f : catalog::AllAcceleratorFacts()) {
    t.Row({std::string(f.name), std::string(f.vendor), fmt::format("{:g}", f.bf16_tflops),
           fmt::format("{:g}", f.hbm_gib), fmt::format("{:g}", f.hbm_tbps)});
  }
  std::cout << t.Render();
  std::cout << "Dense (no sparsity) per chip; TPU rows are per chip (a tpu-v6e-8 slice has 8). "
               "Sources: vendor datasheets.\n";
  return kExitOk;
}

}  // namespace awan::cli

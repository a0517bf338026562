// Catalog load and optimize, on the real SkyPilot catalogs in ../shared/data and on a generated
// catalog of ~100,000 offerings (30 providers × 12 regions × 3 zones × 93 instance types).
// Targets (issue 2, on a 2-core machine): load 100k < 300 ms; optimize < 1 ms median after load.
// Run: build/release/bench/optimizer_bench  (figures recorded in docs/performance.md)
#include <benchmark/benchmark.h>

#include <filesystem>
#include <fstream>

#include "awan/catalog/generated.h"
#include "awan/catalog/loader.h"
#include "awan/optimizer/optimizer.h"

namespace {

namespace fs = std::filesystem;
using awan::catalog::Catalog;

const fs::path kShared = fs::path(AWAN_SHARED_DATA) / "catalogs/skypilot";

std::vector<std::string> SharedPaths() {
  return {(kShared / "v8").string(), (kShared / "v6").string()};
}

// The generated catalog written once as SkyPilot CSVs (one folder per provider), like a real
// import.
const fs::path& GeneratedDir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / "awan_bench_catalog_100k";
    fs::remove_all(d);
    for (const auto& [provider, csv] : awan::catalog::GenerateSkyPilotCsvs({})) {
      fs::create_directories(d / provider);
      std::ofstream(d / provider / "vms.csv") << csv;
    }
    return d;
  }();
  return dir;
}

Catalog Load(const std::vector<std::string>& paths) {
  awan::catalog::LoadReport report;
  auto c = awan::catalog::LoadCatalogPaths(paths, report);
  return c.ok() ? std::move(*c) : Catalog();
}

const Catalog& SharedCatalog() {
  static const Catalog c = Load(SharedPaths());
  return c;
}
const Catalog& GeneratedCatalog() {
  static const Catalog c = Load({GeneratedDir().string()});
  return c;
}

awan::spec::Resources Acc(const char* name, int count) {
  awan::spec::Resources r;
  r.accelerator = name;
  r.accelerator_count = count;
  return r;
}

awan::spec::Task SingleGpu() {
  awan::spec::Task t;
  t.resources = {Acc("H100", 1)};
  return t;
}
awan::spec::Task AnyOfFive() {
  awan::spec::Task t;
  t.resources = {Acc("H100", 8), Acc("H200", 8), Acc("B200", 8), Acc("A100-80GB", 8),
                 Acc("L40S", 4)};
  return t;
}
awan::spec::Task SixtyFourNodes() {
  awan::spec::Task t;
  t.num_nodes = 64;
  t.resources = {Acc("H100", 8)};
  return t;
}

void BM_LoadSharedSkyPilotCatalog(benchmark::State& state) {
  if (!fs::exists(kShared)) {
    state.SkipWithError("../shared/data not found");
    return;
  }
  size_t n = 0;
  for (auto _ : state) n = Load(SharedPaths()).size();
  state.counters["offerings"] = static_cast<double>(n);
}
BENCHMARK(BM_LoadSharedSkyPilotCatalog)->Unit(benchmark::kMillisecond);

void BM_LoadGenerated100k(benchmark::State& state) {
  GeneratedDir();
  size_t n = 0;
  for (auto _ : state) n = Load({GeneratedDir().string()}).size();
  state.counters["offerings"] = static_cast<double>(n);
}
BENCHMARK(BM_LoadGenerated100k)->Unit(benchmark::kMillisecond)->Iterations(5);

void RunOptimize(benchmark::State& state, const Catalog& catalog, const awan::spec::Task& task) {
  if (catalog.size() == 0) {
    state.SkipWithError("catalog not available");
    return;
  }
  awan::optimizer::OptimizeOptions options;
  size_t feasible = 0;
  for (auto _ : state) {
    auto r = awan::optimizer::Optimize(task, catalog, options);
    feasible = r.ok() ? r->feasible : 0;
    benchmark::DoNotOptimize(feasible);
  }
  state.counters["feasible"] = static_cast<double>(feasible);
  state.counters["catalog"] = static_cast<double>(catalog.size());
}

void BM_Optimize_Shared_SingleGpu(benchmark::State& s) {
  RunOptimize(s, SharedCatalog(), SingleGpu());
}
void BM_Optimize_Shared_AnyOf5(benchmark::State& s) {
  RunOptimize(s, SharedCatalog(), AnyOfFive());
}
void BM_Optimize_Shared_64Nodes(benchmark::State& s) {
  RunOptimize(s, SharedCatalog(), SixtyFourNodes());
}
void BM_Optimize_100k_SingleGpu(benchmark::State& s) {
  RunOptimize(s, GeneratedCatalog(), SingleGpu());
}
void BM_Optimize_100k_AnyOf5(benchmark::State& s) {
  RunOptimize(s, GeneratedCatalog(), AnyOfFive());
}
void BM_Optimize_100k_64Nodes(benchmark::State& s) {
  RunOptimize(s, GeneratedCatalog(), SixtyFourNodes());
}

#define AWAN_OPT_BENCH(fn) \
  BENCHMARK(fn)->Unit(benchmark::kMicrosecond)->Repetitions(5)->ReportAggregatesOnly(true)
AWAN_OPT_BENCH(BM_Optimize_Shared_SingleGpu);
AWAN_OPT_BENCH(BM_Optimize_Shared_AnyOf5);
AWAN_OPT_BENCH(BM_Optimize_Shared_64Nodes);
AWAN_OPT_BENCH(BM_Optimize_100k_SingleGpu);
AWAN_OPT_BENCH(BM_Optimize_100k_AnyOf5);
AWAN_OPT_BENCH(BM_Optimize_100k_64Nodes);

}  // namespace

BENCHMARK_MAIN();

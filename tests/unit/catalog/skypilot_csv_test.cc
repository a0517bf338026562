#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "awan/catalog/generated.h"
#include "awan/catalog/loader.h"

namespace awan::catalog {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kFixtures = fs::path(AWAN_SOURCE_DIR) / "tests/fixtures/skypilot";

// The offering of `type` in `region`/`zone`, or nullptr.
const Offering* FindOffering(const Catalog& c, std::string_view provider, std::string_view type,
                             std::string_view region, std::string_view zone = "") {
  for (const Offering& o : c.offerings()) {
    if (c.Name(o.provider) == provider && c.Name(o.instance_type) == type &&
        c.Name(o.region) == region && (zone.empty() || c.Name(o.zone) == zone)) {
      return &o;
    }
  }
  return nullptr;
}

TEST(SkyPilotCsvTest, ColumnsAreFoundByNameInAnyOrder) {
  LoadReport report;
  auto c = LoadCatalogPaths({(kFixtures / "acme/vms.csv").string()}, report);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(report.rows, 7u);
  EXPECT_EQ(report.loaded, 5u);
  EXPECT_EQ(report.skipped, 2u);  // empty Region, Price "abc"
  const Offering* h100 = FindOffering(*c, "acme", "8x-h100", "us-east");
  ASSERT_NE(h100, nullptr);
  EXPECT_EQ(c->Name(h100->accelerator), "H100");
  EXPECT_EQ(h100->accelerator_count, 8);
  EXPECT_DOUBLE_EQ(h100->price, 31.92);
  EXPECT_DOUBLE_EQ(h100->spot_price, 12.5);
  EXPECT_DOUBLE_EQ(h100->vcpus, 208);
  const Offering* eu = FindOffering(*c, "acme", "8x-h100", "eu-west");
  ASSERT_NE(eu, nullptr);
  EXPECT_EQ(eu->accelerator_count, 8);  // "8.0"
  EXPECT_DOUBLE_EQ(eu->spot_price, 0);  // empty = no spot
  const Offering* spot_only = FindOffering(*c, "acme", "2x-a100", "us-east");
  ASSERT_NE(spot_only, nullptr);
  EXPECT_DOUBLE_EQ(spot_only->price, 0);  // empty price: not offered on demand
  EXPECT_DOUBLE_EQ(spot_only->spot_price, 3.10);
  const Offering* cpu = FindOffering(*c, "acme", "cpu-4", "us-east");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->accelerator, kNoSymbol);
  EXPECT_THAT(report.warnings, testing::Contains(HasSubstr("vms.csv:6: empty Region")));
  EXPECT_THAT(report.warnings, testing::Contains(HasSubstr("vms.csv:8: Price 'abc'")));
}

TEST(SkyPilotCsvTest, GcpGpuHostsAreSummedWithAcceleratorRowsAndPlaceholdersDropped) {
  LoadReport report;
  auto c = LoadCatalogPaths({(kFixtures / "gcp/vms.csv").string()}, report);
  ASSERT_TRUE(c.ok()) << c.status();
  const Offering* a3 = FindOffering(*c, "gcp", "a3-highgpu-8g", "us-central1", "us-central1-a");
  ASSERT_NE(a3, nullptr);
  EXPECT_EQ(c->Name(a3->accelerator), "H100");
  EXPECT_EQ(a3->accelerator_count, 8);
  EXPECT_DOUBLE_EQ(a3->price, 88.25);
  EXPECT_DOUBLE_EQ(a3->spot_price, 24.0);
  // Zone b has no accelerator row and a2-highgpu-1g none at all: skipped, not shown too cheap.
  EXPECT_EQ(FindOffering(*c, "gcp", "a3-highgpu-8g", "us-central1", "us-central1-b"), nullptr);
  EXPECT_EQ(FindOffering(*c, "gcp", "a2-highgpu-1g", "us-central1"), nullptr);
  EXPECT_EQ(report.skipped, 2u);
  EXPECT_EQ(report.merged, 1u);
  // TPU slices become their own instance type; 700.0 means "not offered here".
  const Offering* tpu = FindOffering(*c, "gcp", "tpu-v6e-8", "us-east5");
  ASSERT_NE(tpu, nullptr);
  EXPECT_DOUBLE_EQ(tpu->price, 21.6);
  const Offering* placeholder = FindOffering(*c, "gcp", "tpu-v6e-8", "asia-east1");
  ASSERT_NE(placeholder, nullptr);
  EXPECT_DOUBLE_EQ(placeholder->price, 0);
  EXPECT_DOUBLE_EQ(placeholder->spot_price, 0);
  EXPECT_EQ(report.rows, report.loaded + report.merged + report.skipped);
}

TEST(SkyPilotCsvTest, FolderOfCloudsLoadsEachAsAProvider) {
  LoadReport report;
  auto c = LoadCatalogPaths({kFixtures.string()}, report);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(report.files, 2u);
  EXPECT_TRUE(c->HasProvider("acme"));
  EXPECT_TRUE(c->HasProvider("gcp"));
}

TEST(SkyPilotCsvTest, MissingRequiredColumnIsAClearError) {
  Catalog c;
  LoadReport report;
  absl::Status s = ParseSkyPilotCsv("InstanceType,Region\nx,us\n", "bad.csv", "p", c, report);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("bad.csv:1: missing column 'Price'"));
  EXPECT_THAT(s.message(), HasSubstr("this one has: InstanceType, Region"));
  s = ParseSkyPilotCsv("", "empty.csv", "p", c, report);
  EXPECT_THAT(s.message(), HasSubstr("empty.csv: the file is empty"));
}

TEST(SkyPilotCsvTest, BadPathsAreClearErrors) {
  LoadReport report;
  auto missing = LoadCatalogPaths({"/nonexistent/catalog"}, report);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("no such catalog file or folder"));
  auto empty_dir = LoadCatalogPaths({(fs::path(AWAN_SOURCE_DIR) / "docs").string()}, report);
  ASSERT_FALSE(empty_dir.ok());
  EXPECT_THAT(empty_dir.status().message(), HasSubstr("no catalog in this folder"));
}

TEST(SkyPilotCsvTest, GeneratedCatalogParsesCompletely) {
  GeneratedCatalogSpec spec{3, 2, 2, 12, 7};
  Catalog c = GenerateCatalog(spec);
  EXPECT_EQ(c.size(), 3u * 2 * 2 * 12);
  EXPECT_EQ(c.providers().size(), 3u);
  EXPECT_FALSE(c.WithAccelerator(*c.FindAccelerator("h100")).empty());
}

// Every vms.csv in ../shared/data: all rows accounted for, known prices spot-checked.
class SharedCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(AWAN_SHARED_DATA) / "catalogs/skypilot";
    if (!fs::exists(root_)) GTEST_SKIP() << "shared data not found at " << root_ << "; skipping";
  }
  fs::path root_;
};

size_t DataLines(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  size_t lines = 0;
  bool in_quotes = false;
  while (std::getline(in, line)) {
    for (char ch : line) {
      if (ch == '"') in_quotes = !in_quotes;
    }
    if (!in_quotes && !line.empty()) ++lines;
  }
  return lines - 1;  // header
}

TEST_F(SharedCatalogTest, EveryVmsCsvLoadsAndEveryRowIsAccountedFor) {
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root_)) {
    if (entry.path().filename() != "vms.csv") continue;
    ++files;
    Catalog c;
    LoadReport report;
    const std::string cloud = entry.path().parent_path().filename().string();
    absl::Status s = LoadSkyPilotCsv(entry.path().string(), cloud, c, report);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(report.rows, DataLines(entry.path())) << entry.path();
    EXPECT_EQ(report.rows, report.loaded + report.merged + report.skipped) << entry.path();
    EXPECT_GT(report.loaded, 0u) << entry.path();
    // Only Seeweb (empty regions) and GCP (host-only GPU rows) skip anything.
    if (cloud != "seeweb" && cloud != "gcp") {
      EXPECT_EQ(report.skipped, 0u) << entry.path();
    }
  }
  EXPECT_GE(files, 14u);
}

TEST_F(SharedCatalogTest, SpotCheckedPrices) {
  LoadReport report;
  auto c = LoadCatalogPaths({(root_ / "v8").string(), (root_ / "v6").string()}, report);
  ASSERT_TRUE(c.ok()) << c.status();
  const Offering* p5 = FindOffering(*c, "aws", "p5.48xlarge", "us-east-1");
  ASSERT_NE(p5, nullptr);
  EXPECT_DOUBLE_EQ(p5->price, 55.04);
  EXPECT_EQ(p5->accelerator_count, 8);
  const Offering* lambda = FindOffering(*c, "lambda", "gpu_8x_h100_sxm5", "us-east-1");
  ASSERT_NE(lambda, nullptr);
  EXPECT_DOUBLE_EQ(lambda->price, 31.92);
  const Offering* tpu = FindOffering(*c, "gcp", "tpu-v6e-256", "us-east5", "us-east5-a");
  ASSERT_NE(tpu, nullptr);
  EXPECT_DOUBLE_EQ(tpu->price, 691.2);
  EXPECT_DOUBLE_EQ(tpu->spot_price, 311.04);
  // Verda's GpuInfo uses "" escapes inside quotes.
  const Offering* verda = FindOffering(*c, "verda", "1B300.30V", "FIN-03");
  ASSERT_NE(verda, nullptr);
  EXPECT_DOUBLE_EQ(verda->price, 6.99);
  EXPECT_DOUBLE_EQ(verda->spot_price, 2.447);
  // Vast's region names contain commas and a spot price of 0.00 means none.
  const Offering* vast = FindOffering(*c, "vast", "1x-H200-32-65536", "France, FR, EU");
  ASSERT_NE(vast, nullptr);
  EXPECT_DOUBLE_EQ(vast->price, 2.65);
  EXPECT_DOUBLE_EQ(vast->spot_price, 0);
  EXPECT_EQ(c->providers().size(), 14u);  // 11 clouds in v8, 3 more in v6
}

}  // namespace
}  // namespace awan::catalog

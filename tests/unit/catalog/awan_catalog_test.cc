#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "awan/catalog/loader.h"

namespace awan::catalog {
namespace {

using ::testing::HasSubstr;

TEST(AwanCatalogTest, OfferingsExpandOverRegionsAndZonesWithOverrides) {
  const char* yaml = R"(
provider: demo
source: test
as_of: "2025-01"
regions:
  r1: [r1a, r1b]
  r2: []
offerings:
  - {instance_type: big, accelerator: H100, accelerator_count: 8, vcpus: 96, memory_gib: 1024,
     price: 40, spot_price: 12, region_prices: {r2: {price: 44}}}
  - {instance_type: cpu, vcpus: 4, memory_gib: 16, price: 0.2, regions: [r2]}
)";
  Catalog c;
  LoadReport report;
  ASSERT_TRUE(ParseAwanCatalog(yaml, "demo.yaml", c, report).ok());
  c.Finalize();
  EXPECT_EQ(c.size(), 4u);  // big in r1a, r1b, r2; cpu in r2
  std::set<std::pair<std::string, double>> seen;
  for (const Offering& o : c.offerings()) {
    seen.insert({std::string(c.Name(o.zone)) + "@" + std::string(c.Name(o.region)), o.price});
  }
  EXPECT_TRUE(seen.contains({"r1a@r1", 40}));
  EXPECT_TRUE(seen.contains({"r1b@r1", 40}));
  EXPECT_TRUE(seen.contains({"@r2", 44}));
  EXPECT_TRUE(seen.contains({"@r2", 0.2}));
  // An override without spot_price means no spot there.
  for (const Offering& o : c.offerings()) {
    if (c.Name(o.instance_type) == "big" && c.Name(o.region) == "r2") {
      EXPECT_EQ(o.spot_price, 0);
    }
  }
  ASSERT_EQ(c.providers().size(), 1u);
  EXPECT_EQ(c.providers()[0].as_of, "2025-01");
  EXPECT_EQ(c.providers()[0].offerings, 4u);
}

TEST(AwanCatalogTest, ErrorsNameFileLineAndField) {
  Catalog c;
  LoadReport report;
  absl::Status s = ParseAwanCatalog(
      "provider: x\nregions: {r1: []}\nofferings:\n  - {instance_type: a, vcpus: 1, memory_gib: 1, "
      "prise: 2}\n",
      "x.yaml", c, report);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("x.yaml:4:"));
  EXPECT_THAT(s.message(), HasSubstr("offerings[0].prise: unknown field (did you mean 'price'?)"));
  s = ParseAwanCatalog(
      "provider: x\nregions: {r1: []}\nofferings:\n  - {instance_type: a, vcpus: 1, memory_gib: 1, "
      "price: 2, regions: [r9]}\n",
      "x.yaml", c, report);
  EXPECT_THAT(s.message(), HasSubstr("region 'r9' is not declared under `regions:`"));
  s = ParseAwanCatalog("provider: x\nofferings: []\n", "x.yaml", c, report);
  EXPECT_THAT(s.message(), HasSubstr("regions: must map each region"));
  s = ParseAwanCatalog(
      "provider: x\nregions: {r1: []}\nofferings:\n  - {instance_type: a, vcpus: -1, memory_gib: "
      "1, price: 2}\n",
      "x.yaml", c, report);
  EXPECT_THAT(s.message(), HasSubstr("offerings[0].vcpus: must be a non-negative number"));
}

TEST(BuiltinCatalogTest, CoversTheMultiCloudProvidersWithSources) {
  LoadReport report;
  auto c = BuiltinCatalog(report);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(report.skipped, 0u);
  std::set<std::string> names;
  for (const ProviderInfo& p : c->providers()) {
    names.insert(p.name);
    EXPECT_FALSE(p.source.empty()) << p.name;
    EXPECT_FALSE(p.as_of.empty()) << p.name;
    EXPECT_GT(p.offerings, 0u) << p.name;
  }
  for (const char* want : {"aws", "azure", "gcp", "oci", "coreweave", "lambda"}) {
    EXPECT_TRUE(names.contains(want)) << want;
  }
}

TEST(BuiltinCatalogTest, EachMajorProviderHasEightGpuH100NodesInTwoRegions) {
  LoadReport report;
  auto c = BuiltinCatalog(report);
  ASSERT_TRUE(c.ok());
  const Symbol h100 = *c->FindAccelerator("H100");
  for (const char* provider : {"aws", "azure", "gcp", "oci", "coreweave"}) {
    std::set<Symbol> regions;
    for (uint32_t i : c->WithAccelerator(h100)) {
      const Offering& o = c->offerings()[i];
      if (c->Name(o.provider) == provider && o.accelerator_count == 8 && o.price > 0) {
        regions.insert(o.region);
      }
    }
    EXPECT_GE(regions.size(), 2u) << provider;
  }
}

TEST(BuiltinCatalogTest, HasTpuSlicesTrainiumAndBlackwell) {
  LoadReport report;
  auto c = BuiltinCatalog(report);
  ASSERT_TRUE(c.ok());
  for (const char* acc :
       {"tpu-v5litepod-8", "tpu-v5p-8", "tpu-v6e-8", "Trainium", "B200", "GB200"}) {
    EXPECT_TRUE(c->FindAccelerator(acc).has_value()) << acc;
  }
}

}  // namespace
}  // namespace awan::catalog

#include "awan/catalog/accelerators.h"

#include <gtest/gtest.h>

namespace awan::catalog {
namespace {

TEST(AcceleratorFactsTest, GpuLookupIgnoresCase) {
  auto h100 = LookupAccelerator("h100");
  ASSERT_TRUE(h100.has_value());
  EXPECT_EQ(h100->chip->name, "H100");
  EXPECT_DOUBLE_EQ(h100->tflops(), 989);
  EXPECT_EQ(h100->chips, 1);
  EXPECT_FALSE(LookupAccelerator("H1000").has_value());
}

TEST(AcceleratorFactsTest, TpuSlicesCountChips) {
  auto v6e = LookupAccelerator("tpu-v6e-8");
  ASSERT_TRUE(v6e.has_value());
  EXPECT_EQ(v6e->chips, 8);
  EXPECT_DOUBLE_EQ(v6e->tflops(), 8 * 918.0);
  auto v5e = LookupAccelerator("tpu-v5litepod-16");
  ASSERT_TRUE(v5e.has_value());
  EXPECT_EQ(v5e->chip->name, "tpu-v5e");
  EXPECT_EQ(v5e->chips, 16);
  // v5p and v4 slice sizes count TensorCores: two per chip.
  auto v5p = LookupAccelerator("tpu-v5p-8");
  ASSERT_TRUE(v5p.has_value());
  EXPECT_EQ(v5p->chips, 4);
  // So do the older v2 and v3 slices: tpu-v3-8 is 4 chips.
  auto v3 = LookupAccelerator("tpu-v3-8");
  ASSERT_TRUE(v3.has_value());
  EXPECT_EQ(v3->chips, 4);
  EXPECT_EQ(LookupAccelerator("tpu-v2-32")->chips, 16);
  EXPECT_FALSE(LookupAccelerator("tpu-v9z-8").has_value());
  EXPECT_FALSE(LookupAccelerator("tpu-v6e-x").has_value());
}

TEST(AcceleratorFactsTest, TableIsSane) {
  for (const AcceleratorFacts& f : AllAcceleratorFacts()) {
    EXPECT_GT(f.bf16_tflops, 0) << f.name;
    EXPECT_GT(f.hbm_gib, 0) << f.name;
    EXPECT_GT(f.hbm_tbps, 0) << f.name;
    EXPECT_FALSE(f.source.empty()) << f.name;
  }
  // Newer generations are faster per chip.
  EXPECT_GT(LookupAccelerator("B200")->tflops(), LookupAccelerator("H100")->tflops());
  EXPECT_GT(LookupAccelerator("H100")->tflops(), LookupAccelerator("A100")->tflops());
}

}  // namespace
}  // namespace awan::catalog

// Accelerator facts: per chip, dense BF16 TFLOP/s, HBM capacity and bandwidth, vendor. Used for
// price-performance (objective=time) and to recognise accelerator names. Values are vendors'
// published datasheet figures; the `source` of each row says which. Read-only; thread-safe.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace awan::catalog {

struct AcceleratorFacts {
  std::string_view name;  // canonical name as catalogs use it: H100, A100-80GB, tpu-v6e, Trainium2
  std::string_view vendor;  // NVIDIA, AMD, Google, AWS
  double bf16_tflops = 0;   // dense (no sparsity), per chip; FP16 where the chip has no BF16
  double hbm_gib = 0;       // device memory per chip, GiB
  double hbm_tbps = 0;      // memory bandwidth per chip, TB/s
  std::string_view source;  // where the figures come from
};

// One unit of an accelerator as a catalog counts it: a GPU, or a whole TPU slice ("tpu-v6e-8" = 8
// chips).
struct AcceleratorUnit {
  const AcceleratorFacts* chip = nullptr;
  int chips = 1;
  double tflops() const { return chip->bf16_tflops * chips; }
  double hbm_gib() const { return chip->hbm_gib * chips; }
};

// Every chip in the facts table.
std::span<const AcceleratorFacts> AllAcceleratorFacts();

// Looks up a catalog accelerator name, ignoring case: "H100", "h100", "tpu-v6e-8",
// "tpu-v5litepod-16", "tpu-v5p-8" (v5p and v4 slice sizes count TensorCores, two per chip). nullopt
// when unknown.
std::optional<AcceleratorUnit> LookupAccelerator(std::string_view name);

}  // namespace awan::catalog

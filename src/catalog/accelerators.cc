#include "awan/catalog/accelerators.h"

#include <array>
#include <charconv>

#include "awan/common/text.h"

namespace awan::catalog {
namespace {

constexpr std::string_view kNvidia = "NVIDIA datasheet (dense, without sparsity)";
constexpr std::string_view kAmd = "AMD Instinct datasheet (dense)";
constexpr std::string_view kTpu = "Google Cloud TPU system architecture docs (per chip)";
constexpr std::string_view kAws = "AWS Trainium product pages (per chip)";

// clang-format off
constexpr std::array kFacts = {
  //                name           vendor    TFLOP/s  HBM GiB  TB/s
  AcceleratorFacts{"GB200",       "NVIDIA",  2500,    186,     8.0,   kNvidia},
  AcceleratorFacts{"B300",        "NVIDIA",  2250,    288,     8.0,   kNvidia},
  AcceleratorFacts{"B200",        "NVIDIA",  2250,    180,     8.0,   kNvidia},
  AcceleratorFacts{"H200",        "NVIDIA",   989,    141,     4.8,   kNvidia},
  AcceleratorFacts{"GH200",       "NVIDIA",   989,     96,     4.0,   kNvidia},
  AcceleratorFacts{"H100",        "NVIDIA",   989,     80,     3.35,  kNvidia},
  AcceleratorFacts{"H100-NVL",    "NVIDIA",   835,     94,     3.9,   kNvidia},
  AcceleratorFacts{"H100-MEGA",   "NVIDIA",   989,     80,     3.35,  kNvidia},
  AcceleratorFacts{"A100-80GB",   "NVIDIA",   312,     80,     2.039, kNvidia},
  AcceleratorFacts{"A100",        "NVIDIA",   312,     40,     1.555, kNvidia},
  AcceleratorFacts{"L40S",        "NVIDIA",   362,     48,     0.864, kNvidia},
  AcceleratorFacts{"L40",         "NVIDIA",   181,     48,     0.864, kNvidia},
  AcceleratorFacts{"L4",          "NVIDIA",   121,     24,     0.3,   kNvidia},
  AcceleratorFacts{"A40",         "NVIDIA",   150,     48,     0.696, kNvidia},
  AcceleratorFacts{"A10",         "NVIDIA",   125,     24,     0.6,   kNvidia},
  AcceleratorFacts{"A10G",        "NVIDIA",    70,     24,     0.6,   kNvidia},
  AcceleratorFacts{"V100-32GB",   "NVIDIA",   125,     32,     0.9,   kNvidia},
  AcceleratorFacts{"V100",        "NVIDIA",   125,     16,     0.9,   kNvidia},
  AcceleratorFacts{"T4",          "NVIDIA",    65,     16,     0.32,  kNvidia},
  AcceleratorFacts{"MI355X",      "AMD",     2500,    288,     8.0,   kAmd},
  AcceleratorFacts{"MI325X",      "AMD",     1307,    256,     6.0,   kAmd},
  AcceleratorFacts{"MI300X",      "AMD",     1307,    192,     5.3,   kAmd},
  AcceleratorFacts{"tpu-v6e",     "Google",   918,     32,     1.64,  kTpu},
  AcceleratorFacts{"tpu-v5p",     "Google",   459,     95,     2.765, kTpu},
  AcceleratorFacts{"tpu-v5e",     "Google",   197,     16,     0.819, kTpu},
  AcceleratorFacts{"tpu-v4",      "Google",   275,     32,     1.2,   kTpu},
  AcceleratorFacts{"tpu-v3",      "Google",   123,     32,     0.9,   kTpu},
  AcceleratorFacts{"tpu-v2",      "Google",    45,     16,     0.6,   kTpu},
  AcceleratorFacts{"Trainium2",   "AWS",      667,     96,     2.9,   kAws},
  AcceleratorFacts{"Trainium",    "AWS",      190,     32,     0.82,  kAws},
};
// clang-format on

const AcceleratorFacts* FindChip(std::string_view name) {
  for (const AcceleratorFacts& f : kFacts) {
    if (EqualsIgnoreCase(f.name, name)) return &f;
  }
  return nullptr;
}

}  // namespace

std::span<const AcceleratorFacts> AllAcceleratorFacts() { return kFacts; }

std::optional<AcceleratorUnit> LookupAccelerator(std::string_view name) {
  if (const AcceleratorFacts* chip = FindChip(name)) return AcceleratorUnit{chip, 1};
  // TPU slices: tpu-<generation>-<size>.
  const std::string lower = ToLower(name);
  if (lower.rfind("tpu-", 0) != 0) return std::nullopt;
  const size_t dash = lower.rfind('-');
  if (dash <= 4) return std::nullopt;
  std::string generation = lower.substr(0, dash);
  int size = 0;
  const std::string_view digits = std::string_view(lower).substr(dash + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || size <= 0) return std::nullopt;
  if (generation == "tpu-v5litepod") generation = "tpu-v5e";
  const AcceleratorFacts* chip = FindChip(generation);
  if (chip == nullptr) return std::nullopt;
  // v2, v3, v4 and v5p slice names count TensorCores (two per chip); v5e and v6e count chips.
  const bool counts_cores = generation == "tpu-v2" || generation == "tpu-v3" ||
                            generation == "tpu-v4" || generation == "tpu-v5p";
  const int chips = counts_cores ? std::max(1, size / 2) : size;
  return AcceleratorUnit{chip, chips};
}

}  // namespace awan::catalog

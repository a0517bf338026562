// A plain-text table for terminal output: columns sized to their widest cell, numbers
// right-aligned. Internal to the CLI.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace awan::cli {

class Table {
 public:
  enum class Align { kLeft, kRight };
  void Column(std::string header, Align align = Align::kLeft);
  void Row(std::vector<std::string> cells);
  std::string Render() const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

// "H100:8", "tpu-v6e-8" (a TPU slice is its own accelerator, count 1), or "-" for CPU-only.
std::string AcceleratorCell(std::string_view name, int count);

// The columns every offering table starts with: PROVIDER REGION ZONE INSTANCE_TYPE ACCELERATORS
// vCPUs MEM(GiB).
void AddOfferingColumns(Table& table);

}  // namespace awan::cli

// A plain-text table for terminal output: columns sized to their widest cell, numbers right-aligned.
// Internal to the CLI.
#pragma once

#include <string>
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

}  // namespace awan::cli

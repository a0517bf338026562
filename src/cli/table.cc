#include "table.h"

#include <fmt/format.h>

#include <algorithm>

namespace awan::cli {
namespace {

// Display width: counts UTF-8 code points, not bytes, so "✔" and non-ASCII region names line up.
size_t Width(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

}  // namespace

void Table::Column(std::string header, Align align) {
  headers_.push_back(std::move(header));
  align_.push_back(align);
}

void Table::Row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

std::string Table::Render() const {
  std::vector<size_t> width(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = Width(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], Width(row[c]));
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t c = 0; c < cells.size(); ++c) {
      const size_t pad = width[c] - Width(cells[c]);
      if (align_[c] == Align::kRight) text.append(pad, ' ');
      text += cells[c];
      if (align_[c] == Align::kLeft && c + 1 < cells.size()) text.append(pad, ' ');
      if (c + 1 < cells.size()) text += "  ";
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text + "\n";
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
  return out;
}

std::string AcceleratorCell(std::string_view name, int count) {
  if (name.empty()) return "-";
  if (count == 1 && name.rfind("tpu-", 0) == 0) return std::string(name);
  return fmt::format("{}:{}", name, count);
}

void AddOfferingColumns(Table& table) {
  table.Column("PROVIDER");
  table.Column("REGION");
  table.Column("ZONE");
  table.Column("INSTANCE_TYPE");
  table.Column("ACCELERATORS");
  table.Column("vCPUs", Table::Align::kRight);
  table.Column("MEM(GiB)", Table::Align::kRight);
}

}  // namespace awan::cli

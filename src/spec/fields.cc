#include "fields.h"

#include <fmt/format.h>

#include <cmath>

#include "awan/common/text.h"

namespace awan::spec {

void FieldReader::Error(const YAML::Node& at, std::string_view field, std::string_view message) {
  Error(at.Mark(), field, message);
}

void FieldReader::Error(const YAML::Mark& mark, std::string_view field, std::string_view message) {
  if (mark.line >= 0) {
    errors_.push_back(
        fmt::format("{}:{}:{}: {}: {}", source_, mark.line + 1, mark.column + 1, field, message));
  } else {
    errors_.push_back(fmt::format("{}: {}: {}", source_, field, message));
  }
}

absl::Status FieldReader::Fail() const {
  std::string all;
  for (const std::string& e : errors_) {
    if (!all.empty()) all += '\n';
    all += e;
  }
  return absl::InvalidArgumentError(all);
}

void FieldReader::UnknownField(const YAML::Node& key_node, std::string_view parent,
                               const std::string& key, const std::vector<std::string>& known,
                               const std::set<std::string>& skypilot) {
  std::string field = parent.empty() ? key : fmt::format("{}.{}", parent, key);
  if (skypilot.count(key) != 0) {
    Error(key_node, field,
          "is a SkyPilot field that awan does not support yet; remove it (see docs/task-spec.md)");
    return;
  }
  std::string where = parent.empty() ? "a task" : std::string(parent);
  Error(key_node, field,
        fmt::format("unknown field{}; fields allowed in {}: {}", DidYouMean(key, known), where,
                    JoinLimited(known, known.size())));
}

std::optional<std::string> FieldReader::String(const YAML::Node& node, std::string_view field) {
  if (node.IsNull()) return std::string();
  if (!node.IsScalar()) {
    Error(node, field, "must be a string, not a list or mapping");
    return std::nullopt;
  }
  return node.Scalar();
}

std::optional<double> FieldReader::Number(const YAML::Node& node, std::string_view field,
                                          std::string_view example) {
  if (!node.IsScalar()) {
    Error(node, field, fmt::format("must be a number, e.g. {}", example));
    return std::nullopt;
  }
  auto v = ParseNumber(node.Scalar());
  if (!v) {
    Error(node, field, fmt::format("'{}' is not a number; write e.g. {}", node.Scalar(), example));
  }
  return v;
}

std::optional<int> FieldReader::PositiveInt(const YAML::Node& node, std::string_view field) {
  auto v = Number(node, field, "1");
  if (!v) return std::nullopt;
  if (*v < 1 || *v != std::floor(*v) || *v > 1e6) {
    Error(node, field, fmt::format("must be a whole number of at least 1, not {}", node.Scalar()));
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

std::optional<bool> FieldReader::Bool(const YAML::Node& node, std::string_view field) {
  if (node.IsScalar()) {
    const std::string v = ToLower(node.Scalar());
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
  }
  Error(node, field, "must be true or false");
  return std::nullopt;
}

std::optional<int64_t> FieldReader::WholeNumber(const YAML::Node& node, std::string_view field,
                                                int64_t min, int64_t max) {
  auto v = Number(node, field, std::to_string(min));
  if (!v) return std::nullopt;
  if (*v != std::floor(*v) || *v < static_cast<double>(min) || *v > static_cast<double>(max)) {
    Error(node, field,
          fmt::format("must be a whole number from {} to {}, not {}", min, max, node.Scalar()));
    return std::nullopt;
  }
  return static_cast<int64_t>(*v);
}

std::optional<double> FieldReader::NumberIn(const YAML::Node& node, std::string_view field,
                                            double min, double max, std::string_view unit) {
  auto v = Number(node, field, fmt::format("{:g}", max > 1 ? 1.0 : max));
  if (!v) return std::nullopt;
  if (!(*v >= min && *v <= max)) {
    Error(node, field,
          fmt::format("must be from {:g} to {:g} {}, not {}", min, max, unit, node.Scalar()));
    return std::nullopt;
  }
  return v;
}

}  // namespace awan::spec

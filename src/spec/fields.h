// Reading the fields of a YAML document with errors that name the file, line, column and field
// and say how to fix it. Every error is collected, so a file's problems are reported together.
// Shared by the task and service parsers; internal to src/spec.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace awan::spec {

class FieldReader {
 public:
  explicit FieldReader(std::string_view source) : source_(source) {}

  // "SOURCE:LINE:COL: FIELD: MESSAGE".
  void Error(const YAML::Node& at, std::string_view field, std::string_view message);
  void Error(const YAML::Mark& mark, std::string_view field, std::string_view message);
  const std::vector<std::string>& errors() const { return errors_; }
  // InvalidArgument with every error, one per line.
  absl::Status Fail() const;

  // `key` is not one of `known` under `parent` ("" at the top level): says which are, or that it
  // is a SkyPilot field awan does not support yet when it is in `skypilot`.
  void UnknownField(const YAML::Node& key_node, std::string_view parent, const std::string& key,
                    const std::vector<std::string>& known, const std::set<std::string>& skypilot);

  // Each: the value, or nullopt after recording an error.
  std::optional<std::string> String(const YAML::Node& node, std::string_view field);
  std::optional<double> Number(const YAML::Node& node, std::string_view field,
                               std::string_view example);
  std::optional<int> PositiveInt(const YAML::Node& node, std::string_view field);
  std::optional<bool> Bool(const YAML::Node& node, std::string_view field);
  // A whole number in [min, max].
  std::optional<int64_t> WholeNumber(const YAML::Node& node, std::string_view field, int64_t min,
                                     int64_t max);
  // A number in [min, max]; `unit` follows it in messages ("seconds").
  std::optional<double> NumberIn(const YAML::Node& node, std::string_view field, double min,
                                 double max, std::string_view unit);

 protected:
  std::string_view source_;
  std::vector<std::string> errors_;
};

}  // namespace awan::spec

// A request's JSON body, read field by field: a field of the wrong type, a number out of range or a
// field the endpoint does not know is a 400 that names it, never silently ignored. Internal to
// src/server.
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace awan::server {

class RequestBody {
 public:
  // InvalidArgument when the text is not one JSON object.
  static absl::StatusOr<RequestBody> Parse(const std::string& text);
  // InvalidArgument naming the first field not in `known` (with a "did you mean").
  absl::Status Only(std::initializer_list<std::string> known) const;

  // Each: nullopt when absent (or null); InvalidArgument when of another type.
  absl::StatusOr<std::optional<std::string>> String(const std::string& name) const;
  absl::StatusOr<std::optional<bool>> Bool(const std::string& name) const;
  absl::StatusOr<std::optional<double>> Number(const std::string& name, double min,
                                               double max) const;
  absl::StatusOr<std::optional<std::vector<std::string>>> Strings(const std::string& name) const;

 private:
  explicit RequestBody(nlohmann::json j) : j_(std::move(j)) {}
  nlohmann::json j_;
};

}  // namespace awan::server

#include "request_body.h"

#include <fmt/format.h>

#include "awan/common/text.h"

namespace awan::server {

absl::StatusOr<RequestBody> RequestBody::Parse(const std::string& text) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(fmt::format("malformed JSON body: {}", e.what()));
  }
  if (!j.is_object()) {
    return absl::InvalidArgumentError("malformed JSON body: the body must be a JSON object");
  }
  return RequestBody(std::move(j));
}

absl::Status RequestBody::Only(std::initializer_list<std::string> known) const {
  const std::vector<std::string> names(known);
  for (const auto& [key, value] : j_.items()) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      return absl::InvalidArgumentError(
          fmt::format("unknown field \"{}\"{}; this endpoint takes {}", key, DidYouMean(key, names),
                      JoinLimited(names, names.size())));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> RequestBody::String(const std::string& name) const {
  auto it = j_.find(name);
  if (it == j_.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) {
    return absl::InvalidArgumentError(fmt::format("\"{}\" must be a string", name));
  }
  return it->get<std::string>();
}

absl::StatusOr<std::optional<bool>> RequestBody::Bool(const std::string& name) const {
  auto it = j_.find(name);
  if (it == j_.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) {
    return absl::InvalidArgumentError(fmt::format("\"{}\" must be true or false", name));
  }
  return it->get<bool>();
}

absl::StatusOr<std::optional<double>> RequestBody::Number(const std::string& name, double min,
                                                          double max) const {
  auto it = j_.find(name);
  if (it == j_.end() || it->is_null()) return std::nullopt;
  if (!it->is_number() || !(it->get<double>() >= min) || !(it->get<double>() <= max)) {
    return absl::InvalidArgumentError(
        fmt::format("\"{}\" must be a number from {:.12g} to {:.12g}", name, min, max));
  }
  return it->get<double>();
}

absl::StatusOr<std::optional<std::vector<std::string>>> RequestBody::Strings(
    const std::string& name) const {
  auto it = j_.find(name);
  if (it == j_.end() || it->is_null()) return std::nullopt;
  std::vector<std::string> out;
  if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_string()) break;
      out.push_back(v.get<std::string>());
    }
    if (out.size() == it->size()) return out;
  }
  return absl::InvalidArgumentError(fmt::format("\"{}\" must be a list of strings", name));
}

}  // namespace awan::server

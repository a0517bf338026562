// Field checking for the scheduler's YAML files (fleet files, simulator scenarios): errors name the
// file, line, column and field, unknown keys get a "did you mean". Include only from .cc files that
// parse YAML (it brings in yaml-cpp).
#pragma once

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/common/text.h"

namespace awan::scheduler {

// Thrown by YamlFields::Fail; turned into an InvalidArgument status by ParseYaml.
struct YamlError {
  std::string message;
};

class YamlFields {
 public:
  explicit YamlFields(std::string_view source) : source_(source) {}

  [[noreturn]] void Fail(const YAML::Node& at, const std::string& field,
                         const std::string& message) const {
    const YAML::Mark m = at.Mark();
    throw YamlError{
        fmt::format("{}:{}:{}: {}: {}", source_, m.line + 1, m.column + 1, field, message)};
  }

  // `map` must be a mapping whose keys are all in `allowed`.
  void Fields(const YAML::Node& map, const std::string& field,
              const std::vector<std::string>& allowed) const {
    if (!map.IsMap()) Fail(map, field, "must be a mapping");
    for (auto it = map.begin(); it != map.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        Fail(it->first, field.empty() ? key : field + "." + key,
             fmt::format("unknown field{}; allowed: {}", DidYouMean(key, allowed),
                         JoinLimited(allowed, allowed.size())));
      }
    }
  }

 protected:
  std::string_view source_;
};

// Loads `yaml` and runs `parse(root)`; YamlError and YAML syntax errors become InvalidArgument
// statuses naming `source`, line and column.
template <typename Parse>
auto ParseYaml(std::string_view yaml, std::string_view source, Parse&& parse)
    -> absl::StatusOr<decltype(parse(YAML::Node()))> {
  if (std::string bad = Utf8Error(yaml, source); !bad.empty()) {
    return absl::InvalidArgumentError(bad);
  }
  try {
    return parse(YAML::Load(std::string(yaml)));
  } catch (const YamlError& e) {
    return absl::InvalidArgumentError(e.message);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("{}:{}:{}: YAML error: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

}  // namespace awan::scheduler

#include "config_parse.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "awan/common/text.h"

namespace awan::providers {

std::string Where(const ConfigContext& ctx, const YAML::Node& node, const std::string& field) {
  const YAML::Mark m = node.Mark();
  return fmt::format("{}:{}:{}: {}", ctx.source, m.line + 1, m.column + 1, field);
}

void CheckFields(const ConfigContext& ctx, const YAML::Node& entry, const std::string& field,
                 const std::vector<std::string>& allowed) {
  for (auto it = entry.begin(); it != entry.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      throw EntryError{fmt::format("{}.{}: unknown field{}; allowed: {}",
                                   Where(ctx, it->first, field), key, DidYouMean(key, allowed),
                                   JoinLimited(allowed, allowed.size()))};
    }
  }
}

// A number in [min, max]; every number of a fleet config is range-checked where it is read.
double Number(const ConfigContext& ctx, const YAML::Node& node, const std::string& field,
              double min, double max) {
  auto v = node.IsScalar() ? ParseNumber(node.Scalar()) : std::nullopt;
  if (!v || *v < min || *v > max) {
    throw EntryError{fmt::format("{}: must be a number of at least {:.12g} and at most {:.12g}{}",
                                 Where(ctx, node, field), min, max,
                                 node.IsScalar() ? fmt::format(", not {}", node.Scalar()) : "")};
  }
  return *v;
}

// A whole number in [min, max].
int64_t Int(const ConfigContext& ctx, const YAML::Node& node, const std::string& field, int64_t min,
            int64_t max) {
  const double v = Number(ctx, node, field, static_cast<double>(min), static_cast<double>(max));
  if (v != std::floor(v)) {
    throw EntryError{
        fmt::format("{}: must be a whole number, not {}", Where(ctx, node, field), node.Scalar())};
  }
  return static_cast<int64_t>(v);
}

}  // namespace awan::providers

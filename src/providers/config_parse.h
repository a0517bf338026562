// Reading one provider's entry of a fleet config: the context every kind's parser gets, its error
// type and the field helpers (unknown fields and out-of-range numbers are errors naming the file,
// line and field). Internal to src/providers; each kind's parser lives in its own folder.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "awan/catalog/catalog.h"
#include "awan/providers/local.h"
#include "awan/providers/provider.h"

namespace awan::providers {

struct ConfigContext {
  std::string_view source;          // the config file, for errors
  const catalog::Catalog& catalog;  // what emulated providers sell
  const LocalResources& machine;    // this machine
};

// Thrown inside a provider's entry; caught per entry so the other providers still load.
struct EntryError {
  std::string message;
};

// "config.yaml:12:5: providers[2].kind"
std::string Where(const ConfigContext& ctx, const YAML::Node& node, const std::string& field);
// An EntryError naming the first key of `entry` not in `allowed` (with a "did you mean").
void CheckFields(const ConfigContext& ctx, const YAML::Node& entry, const std::string& field,
                 const std::vector<std::string>& allowed);
// A number in [min, max] (EntryError naming the range otherwise).
double Number(const ConfigContext& ctx, const YAML::Node& node, const std::string& field,
              double min = 0, double max = 1e9);
// A whole number in [min, max].
int64_t Int(const ConfigContext& ctx, const YAML::Node& node, const std::string& field, int64_t min,
            int64_t max);

// Makes a provider of one kind from its entry (`name` is the entry's name, `field` its place,
// e.g. "providers[2]"); throws EntryError for what is wrong with it.
using ProviderFactory =
    std::function<std::unique_ptr<Provider>(const std::string& name, const YAML::Node& entry,
                                            const std::string& field, const ConfigContext& ctx)>;

}  // namespace awan::providers

// Provider kinds by name. Each kind's factory and config parser live in its own folder under
// src/providers/ and are registered with one line in RegisterBuiltins (builtins.cc); a kind
// registered twice is a programming error and fails loudly. Internal to src/providers.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config_parse.h"

namespace awan::providers {

class ProviderKinds {
 public:
  // Throws std::logic_error naming the kind when it is registered already.
  void Register(std::string kind, ProviderFactory factory);
  const ProviderFactory* Find(std::string_view kind) const;  // nullptr for an unknown kind
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, ProviderFactory, std::less<>> kinds_;
};

// The kinds awan ships: local, sim, ssh, slurm — one line each.
void RegisterBuiltins(ProviderKinds& kinds);
// Those kinds, registered once.
const ProviderKinds& BuiltinKinds();

// Each kind's factory, defined in its folder.
std::unique_ptr<Provider> MakeLocalProvider(const std::string& name, const YAML::Node& entry,
                                            const std::string& field, const ConfigContext& ctx);
std::unique_ptr<Provider> MakeSimProvider(const std::string& name, const YAML::Node& entry,
                                          const std::string& field, const ConfigContext& ctx);
std::unique_ptr<Provider> MakeSshProvider(const std::string& name, const YAML::Node& entry,
                                          const std::string& field, const ConfigContext& ctx);
std::unique_ptr<Provider> MakeSlurmProvider(const std::string& name, const YAML::Node& entry,
                                            const std::string& field, const ConfigContext& ctx);

}  // namespace awan::providers

#include <fmt/format.h>

#include <stdexcept>

#include "registry.h"

namespace awan::providers {

void ProviderKinds::Register(std::string kind, ProviderFactory factory) {
  if (kinds_.count(kind) != 0) {
    throw std::logic_error(fmt::format("provider kind '{}' is registered twice", kind));
  }
  kinds_.emplace(std::move(kind), std::move(factory));
}

const ProviderFactory* ProviderKinds::Find(std::string_view kind) const {
  auto it = kinds_.find(kind);
  return it == kinds_.end() ? nullptr : &it->second;
}

std::vector<std::string> ProviderKinds::Names() const {
  std::vector<std::string> out;
  for (const auto& [name, factory] : kinds_) out.push_back(name);
  return out;
}

// Adding a kind: a folder with its provider and its factory, and one line here.
void RegisterBuiltins(ProviderKinds& kinds) {
  kinds.Register("local", MakeLocalProvider);
  kinds.Register("sim", MakeSimProvider);
  kinds.Register("ssh", MakeSshProvider);
  kinds.Register("slurm", MakeSlurmProvider);
}

const ProviderKinds& BuiltinKinds() {
  static const ProviderKinds kinds = [] {
    ProviderKinds k;
    RegisterBuiltins(k);
    return k;
  }();
  return kinds;
}

}  // namespace awan::providers

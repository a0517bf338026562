// The `ssh` provider kind's entry in a fleet config (docs/providers.md).
#include <fmt/format.h>

#include <filesystem>

#include "../registry.h"
#include "awan/common/text.h"
#include "awan/providers/ssh.h"

namespace awan::providers {

namespace fs = std::filesystem;

std::unique_ptr<Provider> MakeSshProvider(const std::string& name, const YAML::Node& entry,
                                          const std::string& field, const ConfigContext& ctx) {
  CheckFields(ctx, entry, field,
              {"name", "kind", "region", "user", "key", "hosts", "remote_root", "connect_timeout_s",
               "node_lost_after_s"});
  SshConfig c;
  c.name = name;
  c.region = entry["region"] ? entry["region"].Scalar() : name;
  if (entry["remote_root"]) c.remote_root = entry["remote_root"].Scalar();
  if (entry["node_lost_after_s"]) {
    c.node_lost_after_s = static_cast<int>(
        Int(ctx, entry["node_lost_after_s"], field + ".node_lost_after_s", 1, 86400));
  }
  if (entry["connect_timeout_s"])
    c.connect_timeout_s = static_cast<int>(
        Int(ctx, entry["connect_timeout_s"], field + ".connect_timeout_s", 1, 300));
  const std::string user = entry["user"] ? entry["user"].Scalar() : "";
  const std::string key = entry["key"] ? entry["key"].Scalar() : "";
  const YAML::Node hosts = entry["hosts"];
  if (!hosts || !hosts.IsSequence() || hosts.size() == 0) {
    throw EntryError{fmt::format("{}.hosts: list at least one host {{host, port, ...}}",
                                 Where(ctx, entry, field))};
  }
  for (size_t i = 0; i < hosts.size(); ++i) {
    const YAML::Node h = hosts[i];
    const std::string hf = fmt::format("{}.hosts[{}]", field, i);
    CheckFields(ctx, h, hf,
                {"host", "port", "user", "key", "accelerator", "accelerator_count", "cpus",
                 "memory_gib", "price"});
    SshHost host;
    if (!h["host"]) throw EntryError{fmt::format("{}.host: is required", Where(ctx, h, hf))};
    host.host = h["host"].Scalar();
    host.port = h["port"] ? static_cast<int>(Int(ctx, h["port"], hf + ".port", 1, 65535)) : 22;
    host.user = h["user"] ? h["user"].Scalar() : user;
    host.key = h["key"] ? h["key"].Scalar() : key;
    if (!host.key.empty() && !fs::exists(host.key)) {
      throw EntryError{fmt::format("{}.key: key file {} does not exist",
                                   Where(ctx, h["key"] ? h["key"] : entry, hf), host.key)};
    }
    if (h["accelerator"]) host.accelerator = h["accelerator"].Scalar();
    host.accelerator_count =
        h["accelerator_count"]
            ? static_cast<int>(Int(ctx, h["accelerator_count"], hf + ".accelerator_count", 0, 1024))
            : (host.accelerator.empty() ? 0 : 1);
    host.cpus = h["cpus"] ? Number(ctx, h["cpus"], hf + ".cpus", 0, 100000) : 1;
    host.memory_gib =
        h["memory_gib"] ? Number(ctx, h["memory_gib"], hf + ".memory_gib", 0, 1000000) : 1;
    host.price = h["price"] ? Number(ctx, h["price"], hf + ".price", 0, 1000000) : 0;
    c.hosts.push_back(host);
  }
  return std::make_unique<SshProvider>(std::move(c));
}

}  // namespace awan::providers

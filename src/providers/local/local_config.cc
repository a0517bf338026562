// The `local` provider kind's entry in a fleet config (docs/providers.md).
#include <fmt/format.h>

#include "../registry.h"
#include "awan/common/text.h"
#include "local_provider.h"

namespace awan::providers {

std::unique_ptr<Provider> MakeLocalProvider(const std::string&, const YAML::Node& entry,
                                            const std::string& field, const ConfigContext& ctx) {
  CheckFields(ctx, entry, field, {"name", "kind"});
  return std::make_unique<LocalProvider>(ctx.machine);
}

}  // namespace awan::providers

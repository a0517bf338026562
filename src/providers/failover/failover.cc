#include "awan/providers/failover.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace awan::providers {

void BlockList::Add(Block block) {
  for (Block& b : blocks_) {
    if (b.provider == block.provider && b.region == block.region && b.zone == block.zone) {
      b.until = std::max(b.until, block.until);
      b.reason = block.reason;
      return;
    }
  }
  blocks_.push_back(std::move(block));
}

bool BlockList::Blocked(std::string_view provider, std::string_view region, std::string_view zone,
                        int64_t now) const {
  return std::any_of(blocks_.begin(), blocks_.end(), [&](const Block& b) {
    return b.until > now && (b.provider.empty() || b.provider == provider) &&
           (b.region.empty() || b.region == region) && (b.zone.empty() || b.zone == zone);
  });
}

size_t BlockList::Lift(std::string_view provider, std::string_view region) {
  const size_t before = blocks_.size();
  std::erase_if(blocks_, [&](const Block& b) {
    return b.provider == provider && (region.empty() || b.region == region);
  });
  return before - blocks_.size();
}

int64_t BlockList::NextEnd(int64_t now) const {
  int64_t next = std::numeric_limits<int64_t>::max();
  for (const Block& b : blocks_) {
    if (b.until > now) next = std::min(next, b.until);
  }
  return next;
}

std::vector<optimizer::BlockRule> BlockList::Active(int64_t now) const {
  std::vector<optimizer::BlockRule> rules;
  for (const Block& b : blocks_) {
    if (b.until > now) rules.push_back({b.provider, b.region, b.zone});
  }
  return rules;
}

Reaction ReactionTo(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kCapacityUnavailable:
      return Reaction::kBlockZone;
    case ErrorKind::kQuotaExceeded:
      return Reaction::kBlockRegion;
    case ErrorKind::kProviderDown:
    case ErrorKind::kAuthFailed:
      return Reaction::kBlockProvider;
    case ErrorKind::kTransient:
      return Reaction::kRetry;
    case ErrorKind::kInvalidRequest:
      return Reaction::kStop;
  }
  return Reaction::kStop;
}

std::optional<Block> BlockFor(const std::string& provider, const Offer& offer,
                              const ProviderError& error, int64_t now, int64_t block_ms) {
  Block b;
  b.provider = provider;
  b.until = now + block_ms;
  b.reason = fmt::format("{}: {}", ErrorKindName(error.kind), error.message);
  if (error.scope != ErrorScope::kDefault) {
    if (error.scope != ErrorScope::kProvider) b.region = offer.region;
    if (error.scope == ErrorScope::kZone) b.zone = offer.zone;
    return b;
  }
  switch (ReactionTo(error.kind)) {
    case Reaction::kBlockZone:
      b.region = offer.region;
      b.zone = offer.zone;  // empty for zoneless providers: the whole region
      return b;
    case Reaction::kBlockRegion:
      b.region = offer.region;
      return b;
    case Reaction::kBlockProvider:
      return b;
    case Reaction::kRetry:
    case Reaction::kStop:
      return std::nullopt;
  }
  return std::nullopt;
}

std::string DescribeAttempt(const Attempt& a, size_t number) {
  const std::string where = a.zone.empty() ? a.region : a.region + "/" + a.zone;
  if (a.outcome == "ok")
    return fmt::format("attempt {}: {} {} {}: provisioned", number, a.provider, where,
                       a.instance_type);
  return fmt::format("attempt {}: {} {} {}: {}: {}", number, a.provider, where, a.instance_type,
                     a.outcome, a.message);
}

std::string AttemptsTable(const std::vector<Attempt>& attempts) {
  std::string out =
      "  #  PROVIDER / REGION / ZONE / INSTANCE            OUTCOME               REASON\n";
  for (size_t i = 0; i < attempts.size(); ++i) {
    const Attempt& a = attempts[i];
    const std::string where = fmt::format("{} / {} / {} / {}", a.provider, a.region,
                                          a.zone.empty() ? "-" : a.zone, a.instance_type);
    out += fmt::format("{:>3}  {:<40}  {:<20}  {}\n", i + 1, where, a.outcome, a.message);
  }
  return out;
}

int64_t Backoff(int retry, int64_t base_ms, int64_t cap_ms) {
  int64_t d = base_ms;
  for (int i = 0; i < retry && d < cap_ms; ++i) d *= 2;
  return std::min(d, cap_ms);
}

}  // namespace awan::providers

// Failover bookkeeping: which zones, regions and providers are blocked (and until when), what each
// provisioning attempt did, and how an error kind decides what to block. Pure logic with the time
// passed in; no I/O. Not thread-safe (the controller's loop owns it).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "awan/optimizer/optimizer.h"
#include "awan/providers/provider.h"

namespace awan::providers {

struct Block {
  std::string provider, region, zone;  // "" = the whole level
  int64_t until = 0;                   // ms since epoch
  std::string reason;
};

class BlockList {
 public:
  // Adds or extends a block.
  void Add(Block block);
  bool Blocked(std::string_view provider, std::string_view region, std::string_view zone,
               int64_t now) const;
  // The blocks still in force, as optimizer rules (the ranking then skips them).
  std::vector<optimizer::BlockRule> Active(int64_t now) const;
  // Removes the blocks of a provider (of one of its regions, and its zones, when `region` is
  // given): it is known to be back. Returns how many went.
  size_t Lift(std::string_view provider, std::string_view region);
  // When the earliest block still in force ends (INT64_MAX when none is).
  int64_t NextEnd(int64_t now) const;
  size_t size() const { return blocks_.size(); }

 private:
  std::vector<Block> blocks_;
};

// What failover does after an error of this kind.
enum class Reaction {
  kBlockZone,      // capacity_unavailable (the region when the offer has no zone)
  kBlockRegion,    // quota_exceeded
  kBlockProvider,  // provider_down, auth_failed
  kRetry,          // transient: the same placement again, after a backoff
  kStop,           // invalid_request: no other placement will do better
};
Reaction ReactionTo(ErrorKind kind);

// The block an error calls for, or nullopt for kRetry/kStop.
std::optional<Block> BlockFor(const std::string& provider, const Offer& offer,
                              const ProviderError& error, int64_t now, int64_t block_ms);

struct Attempt {
  int64_t time = 0;
  std::string provider, region, zone, instance_type;
  std::string outcome;  // "ok", or an error kind name
  std::string message;
};

// "attempt 2: aws us-east-1/us-east-1a p5.48xlarge: capacity_unavailable: ..." (one event line).
std::string DescribeAttempt(const Attempt& attempt, size_t number);
// A table of every attempt for the user when all candidates failed.
std::string AttemptsTable(const std::vector<Attempt>& attempts);

// Capped exponential backoff: base × 2^retry, at most cap.
int64_t Backoff(int retry, int64_t base_ms, int64_t cap_ms);

}  // namespace awan::providers

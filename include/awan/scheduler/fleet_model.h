// The fleet model of the scheduler and simulator (issue 5): pools of nodes per provider, region and
// interconnect domain; contracts that commit accelerators over time (ramp steps) at a committed
// price; on-demand and spot limits beyond them; teams with quotas and weights. Read from a fleet
// file (docs/scheduler.md); plain data, read-only once loaded.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace awan::scheduler {

// Nodes of one shape in one interconnect domain: a gang job is placed inside one domain.
struct Pool {
  std::string name;
  std::string provider, region, domain;
  std::string accelerator;
  int accelerators_per_node = 8;
  int nodes = 0;
  int64_t accelerators() const { return static_cast<int64_t>(accelerators_per_node) * nodes; }
};

struct RampStep {
  int64_t from_s = 0;        // seconds since the fleet's start
  int64_t accelerators = 0;  // committed from then on
};

struct Contract {
  std::string name;
  std::string provider, accelerator;
  double price_per_accelerator_hour = 0;
  std::vector<RampStep> ramp;  // sorted by from_s
  // Committed accelerators at `t` (seconds since the fleet's start): the last step at or before t.
  int64_t CommittedAt(int64_t t) const;
};

// Capacity bought beyond the contracts, at catalog prices unless a price is given here. On-demand
// has no limit unless max_on_demand says so; spot is used only where max_spot is given (preemptible
// jobs beyond the commitment).
struct MarketLimit {
  std::string provider, accelerator;
  std::optional<int64_t> max_on_demand, max_spot;  // accelerators
  std::optional<double> price_per_accelerator_hour,
      spot_price_per_accelerator_hour;  // override the catalog
};

struct Team {
  std::string name;
  double weight = 1;
  std::map<std::string, int64_t> quota;  // accelerator → accelerators guaranteed
};

struct FleetModel {
  std::string name;
  std::string source;
  int64_t start_epoch_s = 0;  // the fleet's time zero (UTC midnight of `start`)
  std::vector<Pool> pools;
  std::vector<Contract> contracts;
  std::vector<MarketLimit> markets;
  std::vector<Team> teams;

  int64_t TotalAccelerators() const;
  int64_t TotalNodes() const;
  std::map<std::string, int64_t> AcceleratorsByProvider() const;
  size_t Domains() const;
  size_t Regions() const;
};

// Parses a fleet file; errors name the file, line, column and field.
absl::StatusOr<FleetModel> ParseFleetModel(std::string_view yaml, std::string_view source);
absl::StatusOr<FleetModel> LoadFleetModel(const std::string& path);

// "2026-07-01" → seconds since the Unix epoch (UTC midnight); nullopt if not a date.
std::optional<int64_t> ParseDate(std::string_view text);

}  // namespace awan::scheduler

// What-if scenarios for the simulator: provider or region outages at given times, contract ramps
// that slip, checkpoint interval, spot interruptions and a horizon. YAML; docs/simulator.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/scheduler/fleet_model.h"

namespace awan::simulator {

struct OutageEvent {
  int64_t at_s = 0;              // seconds since the fleet's start
  std::optional<int64_t> for_s;  // nullopt = until the end
  std::string provider, region;  // region empty = the whole provider
};

struct ContractSlip {
  std::string contract;
  int64_t by_s = 0;  // every ramp step after the first moves this much later
};

struct Scenario {
  std::string source;
  int64_t checkpoint_interval_s =
      3600;                          // work since the last checkpoint is lost; 0 = no checkpoints
  std::optional<int64_t> horizon_s;  // stop here (seconds since the fleet's start)
  double spot_interruptions_per_hour = 0;  // per spot-tier job, exponential, seeded
  std::vector<OutageEvent> outages;
  std::vector<ContractSlip> slips;
};

// Parses a scenario against `fleet` (providers, regions and contracts must exist); errors name the
// file, line, column and field.
absl::StatusOr<Scenario> ParseScenario(std::string_view yaml, std::string_view source,
                                       const scheduler::FleetModel& fleet);
absl::StatusOr<Scenario> LoadScenario(const std::string& path, const scheduler::FleetModel& fleet);

// The fleet with the scenario's contract slips applied.
scheduler::FleetModel ApplySlips(const scheduler::FleetModel& fleet, const Scenario& scenario);

}  // namespace awan::simulator

// The simulator's outputs: the JSON summary (the contract of `awan simulate --json`), the time
// series as CSV, and an SVG chart of utilisation and queue length over time.
#pragma once

#include <string>

#include "awan/simulator/simulator.h"

namespace awan::simulator {

// One JSON object; byte-identical for identical runs except `wall_s`.
std::string ToJson(const SimResult& result);
// time_s,utilization,busy_accelerators,running_jobs,queued_jobs,committed_accelerators,down_accelerators
std::string SeriesCsv(const SimResult& result);
// Two stacked panels sharing the time axis: utilisation (%) with committed and down capacity, and
// queued jobs.
std::string SeriesSvg(const SimResult& result);

}  // namespace awan::simulator

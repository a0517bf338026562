#include "awan/simulator/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "awan/common/json_dump.h"

namespace awan::simulator {
namespace {

using J = nlohmann::ordered_json;

double Round(double v, int digits) {
  const double scale = std::pow(10.0, digits);
  return std::round(v * scale) / scale;
}

J StatsJson(const Stats& s) {
  return J{{"mean", Round(s.mean, 1)},
           {"p50", Round(s.p50, 1)},
           {"p99", Round(s.p99, 1)},
           {"count", s.count}};
}

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A "nice" step for about `ticks` ticks over [0, max].
double NiceStep(double max, int ticks) {
  if (max <= 0) return 1;
  const double raw = max / ticks;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * mag) return m * mag;
  }
  return 10 * mag;
}

}  // namespace

std::string ToJson(const SimResult& r) {
  J j;
  j["fleet"] = r.fleet;
  j["policy"] = r.policy;
  j["workload"] = {{"source", r.workload_source},
                   {"format", r.workload_format},
                   {"skipped", r.skipped},
                   {"adjusted", r.adjusted}};
  j["scenario"] = r.scenario_source.empty() ? J(nullptr) : J(r.scenario_source);
  j["jobs"] = {{"submitted", r.submitted},     {"completed", r.completed},
               {"preempted", r.preempted},     {"requeued", r.requeued},
               {"interrupted", r.interrupted}, {"unfinished", r.unfinished},
               {"unplaceable", r.unplaceable}};
  J by_provider = J::object();
  for (const auto& [p, u] : r.utilization_by_provider) by_provider[p] = Round(u, 4);
  j["utilization"] = {{"overall", Round(r.utilization, 4)}, {"by_provider", by_provider}};
  j["jct_s"] = StatsJson(r.jct_s);
  j["queue_delay_s"] = StatsJson(r.queue_delay_s);
  if (r.recorded_queue_delay_s) j["recorded_queue_delay_s"] = StatsJson(*r.recorded_queue_delay_s);
  j["cost_usd"] = {{"committed", Round(r.cost_committed, 2)},
                   {"on_demand", Round(r.cost_on_demand, 2)},
                   {"spot", Round(r.cost_spot, 2)},
                   {"idle_committed", Round(r.cost_idle_committed, 2)},
                   {"total", Round(r.cost_committed + r.cost_on_demand + r.cost_spot, 2)},
                   {"unpriced_markets", r.unpriced}};
  j["lost_work_accelerator_hours"] = Round(r.lost_work_accelerator_hours, 2);
  j["accelerators"] = r.total_accelerators;
  j["simulated_s"] = {{"start", r.start_s}, {"end", r.end_s}};
  j["events"] = r.events;
  j["wall_s"] = Round(r.wall_s, 3);
  return DumpJson(j, 2) + "\n";
}

std::string SeriesCsv(const SimResult& r) {
  std::string out =
      "time_s,utilization,busy_accelerators,running_jobs,queued_jobs,committed_accelerators,down_"
      "accelerators\n";
  for (const Sample& s : r.series) {
    out +=
        fmt::format("{},{:.4f},{},{},{},{},{}\n", s.t_s, s.utilization, s.busy_accelerators,
                    s.running_jobs, s.queued_jobs, s.committed_accelerators, s.down_accelerators);
  }
  return out;
}

std::string SeriesSvg(const SimResult& r) {
  const double width = 1000, left = 70, right = 20, panel = 220, top = 50, gap = 60;
  const double plot_w = width - left - right;
  const double height = top + 2 * panel + gap + 50;
  const int64_t t0 = r.series.empty() ? 0 : r.series.front().t_s;
  const int64_t t1 = r.series.empty() ? 1 : std::max(r.series.back().t_s, t0 + 1);
  const bool days = t1 - t0 >= 2 * 86400;
  const double unit = days ? 86400.0 : 3600.0;
  const double span_units = static_cast<double>(t1 - t0) / unit;
  auto x = [&](int64_t t) {
    return left + plot_w * static_cast<double>(t - t0) / static_cast<double>(t1 - t0);
  };
  size_t max_queue = 1;
  for (const Sample& s : r.series) max_queue = std::max(max_queue, s.queued_jobs);
  const double q_step = NiceStep(static_cast<double>(max_queue), 4);
  const double q_max = std::ceil(static_cast<double>(max_queue) / q_step) * q_step;

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" "
      "fill=\"white\"/>\n",
      width, height);
  svg +=
      fmt::format("<text x=\"{}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{}</text>\n", left,
                  Escape(fmt::format("awan simulate: {} · policy {} · {} ({} jobs)", r.fleet,
                                     r.policy, r.workload_format, r.submitted)));
  svg += fmt::format(
      "<text x=\"{}\" y=\"40\" fill=\"#555\">{}</text>\n", left,
      Escape(fmt::format(
          "utilization {:.1f}% · queue delay p50 {:.0f} s, p99 {:.0f} s · {} accelerators",
          100 * r.utilization, r.queue_delay_s.p50, r.queue_delay_s.p99, r.total_accelerators)));
  // Panels: frame, horizontal grid, labels.
  struct Panel {
    double y0;
    std::string label;
  };
  const Panel util{top, "utilization %"}, queue{top + panel + gap, "queued jobs"};
  for (const Panel& p : {util, queue}) {
    svg += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n",
        left, p.y0, plot_w, panel);
    svg += fmt::format(
        "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" "
        "text-anchor=\"middle\">{}</text>\n",
        p.y0 + panel / 2, p.y0 + panel / 2, p.label);
  }
  for (int k = 0; k <= 4; ++k) {
    const double yu = top + panel - panel * k / 4.0;
    svg += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{}</text>\n",
        left, left + plot_w, yu, yu, left - 6, yu + 4, 25 * k);
    const double yq = queue.y0 + panel - panel * k / 4.0;
    svg += fmt::format(
        "<line x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"#eee\"/>"
        "<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">{:g}</text>\n",
        left, left + plot_w, yq, yq, left - 6, yq + 4, q_step * k);
  }
  // Time axis ticks under both panels.
  const double t_step = NiceStep(span_units, 8);
  const double first_unit = static_cast<double>(t0) / unit;
  for (double tick = std::ceil(first_unit / t_step) * t_step;
       tick <= first_unit + span_units + 1e-9; tick += t_step) {
    const double u = tick - first_unit;
    const double px = left + plot_w * u / std::max(span_units, 1e-9);
    for (const Panel& p : {util, queue}) {
      svg +=
          fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#999\"/>",
                      px, p.y0 + panel, p.y0 + panel + 5);
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">{:g}</text>\n", px,
                       queue.y0 + panel + 18, tick);
  }
  svg += fmt::format(
      "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">time since the fleet's start ({})</text>\n",
      left + plot_w / 2, queue.y0 + panel + 38, days ? "days" : "hours");
  // Series as polylines.
  auto polyline = [&](auto value, double y0, double vmax, const char* color, const char* extra) {
    std::string pts;
    for (const Sample& s : r.series) {
      const double v = std::clamp(value(s) / vmax, 0.0, 1.0);
      pts += fmt::format("{:.1f},{:.1f} ", x(s.t_s), y0 + panel - panel * v);
    }
    return fmt::format(
        "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" {} points=\"{}\"/>\n", color,
        extra, pts);
  };
  const double total = static_cast<double>(std::max<int64_t>(1, r.total_accelerators));
  svg += polyline([&](const Sample& s) { return static_cast<double>(s.down_accelerators) / total; },
                  util.y0, 1.0, "#d62728", "stroke-dasharray=\"2 2\"");
  svg += polyline(
      [&](const Sample& s) { return static_cast<double>(s.committed_accelerators) / total; },
      util.y0, 1.0, "#ff7f0e", "stroke-dasharray=\"6 3\"");
  svg += polyline([&](const Sample& s) { return s.utilization; }, util.y0, 1.0, "#1f77b4", "");
  svg += polyline([&](const Sample& s) { return static_cast<double>(s.queued_jobs); }, queue.y0,
                  q_max, "#9467bd", "");
  // Legend.
  const double ly = top + 14;
  const std::pair<const char*, const char*> legend[] = {{"#1f77b4", "busy accelerators"},
                                                        {"#ff7f0e", "committed (contracts)"},
                                                        {"#d62728", "down (outages)"}};
  double lx = left + 10;
  for (const auto& [color, text] : legend) {
    svg += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"3\"/>"
        "<text x=\"{4}\" y=\"{5}\">{6}</text>\n",
        lx, lx + 18, ly, color, lx + 22, ly + 4, text);
    lx += 190;
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace awan::simulator

#include "awan/simulator/workload.h"

#include <csv.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include "awan/common/status_macros.h"
#include "awan/common/text.h"

namespace awan::simulator {
namespace {

using scheduler::FleetModel;
using scheduler::Need;

// Streams a CSV file row by row (libcsv: quoting and embedded commas handled); the first row is the
// header. `on_row` gets the row's 1-based line number and fields; returning an error stops.
class CsvReader {
 public:
  using RowFn = std::function<absl::Status(int64_t line, const std::vector<std::string>& fields)>;

  static absl::Status Read(const std::string& path, const RowFn& on_row) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::NotFoundError(fmt::format("{}: cannot open the file", path));
    CsvReader r(on_row);
    csv_parser parser;
    if (csv_init(&parser, CSV_APPEND_NULL) != 0) return absl::InternalError("csv_init failed");
    std::vector<char> buffer(1 << 20);
    while (in && r.status_.ok()) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      const size_t n = static_cast<size_t>(in.gcount());
      if (n == 0) break;
      if (csv_parse(&parser, buffer.data(), n, &OnField, &OnRow, &r) != n) {
        const std::string message = csv_strerror(csv_error(&parser));
        csv_free(&parser);
        return absl::InvalidArgumentError(
            fmt::format("{}:{}: not valid CSV: {}", path, r.line_ + 1, message));
      }
    }
    if (r.status_.ok()) csv_fini(&parser, &OnField, &OnRow, &r);
    csv_free(&parser);
    return r.status_;
  }

 private:
  explicit CsvReader(const RowFn& on_row) : on_row_(on_row) {}
  static void OnField(void* data, size_t size, void* self) {
    static_cast<CsvReader*>(self)->fields_.emplace_back(static_cast<const char*>(data), size);
  }
  static void OnRow(int, void* self) {
    auto* r = static_cast<CsvReader*>(self);
    ++r->line_;
    if (r->status_.ok()) r->status_ = r->on_row_(r->line_, r->fields_);
    r->fields_.clear();
  }
  const RowFn& on_row_;
  std::vector<std::string> fields_;
  int64_t line_ = 0;
  absl::Status status_;
};

// Columns by name, from the header row.
class Columns {
 public:
  absl::Status Header(const std::string& path, const std::vector<std::string>& header,
                      const std::vector<std::string>& required) {
    path_ = path;
    for (size_t i = 0; i < header.size(); ++i) index_[header[i]] = i;
    for (const std::string& name : required) {
      if (!index_.contains(name)) {
        std::vector<std::string> names(header.begin(), header.end());
        return absl::InvalidArgumentError(
            fmt::format("{}:1: column '{}' is missing{}; this format needs the columns: {}", path,
                        name, DidYouMean(name, names), fmt::join(required, ", ")));
      }
    }
    return absl::OkStatus();
  }
  bool Has(const std::string& name) const { return index_.contains(name); }
  std::string_view Get(const std::vector<std::string>& row, const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end() || it->second >= row.size()) return {};
    return row[it->second];
  }
  // A number in column `name`; an error naming the file, line and column when it is not one.
  absl::StatusOr<double> Number(const std::vector<std::string>& row, int64_t line,
                                const std::string& name) const {
    const std::string_view text = Get(row, name);
    auto v = ParseNumber(text);
    if (!v) {
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: column '{}': '{}' is not a number", path_, line, name, text));
    }
    return *v;
  }

 private:
  std::string path_;
  std::map<std::string, size_t> index_;
};

// Largest node size (accelerators per node) per accelerator type, in fleet order.
std::vector<std::pair<std::string, int>> FleetShapes(const FleetModel& fleet) {
  std::vector<std::pair<std::string, int>> shapes;
  for (const auto& pool : fleet.pools) {
    auto it = std::find_if(shapes.begin(), shapes.end(),
                           [&](const auto& s) { return s.first == pool.accelerator; });
    if (it == shapes.end()) {
      shapes.emplace_back(pool.accelerator, pool.accelerators_per_node);
    } else {
      it->second = std::max(it->second, pool.accelerators_per_node);
    }
  }
  return shapes;
}

scheduler::Needs AnyAccelerator(const std::vector<std::pair<std::string, int>>& shapes,
                                int64_t accelerators) {
  scheduler::Needs out;
  for (const auto& [name, per_node] : shapes) out.push_back(ShapeFor(name, accelerators, per_node));
  return out;
}

void SortJobs(Workload& w) {
  std::stable_sort(w.jobs.begin(), w.jobs.end(), [](const TraceJob& a, const TraceJob& b) {
    return a.submit_s != b.submit_s ? a.submit_s < b.submit_s : a.id < b.id;
  });
}

absl::StatusOr<Workload> ReadPhilly(const std::string& path, const FleetModel& fleet) {
  Workload w{path, "philly", {}, {}, {}};
  const auto shapes = FleetShapes(fleet);
  Columns cols;
  absl::Status st =
      CsvReader::Read(path, [&](int64_t line, const std::vector<std::string>& row) -> absl::Status {
        if (line == 1)
          return cols.Header(path, row, {"job_id", "user", "num_gpu", "submit_time", "duration"});
        ASSIGN_OR_RETURN(const double id, cols.Number(row, line, "job_id"));
        ASSIGN_OR_RETURN(const double gpus, cols.Number(row, line, "num_gpu"));
        ASSIGN_OR_RETURN(const double submit, cols.Number(row, line, "submit_time"));
        ASSIGN_OR_RETURN(const double duration, cols.Number(row, line, "duration"));
        if (gpus <= 0) {
          ++w.skipped["no GPU requested"];
          return absl::OkStatus();
        }
        TraceJob j;
        j.id = static_cast<int64_t>(id);
        j.submit_s = static_cast<int64_t>(submit);
        j.duration_s = std::max<int64_t>(1, static_cast<int64_t>(duration));
        j.team = std::string(cols.Get(row, "user"));
        // best_effort jobs (a Chronus label) may be preempted by the others.
        const bool best_effort = cols.Get(row, "best_effort") == "1";
        j.preemptible = best_effort;
        j.priority = best_effort ? 0 : 1;
        j.alternatives = AnyAccelerator(shapes, static_cast<int64_t>(gpus));
        w.jobs.push_back(std::move(j));
        return absl::OkStatus();
      });
  RETURN_IF_ERROR(st);
  SortJobs(w);
  return w;
}

absl::StatusOr<Workload> ReadOpenb(const std::string& path, const FleetModel& fleet) {
  Workload w{path, "alibaba-openb", {}, {}, {}};
  const auto shapes = FleetShapes(fleet);
  Columns cols;
  int64_t next_id = 0;
  absl::Status st =
      CsvReader::Read(path, [&](int64_t line, const std::vector<std::string>& row) -> absl::Status {
        if (line == 1) {
          return cols.Header(path, row,
                             {"name", "num_gpu", "gpu_milli", "gpu_spec", "creation_time",
                              "deletion_time", "scheduled_time"});
        }
        ++next_id;
        ASSIGN_OR_RETURN(const double gpus, cols.Number(row, line, "num_gpu"));
        if (gpus <= 0) {
          ++w.skipped["CPU-only pod (num_gpu 0)"];
          return absl::OkStatus();
        }
        if (cols.Get(row, "scheduled_time").empty()) {
          ++w.skipped["never scheduled in the trace (no run time to replay)"];
          return absl::OkStatus();
        }
        ASSIGN_OR_RETURN(const double created, cols.Number(row, line, "creation_time"));
        ASSIGN_OR_RETURN(const double scheduled, cols.Number(row, line, "scheduled_time"));
        ASSIGN_OR_RETURN(const double deleted, cols.Number(row, line, "deletion_time"));
        ASSIGN_OR_RETURN(const double milli, cols.Number(row, line, "gpu_milli"));
        TraceJob j;
        j.id = next_id;
        j.submit_s = static_cast<int64_t>(created);
        j.duration_s = std::max<int64_t>(1, static_cast<int64_t>(deleted - scheduled));
        j.recorded_queue_delay_s = static_cast<int64_t>(scheduled - created);
        const std::string_view qos = cols.Get(row, "qos");
        j.team = qos.empty() ? "default" : std::string(qos);
        if (milli > 0 && milli < 1000)
          ++w.adjusted["GPU share below one GPU rounded up to a whole GPU"];
        const std::string_view spec = cols.Get(row, "gpu_spec");
        if (spec.empty()) {
          // A pod runs on one node: only types whose nodes hold all its GPUs.
          for (const Need& need : AnyAccelerator(shapes, static_cast<int64_t>(gpus))) {
            if (need.nodes == 1) j.alternatives.push_back(need);
          }
          if (j.alternatives.empty()) {
            ++w.skipped["needs more GPUs than any node has"];
            return absl::OkStatus();
          }
        } else {
          std::stringstream models{std::string(spec)};
          std::string model;
          while (std::getline(models, model, '|')) {
            for (const auto& [name, per_node] : shapes) {
              const Need need = ShapeFor(name, static_cast<int64_t>(gpus), per_node);
              if (name == model && need.nodes == 1) j.alternatives.push_back(need);
            }
          }
          if (j.alternatives.empty()) {
            ++w.skipped
                  ["asks for GPU models whose nodes the fleet does not have (or that are too "
                   "small)"];
            return absl::OkStatus();
          }
        }
        w.jobs.push_back(std::move(j));
        return absl::OkStatus();
      });
  RETURN_IF_ERROR(st);
  SortJobs(w);
  return w;
}

// awan's own CSV: see docs/simulator.md.
absl::StatusOr<Workload> ReadAwanCsv(const std::string& path, const FleetModel& fleet) {
  Workload w{path, "awan", {}, {}, {}};
  const auto shapes = FleetShapes(fleet);
  Columns cols;
  absl::Status st =
      CsvReader::Read(path, [&](int64_t line, const std::vector<std::string>& row) -> absl::Status {
        if (line == 1)
          return cols.Header(path, row, {"id", "submit_s", "duration_s", "accelerators"});
        ASSIGN_OR_RETURN(const double id, cols.Number(row, line, "id"));
        ASSIGN_OR_RETURN(const double submit, cols.Number(row, line, "submit_s"));
        ASSIGN_OR_RETURN(const double duration, cols.Number(row, line, "duration_s"));
        ASSIGN_OR_RETURN(const double accelerators, cols.Number(row, line, "accelerators"));
        if (accelerators < 1 || duration < 0 || submit < 0) {
          return absl::InvalidArgumentError(fmt::format(
              "{}:{}: accelerators must be at least 1, submit_s and duration_s not negative", path,
              line));
        }
        TraceJob j;
        j.id = static_cast<int64_t>(id);
        j.submit_s = static_cast<int64_t>(submit);
        j.duration_s = std::max<int64_t>(1, static_cast<int64_t>(duration));
        const auto optional_number =
            [&](const std::string& name) -> absl::StatusOr<std::optional<double>> {
          if (!cols.Has(name) || cols.Get(row, name).empty()) return std::optional<double>();
          ASSIGN_OR_RETURN(auto v, cols.Number(row, line, name));
          return std::optional<double>(v);
        };
        for (const char* name : {"estimate_s", "priority", "checkpoint_s"}) {
          ASSIGN_OR_RETURN(auto v, optional_number(name));
          if (!v) continue;
          if (std::string_view(name) == "estimate_s") j.estimate_s = static_cast<int64_t>(*v);
          if (std::string_view(name) == "priority") j.priority = static_cast<int>(*v);
          if (std::string_view(name) == "checkpoint_s") j.checkpoint_s = static_cast<int64_t>(*v);
        }
        if (cols.Has("team") && !cols.Get(row, "team").empty())
          j.team = std::string(cols.Get(row, "team"));
        const std::string preemptible = ToLower(cols.Get(row, "preemptible"));
        if (!preemptible.empty() && preemptible != "0" && preemptible != "false" &&
            preemptible != "1" && preemptible != "true") {
          return absl::InvalidArgumentError(fmt::format(
              "{}:{}: column 'preemptible': '{}' is not true/false/1/0", path, line, preemptible));
        }
        j.preemptible = preemptible == "1" || preemptible == "true";
        const std::string_view types = cols.Get(row, "accelerator");
        if (types.empty() || types == "any") {
          j.alternatives = AnyAccelerator(shapes, static_cast<int64_t>(accelerators));
        } else {
          std::stringstream list{std::string(types)};
          std::string type;
          while (std::getline(list, type, '|')) {
            auto it = std::find_if(shapes.begin(), shapes.end(),
                                   [&](const auto& s) { return s.first == type; });
            if (it == shapes.end()) {
              std::vector<std::string> names;
              for (const auto& s : shapes) names.push_back(s.first);
              return absl::InvalidArgumentError(
                  fmt::format("{}:{}: column 'accelerator': the fleet has no '{}'{}; it has: {}",
                              path, line, type, DidYouMean(type, names), fmt::join(names, ", ")));
            }
            j.alternatives.push_back(
                ShapeFor(type, static_cast<int64_t>(accelerators), it->second));
          }
        }
        w.jobs.push_back(std::move(j));
        return absl::OkStatus();
      });
  RETURN_IF_ERROR(st);
  SortJobs(w);
  return w;
}

}  // namespace

Need ShapeFor(const std::string& accelerator, int64_t accelerators, int per_node) {
  per_node = std::max(per_node, 1);
  if (accelerators <= per_node) return {accelerator, 1, static_cast<int>(accelerators)};
  return {accelerator, static_cast<int>((accelerators + per_node - 1) / per_node), per_node};
}

std::vector<std::string> TraceFormats() { return {"philly", "alibaba-openb", "awan"}; }

absl::StatusOr<Workload> ReadTrace(const std::string& path, const std::string& format,
                                   const FleetModel& fleet) {
  if (format == "philly") return ReadPhilly(path, fleet);
  if (format == "alibaba-openb") return ReadOpenb(path, fleet);
  if (format == "awan") return ReadAwanCsv(path, fleet);
  const auto formats = TraceFormats();
  return absl::InvalidArgumentError(
      fmt::format("--format '{}' is not a trace format{}; use one of: {}", format,
                  DidYouMean(format, formats), fmt::join(formats, ", ")));
}

absl::StatusOr<FleetModel> FleetFromOpenbNodes(const std::string& path) {
  FleetModel fleet;
  fleet.name = "openb-nodes";
  fleet.source = path;
  Columns cols;
  std::map<std::pair<std::string, int>, int> nodes;  // (model, GPUs per node) → nodes
  absl::Status st =
      CsvReader::Read(path, [&](int64_t line, const std::vector<std::string>& row) -> absl::Status {
        if (line == 1) return cols.Header(path, row, {"sn", "gpu", "model"});
        ASSIGN_OR_RETURN(const double gpus, cols.Number(row, line, "gpu"));
        if (gpus <= 0) return absl::OkStatus();
        std::string model(cols.Get(row, "model"));
        if (model.empty()) model = "GPU";
        ++nodes[{model, static_cast<int>(gpus)}];
        return absl::OkStatus();
      });
  RETURN_IF_ERROR(st);
  if (nodes.empty()) return absl::InvalidArgumentError(fmt::format("{}: no node with GPUs", path));
  for (const auto& [shape, count] : nodes) {
    scheduler::Pool pool;
    pool.name = fmt::format("openb-{}-{}gpu", shape.first, shape.second);
    pool.provider = "openb";
    pool.region = "openb";
    pool.domain = pool.name;
    pool.accelerator = shape.first;
    pool.accelerators_per_node = shape.second;
    pool.nodes = count;
    fleet.pools.push_back(pool);
  }
  return fleet;
}

std::vector<std::string> SyntheticPresetNames() {
  return {"helios", "acme-seren", "acme-kalos", "philly"};
}

std::optional<SyntheticOptions> SyntheticPreset(const std::string& name) {
  SyntheticOptions o;
  // Medians and means of GPU-job run time from ../shared/data/gpu_job_traces/{helios,acme}
  // summaries; the size mixes are chosen so their mean is near the summary's mean GPUs per job.
  if (name == "helios") return o;  // the defaults
  if (name == "acme-seren") {
    o.duration_median_s = 122;
    o.duration_mean_s = 1414;
    o.size_mix = {{1, 0.70},   {2, 0.06},   {4, 0.06},    {8, 0.12},    {16, 0.03},
                  {32, 0.015}, {64, 0.015}, {128, 0.006}, {256, 0.001}, {512, 0.001}};
    return o;
  }
  if (name == "acme-kalos") {
    o.duration_median_s = 124;
    o.duration_mean_s = 1260;
    o.size_mix = {{1, 0.55},  {8, 0.15},   {16, 0.10},  {32, 0.10},
                  {64, 0.06}, {128, 0.03}, {256, 0.01}, {512, 0.01}};
    return o;
  }
  if (name == "philly") {
    o.duration_median_s = 874;
    o.duration_mean_s = 18006;
    o.size_mix = {{1, 0.75}, {2, 0.10}, {4, 0.10}, {8, 0.04}, {16, 0.007}, {32, 0.003}};
    return o;
  }
  return std::nullopt;
}

absl::StatusOr<std::map<int, double>> ParseSizeMix(const std::string& text) {
  std::map<int, double> mix;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const size_t colon = item.find(':');
    auto size = ParseNumber(item.substr(0, colon));
    auto weight = colon == std::string::npos ? std::nullopt : ParseNumber(item.substr(colon + 1));
    if (!size || !weight || *size < 1 || *weight < 0 || *size != std::floor(*size)) {
      return absl::InvalidArgumentError(fmt::format(
          "--size-mix: '{}' is not ACCELERATORS:WEIGHT (e.g. --size-mix 1:0.7,8:0.2,64:0.1)",
          item));
    }
    mix[static_cast<int>(*size)] += *weight;
  }
  double total = 0;
  for (const auto& [size, weight] : mix) total += weight;
  if (mix.empty() || total <= 0)
    return absl::InvalidArgumentError("--size-mix: give at least one positive weight");
  return mix;
}

Workload GenerateSynthetic(const SyntheticOptions& o, const FleetModel& fleet) {
  Workload w{"synthetic", "synthetic", {}, {}, {}};
  std::mt19937_64 rng(o.seed);
  const auto shapes = FleetShapes(fleet);
  // Accelerator types weighted by how many the fleet has of each.
  std::vector<double> type_weight;
  for (const auto& [name, per_node] : shapes) {
    int64_t n = 0;
    for (const auto& pool : fleet.pools) n += pool.accelerator == name ? pool.accelerators() : 0;
    type_weight.push_back(static_cast<double>(n));
  }
  std::vector<int> sizes;
  std::vector<double> weights;
  double total_weight = 0, mean_size = 0;
  for (const auto& [size, weight] : o.size_mix) {
    sizes.push_back(size);
    weights.push_back(weight);
    total_weight += weight;
    mean_size += size * weight;
  }
  mean_size /= total_weight;
  // Log-normal: median = e^mu, mean = e^(mu + sigma^2/2).
  const double mu = std::log(std::max(1.0, o.duration_median_s));
  const double sigma =
      std::sqrt(2 * std::max(0.0, std::log(std::max(o.duration_mean_s, o.duration_median_s) /
                                           std::max(1.0, o.duration_median_s))));
  double rate = o.arrivals_per_hour / 3600;  // per second
  if (rate <= 0) {
    // Mean of the capped log-normal: E[min(X, c)].
    const auto phi = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
    const double c = std::log(o.duration_max_s);
    const double mean_run =
        sigma > 0 ? std::exp(mu + sigma * sigma / 2) * phi((c - mu - sigma * sigma) / sigma) +
                        o.duration_max_s * (1 - phi((c - mu) / sigma))
                  : std::min(std::exp(mu), o.duration_max_s);
    const double work = mean_size * mean_run;  // accelerator-seconds per job
    rate = o.load * static_cast<double>(fleet.TotalAccelerators()) / std::max(1.0, work);
  }
  std::exponential_distribution<double> gap(rate);
  std::discrete_distribution<size_t> pick_size(weights.begin(), weights.end());
  std::discrete_distribution<size_t> pick_type(type_weight.begin(), type_weight.end());
  std::lognormal_distribution<double> run(mu, sigma);
  std::uniform_real_distribution<double> unit(0, 1);
  std::vector<double> team_weight;
  for (const auto& t : fleet.teams) team_weight.push_back(t.weight);
  std::discrete_distribution<size_t> pick_team(team_weight.begin(), team_weight.end());
  double t = 0;
  w.jobs.reserve(static_cast<size_t>(o.jobs));
  for (int64_t i = 1; i <= o.jobs; ++i) {
    t += gap(rng);
    TraceJob j;
    j.id = i;
    j.submit_s = static_cast<int64_t>(t);
    j.duration_s = std::max<int64_t>(1, static_cast<int64_t>(std::min(run(rng), o.duration_max_s)));
    const int size = sizes[pick_size(rng)];
    const auto& [type, per_node] = shapes[pick_type(rng)];
    j.alternatives = {ShapeFor(type, size, per_node)};
    j.team = fleet.teams.empty() ? "default" : fleet.teams[pick_team(rng)].name;
    j.preemptible = unit(rng) < o.preemptible_fraction;
    j.priority = j.preemptible ? 0 : 1 + static_cast<int>(rng() % 3);
    w.jobs.push_back(std::move(j));
  }
  return w;
}

}  // namespace awan::simulator

// Filters → score → pick (as in Ray's scheduling policies). The fast path walks only the offerings
// with the requested accelerator (the catalog's index) and compares interned symbols; when nothing
// is feasible, a slower explain pass applies the same constraints one at a time over the whole
// catalog to name the one that removed the last candidates, with hints of what is available
// instead.
#include "awan/optimizer/optimizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "awan/catalog/accelerators.h"
#include "awan/common/status_macros.h"
#include "awan/common/text.h"
#include "awan/spec/task_parser.h"

namespace awan::optimizer {
namespace {

using catalog::Catalog;
using catalog::kNoSymbol;

// Whether an offering gives what a task asks for: exactly (or at least) that much, or — on a
// machine shared out by CPUs and memory — no more than it has.
// network_tier: best (a TPU slice's network_gbps in the built-in catalog is its ICI).
bool HighBandwidth(const catalog::Offering& o) {
  return o.network_gbps >= catalog::kHighBandwidthGbps;
}

bool Fits(const spec::Quantity& q, const catalog::Offering& o, double offered) {
  return o.divisible ? q.value <= offered : q.Admits(offered);
}
using catalog::Offering;
using catalog::Symbol;

// A symbol that matches nothing in the catalog (the user named something the catalog lacks).
constexpr Symbol kMissing = ~Symbol{0};

struct ResolvedBlock {
  Symbol provider = kNoSymbol, region = kNoSymbol, zone = kNoSymbol;  // kNoSymbol = any
};

// One resource alternative with its strings resolved to catalog symbols.
struct Resolved {
  const spec::Resources* r = nullptr;
  Symbol provider = kNoSymbol, region = kNoSymbol, zone = kNoSymbol, instance_type = kNoSymbol;
  Symbol accelerator = kNoSymbol;
  std::optional<double> flops;
};

Symbol Resolve(const Catalog& c, const std::string& name) {
  if (name.empty()) return kNoSymbol;
  return c.Find(name).value_or(kMissing);
}

// Shared state of one Optimize call.
class Ranker {
 public:
  Ranker(const spec::Task& task, const Catalog& catalog, const OptimizeOptions& options)
      : task_(task), catalog_(catalog), options_(options) {}

  absl::Status Prepare() {
    for (const std::string& p : options_.providers) {
      if (!catalog_.HasProvider(p)) {
        std::vector<std::string> known;
        for (const auto& info : catalog_.providers()) known.push_back(info.name);
        return absl::InvalidArgumentError(
            fmt::format("unknown provider '{}' in --providers{}; the catalog has: {}", p,
                        DidYouMean(p, known), JoinLimited(known, known.size())));
      }
      enabled_.push_back(*catalog_.Find(p));
    }
    for (const BlockRule& b : options_.blocklist) {
      ResolvedBlock rb{Resolve(catalog_, b.provider), Resolve(catalog_, b.region),
                       Resolve(catalog_, b.zone)};
      if (rb.provider == kMissing || rb.region == kMissing || rb.zone == kMissing) continue;
      blocks_.push_back(rb);
    }
    for (const spec::Resources& r : task_.resources) {
      Resolved x;
      x.r = &r;
      x.provider = Resolve(catalog_, r.provider);
      x.region = Resolve(catalog_, r.region);
      x.zone = Resolve(catalog_, r.zone);
      x.instance_type = Resolve(catalog_, r.instance_type);
      if (!r.accelerator.empty()) {
        x.accelerator = catalog_.FindAccelerator(r.accelerator).value_or(kMissing);
      }
      x.flops = options_.flops ? options_.flops : r.accelerator_flops;
      if (options_.objective == Objective::kTime && !x.flops) {
        return absl::InvalidArgumentError(
            "objective 'time' needs the job's total work: set resources.accelerator_flops in the "
            "task (e.g. 3.1e21) or pass --flops");
      }
      if (x.flops && !(options_.mfu > 0 && options_.mfu <= 1)) {
        return absl::InvalidArgumentError("--mfu must be in (0, 1]");
      }
      alternatives_.push_back(x);
    }
    return absl::OkStatus();
  }

  OptimizeResult Run() {
    OptimizeResult result;
    for (size_t a = 0; a < alternatives_.size(); ++a) {
      const Resolved& x = alternatives_[a];
      if (x.accelerator == kMissing) continue;
      if (x.accelerator != kNoSymbol || x.instance_type == kNoSymbol) {
        // Offerings with this accelerator, or the CPU-only ones for a task that names none.
        for (uint32_t i : catalog_.WithAccelerator(x.accelerator)) Consider(a, i, result);
      } else {
        // An instance type without accelerators: any offering of that type.
        for (uint32_t i = 0; i < catalog_.size(); ++i) Consider(a, i, result);
      }
    }
    result.feasible = scored_.size();
    const bool ordered = task_.order == spec::ResourceOrder::kOrdered;
    auto better = [ordered](const Scored& l, const Scored& r) {
      if (ordered && l.alternative != r.alternative) return l.alternative < r.alternative;
      if (l.score != r.score) return l.score < r.score;
      if (l.cost != r.cost) return l.cost < r.cost;
      if (l.alternative != r.alternative) return l.alternative < r.alternative;
      return l.offering < r.offering;
    };
    const size_t n = options_.top == 0 ? scored_.size() : std::min(options_.top, scored_.size());
    std::partial_sort(scored_.begin(), scored_.begin() + static_cast<std::ptrdiff_t>(n),
                      scored_.end(), better);
    for (size_t k = 0; k < n; ++k) result.candidates.push_back(Materialize(scored_[k]));
    if (result.feasible == 0) result.infeasible_reason = Explain();
    return result;
  }

 private:
  struct Scored {
    double score;
    double cost;
    uint32_t offering;
    uint32_t alternative;
    double hours;  // < 0 when unknown
  };

  bool Enabled(Symbol provider) const {
    return enabled_.empty() ||
           std::find(enabled_.begin(), enabled_.end(), provider) != enabled_.end();
  }
  bool Blocked(const Offering& o) const {
    for (const ResolvedBlock& b : blocks_) {
      if ((b.provider == kNoSymbol || b.provider == o.provider) &&
          (b.region == kNoSymbol || b.region == o.region) &&
          (b.zone == kNoSymbol || b.zone == o.zone)) {
        return true;
      }
    }
    return false;
  }
  static bool Matches(Symbol wanted, Symbol offered) {
    return wanted == kNoSymbol || wanted == offered;
  }
  double Price(const Resolved& x, const Offering& o) const {
    return x.r->use_spot ? o.spot_price : o.price;
  }
  // TFLOP/s of one node, or 0 when unknown. Cached per accelerator symbol.
  double NodeTflops(const Offering& o) {
    if (o.accelerator == kNoSymbol) return 0;
    auto [it, inserted] = tflops_.try_emplace(o.accelerator, 0.0);
    if (inserted) {
      if (auto unit = catalog::LookupAccelerator(catalog_.Name(o.accelerator)))
        it->second = unit->tflops();
    }
    return it->second * o.accelerator_count;
  }
  double Hours(const Resolved& x, const Offering& o) {
    const double tflops = NodeTflops(o);
    if (!x.flops || tflops <= 0) return -1;
    return *x.flops / (tflops * 1e12 * task_.num_nodes * options_.mfu) / 3600.0;
  }

  void Consider(size_t a, uint32_t i, OptimizeResult& result) {
    const Resolved& x = alternatives_[a];
    const spec::Resources& r = *x.r;
    const Offering& o = catalog_.offerings()[i];
    ++result.considered;
    if (!Enabled(o.provider) || !Matches(x.provider, o.provider) || !Matches(x.region, o.region) ||
        !Matches(x.zone, o.zone) || !Matches(x.instance_type, o.instance_type)) {
      return;
    }
    if (x.accelerator != kNoSymbol && o.accelerator_count != r.accelerator_count) return;
    if (r.network_tier == "best" && !HighBandwidth(o)) return;
    if (r.cpus && !Fits(*r.cpus, o, o.vcpus)) return;
    if (r.memory_gib && !Fits(*r.memory_gib, o, o.memory_gib)) return;
    const double price = Price(x, o);
    if (price <= 0) return;
    const double cost = price * task_.num_nodes;
    if (r.max_hourly_cost && cost > *r.max_hourly_cost) return;
    if (!blocks_.empty() && Blocked(o)) return;
    const double hours = Hours(x, o);
    double score = cost;
    if (options_.objective == Objective::kTime) {
      if (hours < 0) return;
      score = hours;
    }
    scored_.push_back({score, cost, i, static_cast<uint32_t>(a), hours});
  }

  Placement Materialize(const Scored& s) const {
    const Offering& o = catalog_.offerings()[s.offering];
    const Resolved& x = alternatives_[s.alternative];
    Placement p;
    p.provider = catalog_.Name(o.provider);
    p.region = catalog_.Name(o.region);
    p.zone = catalog_.Name(o.zone);
    p.instance_type = catalog_.Name(o.instance_type);
    p.accelerator = catalog_.Name(o.accelerator);
    p.accelerator_count = o.accelerator_count;
    p.num_nodes = task_.num_nodes;
    p.spot = x.r->use_spot;
    p.hourly_cost = s.cost;
    p.vcpus = o.vcpus;
    p.memory_gib = o.memory_gib;
    p.alternative = s.alternative;
    if (s.hours >= 0) p.estimated_hours = s.hours;
    p.offering = s.offering;
    return p;
  }

  // ---- Explaining an infeasible task ----

  struct Stage {
    std::function<bool(const Offering&)> keep;
    std::function<std::string(const std::vector<uint32_t>& before)> why;
  };

  std::vector<std::string> Distinct(const std::vector<uint32_t>& ids,
                                    const std::function<std::string(const Offering&)>& f) const {
    std::set<std::string> s;
    for (uint32_t i : ids) {
      std::string v = f(catalog_.offerings()[i]);
      if (!v.empty()) s.insert(std::move(v));
    }
    return {s.begin(), s.end()};
  }

  std::string ExplainAlternative(const Resolved& x) {
    const spec::Resources& r = *x.r;
    const Catalog& c = catalog_;
    auto name = [&](Symbol s) { return std::string(c.Name(s)); };
    const std::string acc_label = spec::AcceleratorLabel(r);
    std::vector<Stage> stages;
    stages.push_back({[&](const Offering& o) { return Enabled(o.provider); },
                      [&](const std::vector<uint32_t>&) {
                        return fmt::format("no offering from the enabled providers ({})",
                                           JoinLimited(options_.providers, 10));
                      }});
    stages.push_back({[&](const Offering& o) { return !Blocked(o); },
                      [&](const std::vector<uint32_t>&) {
                        return std::string("every remaining offering is blocked by the blocklist");
                      }});
    if (x.accelerator != kNoSymbol || x.instance_type == kNoSymbol) {
      stages.push_back(
          {[&](const Offering& o) { return o.accelerator == x.accelerator; },
           [&](const std::vector<uint32_t>& before) {
             if (r.accelerator.empty()) {
               return std::string("no CPU-only offering (name an accelerator or an instance_type)");
             }
             std::vector<std::string> names =
                 Distinct(before, [&](const Offering& o) { return name(o.accelerator); });
             return fmt::format("no offering has accelerator '{}'{}; available: {}", r.accelerator,
                                DidYouMean(r.accelerator, names), JoinLimited(names, 25));
           }});
    }
    if (x.accelerator != kNoSymbol) {
      stages.push_back(
          {[&](const Offering& o) { return o.accelerator_count == r.accelerator_count; },
           [&](const std::vector<uint32_t>& before) {
             std::set<int> counts;
             for (uint32_t i : before) counts.insert(c.offerings()[i].accelerator_count);
             std::vector<std::string> list;
             for (int n : counts) list.push_back(std::to_string(n));
             return fmt::format(
                 "no instance has exactly {} {} per node (an accelerator count matches instances "
                 "with exactly that many); {} comes in {} per node",
                 r.accelerator_count, name(x.accelerator), name(x.accelerator),
                 JoinLimited(list, 20));
           }});
    }
    auto symbol_stage = [&](Symbol want, const std::string& wanted_text, const char* what,
                            std::function<Symbol(const Offering&)> field) {
      if (wanted_text.empty()) return;
      stages.push_back({[want, field](const Offering& o) { return field(o) == want; },
                        [&, wanted_text, what, field](const std::vector<uint32_t>& before) {
                          std::vector<std::string> values =
                              Distinct(before, [&](const Offering& o) { return name(field(o)); });
                          return fmt::format("no {} offering in {} '{}'{}; {}s that have one: {}",
                                             acc_label == "-" ? "matching" : acc_label, what,
                                             wanted_text, DidYouMean(wanted_text, values), what,
                                             JoinLimited(values, 15));
                        }});
    };
    symbol_stage(x.instance_type, r.instance_type, "instance type",
                 [](const Offering& o) { return o.instance_type; });
    symbol_stage(x.provider, r.provider, "provider", [](const Offering& o) { return o.provider; });
    symbol_stage(x.region, r.region, "region", [](const Offering& o) { return o.region; });
    symbol_stage(x.zone, r.zone, "zone", [](const Offering& o) { return o.zone; });
    auto quantity_stage = [&](const std::optional<spec::Quantity>& q, const char* what,
                              std::function<double(const Offering&)> field) {
      if (!q) return;
      stages.push_back({[q, field](const Offering& o) { return Fits(*q, o, field(o)); },
                        [&, q, what, field](const std::vector<uint32_t>& before) {
                          std::set<double> values;
                          for (uint32_t i : before) values.insert(field(c.offerings()[i]));
                          std::vector<std::string> list;
                          for (double v : values) list.push_back(fmt::format("{:g}", v));
                          return fmt::format("no offering left has {}{} {}; they have {}",
                                             q->at_least ? "at least " : "exactly ", q->value, what,
                                             JoinLimited(list, 15));
                        }});
    };
    if (r.network_tier == "best") {
      stages.push_back(
          {[&](const Offering& o) { return HighBandwidth(o); },
           [&](const std::vector<uint32_t>& before) {
             return fmt::format(
                 "network_tier: best: none of the {} matching offerings has a high-bandwidth "
                 "interconnect ({}+ Gbit/s InfiniBand, EFA, RoCE or GPUDirect; the catalog's "
                 "network_gbps)",
                 before.size(), catalog::kHighBandwidthGbps);
           }});
    }
    quantity_stage(r.cpus, "vCPUs", [](const Offering& o) { return o.vcpus; });
    quantity_stage(r.memory_gib, "GiB of memory", [](const Offering& o) { return o.memory_gib; });
    stages.push_back({[&](const Offering& o) { return Price(x, o) > 0; },
                      [&](const std::vector<uint32_t>& before) {
                        return r.use_spot
                                   ? fmt::format(
                                         "none of the {} matching offerings has a spot price "
                                         "(remove use_spot to use on-demand)",
                                         before.size())
                                   : fmt::format(
                                         "none of the {} matching offerings is sold on "
                                         "demand (its price is 0 or empty)",
                                         before.size());
                      }});
    if (r.max_hourly_cost) {
      stages.push_back(
          {[&](const Offering& o) { return Price(x, o) * task_.num_nodes <= *r.max_hourly_cost; },
           [&](const std::vector<uint32_t>& before) {
             double cheapest = 0;
             for (uint32_t i : before) {
               double cost = Price(x, c.offerings()[i]) * task_.num_nodes;
               if (cheapest == 0 || cost < cheapest) cheapest = cost;
             }
             return fmt::format(
                 "the cheapest match costs ${}/h for {} node(s), above "
                 "max_hourly_cost ${}/h",
                 FormatUsd(cheapest), task_.num_nodes, FormatUsd(*r.max_hourly_cost));
           }});
    }
    if (options_.objective == Objective::kTime) {
      stages.push_back({[&](const Offering& o) { return Hours(x, o) >= 0; },
                        [&](const std::vector<uint32_t>& before) {
                          std::vector<std::string> names = Distinct(
                              before, [&](const Offering& o) { return name(o.accelerator); });
                          return fmt::format(
                              "no TFLOP/s figure is known for {} (see `awan catalog "
                              "accelerators`); use --objective cost",
                              names.empty() ? "CPU-only offerings" : JoinLimited(names, 10));
                        }});
    }

    std::vector<uint32_t> alive(c.size());
    for (uint32_t i = 0; i < alive.size(); ++i) alive[i] = i;
    if (alive.empty()) return "the catalog is empty";
    for (const Stage& stage : stages) {
      std::vector<uint32_t> next;
      for (uint32_t i : alive) {
        if (stage.keep(c.offerings()[i])) next.push_back(i);
      }
      if (next.empty()) return stage.why(alive);
      alive = std::move(next);
    }
    return "no feasible placement";  // unreachable when the fast path agrees with the stages
  }

  std::string Explain() {
    std::string out;
    for (size_t a = 0; a < alternatives_.size(); ++a) {
      const spec::Resources& r = *alternatives_[a].r;
      std::string reason = ExplainAlternative(alternatives_[a]);
      if (alternatives_.size() == 1) return reason;
      out += fmt::format("{}  - {} (line {}): {}", out.empty() ? "" : "\n",
                         spec::AcceleratorLabel(r), r.line, reason);
    }
    return "no alternative is feasible:\n" + out;
  }

  const spec::Task& task_;
  const Catalog& catalog_;
  const OptimizeOptions& options_;
  std::vector<Symbol> enabled_;
  std::vector<ResolvedBlock> blocks_;
  std::vector<Resolved> alternatives_;
  std::vector<Scored> scored_;
  absl::flat_hash_map<Symbol, double> tflops_;
};

}  // namespace

std::string_view ObjectiveName(Objective objective) {
  return objective == Objective::kTime ? "time" : "cost";
}

absl::StatusOr<BlockRule> ParseBlockRule(std::string_view text) {
  BlockRule rule;
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= text.size()) {
    size_t slash = text.find('/', start);
    if (slash == std::string_view::npos) slash = text.size();
    parts.emplace_back(text.substr(start, slash - start));
    start = slash + 1;
  }
  if (parts.empty() || parts.size() > 3 ||
      std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
    return absl::InvalidArgumentError(fmt::format(
        "--block '{}': expected PROVIDER, PROVIDER/REGION or PROVIDER/REGION/ZONE", text));
  }
  rule.provider = parts[0] == "*" ? "" : parts[0];
  if (parts.size() > 1) rule.region = parts[1];
  if (parts.size() > 2) rule.zone = parts[2];
  return rule;
}

absl::StatusOr<OptimizeResult> Optimize(const spec::Task& task, const catalog::Catalog& catalog,
                                        const OptimizeOptions& options) {
  Ranker ranker(task, catalog, options);
  RETURN_IF_ERROR(ranker.Prepare());
  return ranker.Run();
}

}  // namespace awan::optimizer

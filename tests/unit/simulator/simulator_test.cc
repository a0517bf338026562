#include "awan/simulator/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>

#include "awan/simulator/report.h"

namespace awan::simulator {
namespace {

namespace fs = std::filesystem;
using scheduler::FleetModel;
using ::testing::HasSubstr;

FleetModel Fleet(const std::string& yaml) {
  auto f = scheduler::ParseFleetModel(yaml, "fleet.yaml");
  EXPECT_TRUE(f.ok()) << f.status();
  return *f;
}

// One pool of `nodes` 8-GPU nodes at provider p.
FleetModel OnePool(int nodes, const std::string& extra = "") {
  return Fleet(
      "start: 2026-01-01\npools:\n  - {name: a, provider: p, region: r1, domain: a, accelerator: "
      "H100, "
      "accelerators_per_node: 8, nodes: " +
      std::to_string(nodes) + "}\n" + extra);
}

TraceJob Job(int64_t id, int64_t submit, int64_t duration, int accelerators, int priority = 0,
             bool preemptible = false) {
  TraceJob j;
  j.id = id;
  j.submit_s = submit;
  j.duration_s = duration;
  j.priority = priority;
  j.preemptible = preemptible;
  j.alternatives = {ShapeFor("H100", accelerators, 8)};
  return j;
}

Workload Jobs(std::vector<TraceJob> jobs) {
  Workload w{"test", "awan", std::move(jobs), {}, {}};
  return w;
}

SimResult Sim(const FleetModel& f, const Workload& w, const Scenario& s = {},
              const std::string& policy = "fifo", const PriceBook& prices = {}) {
  SimOptions o;
  o.policy = policy;
  return Simulate(f, w, s, prices, o);
}

std::string WithoutWall(std::string json) {
  return std::regex_replace(json, std::regex("\"wall_s\": [0-9.e+-]+"), "");
}

TEST(SimulatorTest, FifoTimelineIsExact) {
  // One 8-GPU node: A runs 0-100, B (submitted at 10) waits for it and runs 100-150.
  const FleetModel f = OnePool(1);
  const SimResult r = Sim(f, Jobs({Job(1, 0, 100, 8), Job(2, 10, 50, 8)}));
  EXPECT_EQ(r.submitted, 2);
  EXPECT_EQ(r.completed, 2);
  EXPECT_EQ(r.end_s, 150);
  EXPECT_DOUBLE_EQ(r.queue_delay_s.mean, 45);  // (0 + 90) / 2
  EXPECT_DOUBLE_EQ(r.queue_delay_s.p99, 90);
  EXPECT_DOUBLE_EQ(r.jct_s.mean, 120);   // (100 + 140) / 2
  EXPECT_DOUBLE_EQ(r.utilization, 1.0);  // busy the whole span
  EXPECT_EQ(r.events, 6);                // 2 arrivals, 2 starts, 2 completions
}

TEST(SimulatorTest, UtilizationMatchesTheWorkDoneWhenNothingWaits) {
  const FleetModel f = OnePool(100);
  std::vector<TraceJob> jobs;
  double work = 0;
  for (int i = 0; i < 200; ++i) {
    jobs.push_back(Job(i, i * 10, 100 + i, 1 + i % 8));
    work += (100.0 + i) * (1 + i % 8);
  }
  const SimResult r = Sim(f, Jobs(jobs));
  EXPECT_EQ(r.completed, 200);
  EXPECT_DOUBLE_EQ(r.queue_delay_s.p99, 0);
  const double span = static_cast<double>(r.end_s - r.start_s);
  EXPECT_NEAR(r.utilization, work / (800.0 * span), 1e-12);
  EXPECT_NEAR(r.utilization_by_provider.at("p"), r.utilization, 1e-12);
}

TEST(SimulatorTest, RunsEndExactlyWhenTheirWorkIsDone) {
  // Random arrivals and run times on a fleet too big to queue: at every sample, the running jobs
  // are exactly those with submit <= t < submit + duration.
  const FleetModel f = OnePool(2000);
  std::mt19937_64 rng(9);
  std::vector<TraceJob> jobs;
  int64_t t = 0;
  for (int i = 0; i < 3000; ++i) {
    t += static_cast<int64_t>(rng() % 50);
    jobs.push_back(
        Job(i, t, 1 + static_cast<int64_t>(rng() % 20000), 1 + static_cast<int>(rng() % 8)));
  }
  SimOptions o;
  o.sample_s = 97;
  const SimResult r = Simulate(f, Jobs(jobs), {}, {}, o);
  ASSERT_GT(r.series.size(), 100u);
  for (const Sample& s : r.series) {
    size_t alive = 0;
    int64_t busy = 0;
    for (const TraceJob& j : jobs) {
      if (j.submit_s <= s.t_s && s.t_s < j.submit_s + j.duration_s) {
        ++alive;
        busy += j.alternatives[0].accelerators();
      }
    }
    ASSERT_EQ(s.running_jobs, alive) << "at t=" << s.t_s;
    ASSERT_EQ(s.busy_accelerators, busy) << "at t=" << s.t_s;
  }
  EXPECT_DOUBLE_EQ(r.queue_delay_s.p99, 0);
}

TEST(SimulatorTest, AnOutageRequeuesAndLosesTheWorkSinceTheLastCheckpoint) {
  // Two providers; the job runs on p (listed first). p goes down at t=250 for 100 s; with a
  // checkpoint every 100 s, 200 s of its 1000 are saved and 50 s lost. q is full meanwhile, so it
  // waits for p to come back at 350 and finishes at 350 + 800.
  const FleetModel f = Fleet(R"(start: 2026-01-01
pools:
  - {name: a, provider: p, region: r1, domain: a, accelerator: H100, accelerators_per_node: 8, nodes: 1}
  - {name: b, provider: q, region: r2, domain: b, accelerator: H100, accelerators_per_node: 8, nodes: 1}
)");
  auto scenario = ParseScenario(R"(checkpoint_interval: 100s
events:
  - {at: 250s, outage: p, for: 100s}
)",
                                "s.yaml", f);
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  const SimResult r = Sim(f, Jobs({Job(1, 0, 1000, 8), Job(2, 0, 5000, 8)}), *scenario);
  EXPECT_EQ(r.requeued, 1);
  EXPECT_EQ(r.completed, 2);
  EXPECT_DOUBLE_EQ(r.lost_work_accelerator_hours, 8 * 50 / 3600.0);
  // Job 1 finished at 1150: JCT 1150; job 2 ran undisturbed on q: 5000.
  EXPECT_DOUBLE_EQ(r.jct_s.mean, (1150 + 5000) / 2.0);
  EXPECT_EQ(r.end_s, 5000);
}

TEST(SimulatorTest, OnlyJobsOnTheFailedProviderAreRequeued) {
  const FleetModel f = Fleet(R"(start: 2026-01-01
pools:
  - {name: a, provider: p, region: r1, domain: a, accelerator: H100, accelerators_per_node: 8, nodes: 2}
  - {name: b, provider: q, region: r2, domain: b, accelerator: H100, accelerators_per_node: 8, nodes: 2}
)");
  auto scenario = ParseScenario("events:\n  - {at: 10, outage: q}\n", "s.yaml", f);
  ASSERT_TRUE(scenario.ok());
  // Four whole-node jobs: two land on p, two on q; q never comes back, and p is full until 100.
  const SimResult r =
      Sim(f, Jobs({Job(1, 0, 100, 8), Job(2, 0, 100, 8), Job(3, 0, 100, 8), Job(4, 0, 100, 8)}),
          *scenario);
  EXPECT_EQ(r.requeued, 2);
  EXPECT_EQ(r.completed, 4);
  EXPECT_EQ(r.end_s, 200);  // the two requeued ones run on p after the first two
}

TEST(SimulatorTest, CostsFollowContractsAndPrices) {
  // 16 GPUs committed at $2; the rest on-demand at $5 (from the price book).
  const FleetModel f = OnePool(4, R"(contracts:
  - {name: c, provider: p, accelerator: H100, price_per_accelerator_hour: 2, ramp: [{from: 2026-01-01, accelerators: 16}]}
)");
  PriceBook prices{{{"p", "H100"}, {5.0, 1.0}}};
  // Two 16-GPU jobs for an hour, side by side: one on the commitment, one on-demand.
  const SimResult r = Sim(f, Jobs({Job(1, 0, 3600, 16), Job(2, 0, 3600, 16)}), {}, "fifo", prices);
  EXPECT_DOUBLE_EQ(r.cost_committed, 16 * 2.0);
  EXPECT_DOUBLE_EQ(r.cost_on_demand, 16 * 5.0);
  EXPECT_DOUBLE_EQ(r.cost_idle_committed, 0);
  // Only one job: the commitment is paid all the same and the idle part is reported.
  const SimResult one = Sim(f, Jobs({Job(1, 0, 3600, 8)}), {}, "fifo", prices);
  EXPECT_DOUBLE_EQ(one.cost_committed, 32);
  EXPECT_DOUBLE_EQ(one.cost_idle_committed, 16);
  EXPECT_DOUBLE_EQ(one.cost_on_demand, 0);
}

TEST(SimulatorTest, AContractSlipMovesTheRampLater) {
  const FleetModel f = OnePool(4, R"(contracts:
  - {name: c, provider: p, accelerator: H100, price_per_accelerator_hour: 1,
     ramp: [{from: 2026-01-01, accelerators: 8}, {from: 2026-01-02, accelerators: 32}]}
)");
  const Workload w = Jobs({Job(1, 0, 2 * 86400, 8)});  // two days
  const SimResult base = Sim(f, w);
  EXPECT_DOUBLE_EQ(base.cost_committed, 8 * 24 + 32 * 24);
  auto slip = ParseScenario("events:\n  - {contract: c, slip: 1d}\n", "s.yaml", f);
  ASSERT_TRUE(slip.ok()) << slip.status();
  EXPECT_DOUBLE_EQ(Sim(f, w, *slip).cost_committed, 8 * 48);
}

TEST(SimulatorTest, PriorityPreemptionLosesWorkAndCountsIt) {
  const FleetModel f = OnePool(1);
  Scenario s;
  s.checkpoint_interval_s = 0;  // no checkpoints: all work is lost
  const SimResult r =
      Sim(f, Jobs({Job(1, 0, 1000, 8, 0, true), Job(2, 100, 100, 8, 5)}), s, "priority");
  EXPECT_EQ(r.preempted, 1);
  EXPECT_EQ(r.requeued, 1);
  EXPECT_EQ(r.completed, 2);
  EXPECT_EQ(r.end_s, 1200);  // 2 runs 100-200, then 1 all over again
  EXPECT_DOUBLE_EQ(r.lost_work_accelerator_hours, 8 * 100 / 3600.0);
}

TEST(SimulatorTest, SameInputsAndSeedGiveByteIdenticalJsonExceptWallTime) {
  auto fleet =
      scheduler::LoadFleetModel(std::string(AWAN_SOURCE_DIR) + "/examples/fleets/small.yaml");
  ASSERT_TRUE(fleet.ok());
  auto scenario =
      LoadScenario(std::string(AWAN_SOURCE_DIR) + "/examples/scenarios/small-outage.yaml", *fleet);
  ASSERT_TRUE(scenario.ok()) << scenario.status();
  SyntheticOptions o;
  o.jobs = 3000;
  o.seed = 7;
  std::string first;
  for (const std::string policy : {"priority", "backfill"}) {
    SimOptions so;
    so.policy = policy;
    so.seed = 7;
    const std::string a = ToJson(Simulate(*fleet, GenerateSynthetic(o, *fleet), *scenario, {}, so));
    const std::string b = ToJson(Simulate(*fleet, GenerateSynthetic(o, *fleet), *scenario, {}, so));
    EXPECT_EQ(WithoutWall(a), WithoutWall(b));
    EXPECT_THAT(a, HasSubstr("\"wall_s\""));
    if (first.empty()) first = a;
  }
  // A different seed gives a different workload (and so a different answer).
  o.seed = 8;
  SimOptions so;
  so.policy = "priority";
  so.seed = 8;
  EXPECT_NE(WithoutWall(ToJson(Simulate(*fleet, GenerateSynthetic(o, *fleet), *scenario, {}, so))),
            WithoutWall(first));
}

TEST(SimulatorTest, SpotInterruptionsRequeueSpotJobsOnly) {
  // Preemptible jobs beyond a zero commitment run on spot (max_spot given) and get interrupted.
  const FleetModel f = OnePool(8, R"(on_demand:
  - {provider: p, accelerator: H100, max_spot: 64}
)");
  Scenario s;
  s.spot_interruptions_per_hour = 2;
  std::vector<TraceJob> jobs;
  for (int i = 0; i < 20; ++i)
    jobs.push_back(Job(i, 0, 4 * 3600, 1, 0, /*preemptible=*/i % 2 == 0));
  const PriceBook prices{{{"p", "H100"}, {4.0, 1.0}}};
  const SimResult r = Sim(f, Jobs(jobs), s, "fifo", prices);
  EXPECT_GT(r.interrupted, 0);
  EXPECT_EQ(r.requeued, r.interrupted);
  EXPECT_EQ(r.completed, 20);
  // The ten preemptible jobs ran on spot at $1, the others on demand at $4: 10 x 4 h of work each;
  // on spot, the work lost to interruptions was run (and paid) twice.
  EXPECT_DOUBLE_EQ(r.cost_on_demand, 10 * 4 * 4.0);
  EXPECT_GT(r.lost_work_accelerator_hours, 0);
  EXPECT_NEAR(r.cost_spot, 10 * 4 * 1.0 + r.lost_work_accelerator_hours, 1e-9);
}

TEST(SimulatorTest, SyntheticWorkloadFollowsItsParameters) {
  const FleetModel f = OnePool(100);
  SyntheticOptions o;
  o.jobs = 20000;
  o.arrivals_per_hour = 3600;  // one a second
  o.size_mix = {{1, 3}, {8, 1}};
  o.duration_median_s = 100;
  o.duration_mean_s = 300;
  const Workload w = GenerateSynthetic(o, f);
  ASSERT_EQ(w.jobs.size(), 20000u);
  double size = 0, span = static_cast<double>(w.jobs.back().submit_s);
  std::vector<double> durations;
  for (const TraceJob& j : w.jobs) {
    size += static_cast<double>(j.alternatives[0].accelerators());
    durations.push_back(static_cast<double>(j.duration_s));
  }
  EXPECT_NEAR(size / 20000, (3 * 1 + 8) / 4.0, 0.1);
  EXPECT_NEAR(span, 20000, 600);  // Poisson: about one per second
  const Stats d = Summarise(durations);
  EXPECT_NEAR(d.p50, 100, 5);
  EXPECT_NEAR(d.mean, 300, 40);
  // Same seed, same jobs.
  const Workload again = GenerateSynthetic(o, f);
  EXPECT_EQ(again.jobs[12345].duration_s, w.jobs[12345].duration_s);
  EXPECT_EQ(again.jobs[12345].submit_s, w.jobs[12345].submit_s);
}

TEST(SimulatorTest, SizeMixAndPresetsParse) {
  auto mix = ParseSizeMix("1:0.7,8:0.2,64:0.1");
  ASSERT_TRUE(mix.ok());
  EXPECT_EQ(mix->size(), 3u);
  EXPECT_FALSE(ParseSizeMix("1:0.7,eight:0.3").ok());
  EXPECT_THAT(std::string(ParseSizeMix("1").status().message()), HasSubstr("ACCELERATORS:WEIGHT"));
  for (const std::string& name : SyntheticPresetNames()) EXPECT_TRUE(SyntheticPreset(name)) << name;
  // The presets' mixes are near the summaries' mean GPUs per job (docs/simulator.md).
  const auto mean = [](const std::map<int, double>& mix) {
    double n = 0, w = 0;
    for (const auto& [size, weight] : mix) {
      n += size * weight;
      w += weight;
    }
    return n / w;
  };
  EXPECT_NEAR(mean(SyntheticPreset("helios")->size_mix), 3.716, 0.1);
  EXPECT_NEAR(mean(SyntheticPreset("acme-seren")->size_mix), 5.68, 0.3);
  EXPECT_NEAR(mean(SyntheticPreset("philly")->size_mix), 1.928, 0.1);
  EXPECT_FALSE(SyntheticPreset("borg"));
}

TEST(SimulatorTest, ScenarioErrorsNameFileLineAndField) {
  const FleetModel f = OnePool(1, R"(contracts:
  - {name: c1, provider: p, accelerator: H100, price_per_accelerator_hour: 1, ramp: [{from: 2026-01-01, accelerators: 8}]}
)");
  auto bad_provider = ParseScenario("events:\n  - {at: 1d, outage: pp}\n", "s.yaml", f);
  ASSERT_FALSE(bad_provider.ok());
  EXPECT_THAT(std::string(bad_provider.status().message()), HasSubstr("s.yaml:2:"));
  EXPECT_THAT(std::string(bad_provider.status().message()), HasSubstr("events[0].outage"));
  EXPECT_THAT(std::string(bad_provider.status().message()), HasSubstr("did you mean 'p'"));
  auto bad_time = ParseScenario("events:\n  - {at: soon, outage: p}\n", "s.yaml", f);
  ASSERT_FALSE(bad_time.ok());
  EXPECT_THAT(std::string(bad_time.status().message()), HasSubstr("events[0].at"));
  auto bad_contract = ParseScenario("events:\n  - {contract: c2, slip: 90d}\n", "s.yaml", f);
  EXPECT_THAT(std::string(bad_contract.status().message()), HasSubstr("did you mean 'c1'"));
  auto typo = ParseScenario("checkpoint_intervall: 1h\n", "s.yaml", f);
  EXPECT_THAT(std::string(typo.status().message()),
              HasSubstr("did you mean 'checkpoint_interval'"));
  auto date =
      ParseScenario("events:\n  - {at: 2026-01-03, outage: p, region: r1, for: 2h}\n", "s.yaml", f);
  ASSERT_TRUE(date.ok()) << date.status();
  EXPECT_EQ(date->outages[0].at_s, 2 * 86400);
  EXPECT_EQ(*date->outages[0].for_s, 7200);
}

class TraceFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("awan-sim-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }
  fs::path dir_;
};

TEST_F(TraceFiles, AwanCsvReadsColumnsByNameAndNamesBadCells) {
  const FleetModel f = OnePool(2);
  auto w =
      ReadTrace(Write("t.csv",
                      "submit_s,id,duration_s,accelerators,team,priority,preemptible,accelerator\n"
                      "10,1,100,16,ml,3,true,H100\n"
                      "5,2,50,4,,,,\n"),
                "awan", f);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->jobs.size(), 2u);
  EXPECT_EQ(w->jobs[0].id, 2);  // sorted by submit time
  EXPECT_EQ(w->jobs[0].team, "default");
  EXPECT_EQ(w->jobs[1].alternatives[0].nodes, 2);
  EXPECT_EQ(w->jobs[1].alternatives[0].per_node, 8);
  EXPECT_TRUE(w->jobs[1].preemptible);
  EXPECT_EQ(w->jobs[1].priority, 3);
  auto bad =
      ReadTrace(Write("b.csv", "id,submit_s,duration_s,accelerators\n1,0,ten,1\n"), "awan", f);
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("b.csv:2: column 'duration_s': 'ten' is not a number"));
  auto missing = ReadTrace(Write("m.csv", "id,submit,duration_s,accelerators\n"), "awan", f);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("column 'submit_s' is missing"));
  auto type = ReadTrace(
      Write("x.csv", "id,submit_s,duration_s,accelerators,accelerator\n1,0,1,1,H10\n"), "awan", f);
  EXPECT_THAT(std::string(type.status().message()), HasSubstr("did you mean 'H100'"));
  EXPECT_THAT(std::string(ReadTrace("t.csv", "borg", f).status().message()),
              HasSubstr("use one of: philly"));
}

TEST_F(TraceFiles, OpenbPodsAndNodes) {
  auto fleet = FleetFromOpenbNodes(Write("nodes.csv",
                                         "sn,cpu_milli,memory_mib,gpu,model\n"
                                         "n1,64000,262144,8,V100M16\nn2,64000,262144,8,V100M16\n"
                                         "n3,64000,262144,2,T4\nn4,96000,393216,0,\n"));
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_EQ(fleet->TotalAccelerators(), 18);
  EXPECT_EQ(fleet->pools.size(), 2u);
  auto w = ReadTrace(
      Write("pods.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
            "deletion_time,scheduled_time\n"
            "p0,1000,1024,1,1000,,LS,Running,0,1000,0\n"
            "p1,1000,1024,1,500,,BE,Succeeded,100,400,130\n"
            "p2,1000,1024,0,0,,BE,Succeeded,100,400,130\n"
            "p3,1000,1024,1,1000,,BE,Pending,200,900,\n"
            "p4,1000,1024,8,1000,V100M16|T4,LS,Running,300,900,310\n"),
      "alibaba-openb", *fleet);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_EQ(w->jobs.size(), 3u);
  EXPECT_EQ(w->skipped.at("CPU-only pod (num_gpu 0)"), 1);
  EXPECT_EQ(w->skipped.at("never scheduled in the trace (no run time to replay)"), 1);
  EXPECT_EQ(w->adjusted.begin()->second, 1);
  EXPECT_EQ(*w->jobs[1].recorded_queue_delay_s, 30);
  EXPECT_EQ(w->jobs[1].duration_s, 270);
  // An 8-GPU pod only fits the V100 nodes: one alternative, one node.
  ASSERT_EQ(w->jobs[2].alternatives.size(), 1u);
  EXPECT_EQ(w->jobs[2].alternatives[0].accelerator, "V100M16");
  EXPECT_EQ(w->jobs[2].alternatives[0].nodes, 1);
}

TEST_F(TraceFiles, ReportsCsvAndSvg) {
  const FleetModel f = OnePool(1);
  SimOptions o;
  o.sample_s = 10;
  const SimResult r = Simulate(f, Jobs({Job(1, 0, 100, 8), Job(2, 10, 50, 4)}), {}, {}, o);
  const std::string csv = SeriesCsv(r);
  EXPECT_THAT(csv, HasSubstr("time_s,utilization,busy_accelerators,running_jobs,queued_jobs"));
  EXPECT_THAT(csv, HasSubstr("\n50,1.0000,8,1,1,"));  // at t=50: job 1 runs, job 2 waits
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), static_cast<long>(r.series.size() + 1));
  const std::string svg = SeriesSvg(r);
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr("</svg>"));
  EXPECT_EQ(std::count(svg.begin(), svg.end(), '<') - std::count(svg.begin(), svg.end(), '>'), 0);
  EXPECT_THAT(svg, HasSubstr("queued jobs"));
}

// The shared traces, when ../shared/data is there.
TEST(SimulatorSharedDataTest, PhillyAndOpenbReplay) {
  const fs::path root = fs::path(AWAN_SHARED_DATA) / "gpu_job_traces";
  if (!fs::exists(root)) GTEST_SKIP() << "shared data not found at " << root << "; skipping";
  auto nodes =
      FleetFromOpenbNodes((root / "alibaba_gpu_v2023/openb_node_list_gpu_node.csv").string());
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  EXPECT_EQ(nodes->TotalNodes(), 1213);
  auto pods = ReadTrace((root / "alibaba_gpu_v2023/openb_pod_list_default.train.csv").string(),
                        "alibaba-openb", *nodes);
  ASSERT_TRUE(pods.ok()) << pods.status();
  int64_t rows = static_cast<int64_t>(pods->jobs.size());
  for (const auto& [reason, n] : pods->skipped) rows += n;
  EXPECT_EQ(rows, 6521);  // every row accounted for
  const SimResult openb = Sim(*nodes, *pods);
  EXPECT_EQ(openb.completed, static_cast<int64_t>(pods->jobs.size()));
  ASSERT_TRUE(openb.recorded_queue_delay_s);
  EXPECT_EQ(openb.recorded_queue_delay_s->count, openb.queue_delay_s.count);

  auto fleet =
      scheduler::LoadFleetModel(std::string(AWAN_SOURCE_DIR) + "/examples/fleets/small.yaml");
  ASSERT_TRUE(fleet.ok());
  auto philly = ReadTrace(
      (root / "philly_derived/chronus_trace_job_Philly_MIX1.train.csv").string(), "philly", *fleet);
  ASSERT_TRUE(philly.ok()) << philly.status();
  EXPECT_EQ(static_cast<int64_t>(philly->jobs.size()) + philly->skipped.at("no GPU requested"),
            24703);
  const SimResult r = Sim(*fleet, *philly, {}, "backfill");
  EXPECT_EQ(r.submitted, static_cast<int64_t>(philly->jobs.size()));
  EXPECT_EQ(r.completed + r.unfinished, r.submitted);
  EXPECT_GT(r.utilization, 0);
}

}  // namespace
}  // namespace awan::simulator

// Drives the real `awan` binary as a user would: exit codes, stdout, stderr and the --json
// contract.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "support/command.h"

namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

using Output = awan::testing::CommandResult;

Output Awan(const std::string& args) {
  return awan::testing::RunCommand(std::string(AWAN_BINARY) + " " + args);
}

const std::string kExamples = std::string(AWAN_SOURCE_DIR) + "/examples/tasks/";

TEST(CliTest, OptimizeJsonHasTheContractFields) {
  Output o = Awan("optimize " + kExamples + "train-8xh100.yaml --json --top 3");
  ASSERT_EQ(o.code, 0) << o.err;
  auto j = nlohmann::json::parse(o.out);
  ASSERT_TRUE(j.contains("chosen"));
  ASSERT_EQ(j["candidates"].size(), 3u);
  for (const auto& p : j["candidates"]) {
    for (const char* field : {"provider", "region", "zone", "instance_type", "accelerator",
                              "accelerator_count", "num_nodes", "spot", "hourly_cost"}) {
      EXPECT_TRUE(p.contains(field)) << field;
    }
    EXPECT_EQ(p["accelerator"], "H100");
    EXPECT_EQ(p["accelerator_count"], 8);
  }
  EXPECT_EQ(j["chosen"], j["candidates"][0]);
  EXPECT_LE(j["candidates"][0]["hourly_cost"].get<double>(),
            j["candidates"][2]["hourly_cost"].get<double>());
}

TEST(CliTest, EveryExampleTaskOptimizes) {
  for (const char* name :
       {"single-gpu.yaml", "train-8xh100.yaml", "any-of-gpus.yaml", "multinode-16.yaml",
        "tpu-v6e.yaml", "ordered-preference.yaml", "fastest-time.yaml", "spot-cpu.yaml"}) {
    Output o = Awan("optimize " + kExamples + name);
    EXPECT_EQ(o.code, 0) << name << ": " << o.err;
    EXPECT_THAT(o.out, HasSubstr("✔")) << name;
    EXPECT_THAT(o.out, HasSubstr("Chosen:")) << name;
  }
}

TEST(CliTest, MultiNodeJsonPricesAllNodes) {
  Output o = Awan("optimize " + kExamples + "multinode-16.yaml --json --top 1");
  ASSERT_EQ(o.code, 0) << o.err;
  auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["chosen"]["num_nodes"], 16);
  Output one = Awan("catalog ls --json --provider " + j["chosen"]["provider"].get<std::string>());
  auto list = nlohmann::json::parse(one.out);
  bool found = false;
  for (const auto& row : list) {
    if (row["instance_type"] == j["chosen"]["instance_type"] &&
        row["region"] == j["chosen"]["region"]) {
      EXPECT_NEAR(j["chosen"]["hourly_cost"].get<double>(), 16 * row["price"].get<double>(), 1e-6);
      found = true;
    }
  }
  EXPECT_TRUE(found);
}

TEST(CliTest, TimeObjectiveNeedsFlopsAndRanksFasterChipsFirst) {
  Output o = Awan("optimize " + kExamples + "fastest-time.yaml --objective time --json --top 1");
  ASSERT_EQ(o.code, 0) << o.err;
  auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["chosen"]["accelerator"], "B200");
  EXPECT_TRUE(j["chosen"].contains("estimated_hours"));
  Output no_flops = Awan("optimize " + kExamples + "train-8xh100.yaml --objective time");
  EXPECT_EQ(no_flops.code, 2);
  EXPECT_THAT(no_flops.err, HasSubstr("--flops"));
}

TEST(CliTest, InfeasibleTaskExitsNonZeroWithExplanationOnStderr) {
  const fs::path task = fs::temp_directory_path() / "awan_cli_infeasible.yaml";
  std::ofstream(task) << "resources:\n  accelerators: H100:3\n";
  Output o = Awan("optimize " + task.string());
  EXPECT_EQ(o.code, 1);
  EXPECT_THAT(o.err, HasSubstr("no instance has exactly 3 H100 per node"));
  EXPECT_EQ(o.out, "");
  Output json = Awan("optimize " + task.string() + " --json");
  EXPECT_EQ(json.code, 1);
  EXPECT_TRUE(nlohmann::json::parse(json.out)["chosen"].is_null());
}

TEST(CliTest, ProvidersAndBlockNarrowTheSearch) {
  Output o = Awan("optimize " + kExamples +
                  "train-8xh100.yaml --providers aws,azure --block aws/us-east-1 --json --top 0");
  ASSERT_EQ(o.code, 0) << o.err;
  const auto j = nlohmann::json::parse(o.out);
  ASSERT_FALSE(j["candidates"].empty());
  for (const auto& p : j["candidates"]) {
    EXPECT_TRUE(p["provider"] == "aws" || p["provider"] == "azure");
    EXPECT_FALSE(p["provider"] == "aws" && p["region"] == "us-east-1");
  }
  Output bad = Awan("optimize " + kExamples + "train-8xh100.yaml --providers nosuch");
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("unknown provider 'nosuch'"));
}

TEST(CliTest, CheckPrintsNormalisedTaskOrAllErrors) {
  Output ok = Awan("check " + kExamples + "any-of-gpus.yaml");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("any_of:"));
  EXPECT_THAT(ok.out, HasSubstr("accelerators: A100-80GB:8"));
  Output json = Awan("check --json " + kExamples + "multinode-16.yaml");
  EXPECT_EQ(nlohmann::json::parse(json.out)["num_nodes"], 16);
  Output bad = Awan("check " + kExamples + "broken/bad-values.yaml");
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.err, HasSubstr("bad-values.yaml:3:12: num_nodes"));
  EXPECT_THAT(bad.err, HasSubstr("bad-values.yaml:5:3: resources.acelerators: unknown field (did "
                                 "you mean 'accelerators'?)"));
  EXPECT_THAT(bad.err, HasSubstr("bad-values.yaml:9:10: resources.infra"));
  Output typo = Awan("check " + kExamples + "broken/typo-field.yaml");
  EXPECT_THAT(typo.err, HasSubstr("did you mean 'resources'?"));
  Output syntax = Awan("check " + kExamples + "broken/bad-yaml.yaml");
  EXPECT_EQ(syntax.code, 1);
  EXPECT_THAT(syntax.err, HasSubstr("YAML syntax error"));
  Output missing = Awan("check /nonexistent.yaml");
  EXPECT_EQ(missing.code, 2);
  EXPECT_THAT(missing.err, HasSubstr("/nonexistent.yaml: cannot read"));
}

// A task file with a `service:` section is a service: `awan check` validates and prints it like
// any task; `awan launch` says it is not a job.
TEST(CliTest, CheckValidatesServicesAndLaunchRefusesThem) {
  const fs::path dir = fs::temp_directory_path() / ("awan-cli-svc-" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "svc.yaml") << R"(name: echo
resources: {cpus: 1, ports: 8080}
service:
  readiness_probe: /health
  replica_policy: {min_replicas: 2, max_replicas: 5, target_qps_per_replica: 10}
  spread: {providers: 2}
run: python3 -m http.server 8080
)";
  Output ok = Awan("check " + (dir / "svc.yaml").string());
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("service:\n  readiness_probe:\n    path: /health"));
  Output json = Awan("check --json " + (dir / "svc.yaml").string());
  ASSERT_EQ(json.code, 0) << json.err;
  const auto service = nlohmann::json::parse(json.out)["service"];
  EXPECT_EQ(service["replica_policy"]["max_replicas"], 5);
  EXPECT_EQ(service["ports"], 8080);
  EXPECT_EQ(service["spread"]["providers"], 2);
  Output launch = Awan("launch " + (dir / "svc.yaml").string());
  EXPECT_EQ(launch.code, 2);
  EXPECT_THAT(launch.err, HasSubstr("has a `service:` section, so it is a service, not a job"));
  std::ofstream(dir / "bad.yaml") << "service:\n  readiness_probe: /\n  replicas: many\n";
  Output bad = Awan("check " + (dir / "bad.yaml").string());
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.err, HasSubstr("bad.yaml:3:13: service.replicas: 'many' is not a number"));
  fs::remove_all(dir);
}

TEST(CliTest, CatalogLsFiltersAndSortsByPrice) {
  Output o = Awan("catalog ls --accelerator h100 --json");
  ASSERT_EQ(o.code, 0) << o.err;
  auto rows = nlohmann::json::parse(o.out);
  ASSERT_GT(rows.size(), 10u);
  double last = 0;
  for (const auto& r : rows) {
    EXPECT_EQ(r["accelerator"], "H100");
    if (r["price"].is_null()) continue;
    EXPECT_GE(r["price"].get<double>(), last);
    last = r["price"].get<double>();
  }
  Output table = Awan("catalog ls -a H100 -p aws -n 3");
  EXPECT_EQ(table.code, 0);
  EXPECT_THAT(table.out, HasSubstr("PROVIDER"));
  EXPECT_THAT(table.out, HasSubstr("3 of"));
  EXPECT_THAT(table.out, Not(HasSubstr("lambda")));
  Output none = Awan("catalog ls -a NOPE");
  EXPECT_EQ(none.code, 1);
  Output providers = Awan("catalog providers --json");
  EXPECT_GE(nlohmann::json::parse(providers.out).size(), 6u);
  Output facts = Awan("catalog accelerators");
  EXPECT_THAT(facts.out, HasSubstr("tpu-v6e"));
}

TEST(CliTest, CatalogFlagReplacesTheBuiltinCatalog) {
  const std::string fixture = std::string(AWAN_SOURCE_DIR) + "/tests/fixtures/skypilot";
  Output o = Awan("optimize " + kExamples + "train-8xh100.yaml --catalog " + fixture + " --json");
  ASSERT_EQ(o.code, 0) << o.err;
  auto j = nlohmann::json::parse(o.out);
  for (const auto& p : j["candidates"])
    EXPECT_TRUE(p["provider"] == "acme" || p["provider"] == "gcp");
  EXPECT_EQ(j["chosen"]["provider"], "acme");
  EXPECT_DOUBLE_EQ(j["chosen"]["hourly_cost"].get<double>(), 31.92);
  EXPECT_THAT(o.err, HasSubstr("rows skipped"));
  Output bad = Awan("optimize " + kExamples + "train-8xh100.yaml --catalog /nonexistent");
  EXPECT_EQ(bad.code, 2);
  EXPECT_THAT(bad.err, HasSubstr("no such catalog file or folder"));
}

TEST(CliTest, SharedSkyPilotCatalogWorksEndToEnd) {
  const fs::path root = fs::path(AWAN_SHARED_DATA) / "catalogs/skypilot";
  if (!fs::exists(root)) GTEST_SKIP() << "shared data not found at " << root << "; skipping";
  Output o =
      Awan("optimize " + kExamples + "train-8xh100.yaml --catalog " + (root / "v8").string() +
           " --catalog " + (root / "v6").string() + " --json --top 0");
  ASSERT_EQ(o.code, 0) << o.err;
  auto j = nlohmann::json::parse(o.out);
  EXPECT_GT(j["candidates"].size(), 20u);
  EXPECT_EQ(j["chosen"]["accelerator"], "H100");
}

TEST(CliTest, OptimizeRanksOverTheFleetByDefault) {
  // Without --catalog: the embedded default fleet (this machine + emulated aws, azure, gcp, oci,
  // coreweave).
  Output o = Awan("optimize " + kExamples + "train-8xh100.yaml --json --top 0");
  ASSERT_EQ(o.code, 0) << o.err;
  std::set<std::string> providers;
  const auto j = nlohmann::json::parse(o.out);
  for (const auto& p : j["candidates"]) providers.insert(p["provider"]);
  EXPECT_EQ(providers, (std::set<std::string>{"aws", "azure", "gcp", "oci", "coreweave"}));
  // A small CPU task is cheapest on this machine, which costs nothing.
  Output hello = Awan("optimize " + kExamples + "hello.yaml --json --top 1");
  ASSERT_EQ(hello.code, 0) << hello.err;
  EXPECT_EQ(nlohmann::json::parse(hello.out)["chosen"]["provider"], "local");
}

TEST(CliTest, CheckConfigNamesBadProvidersAndKeepsTheRest) {
  Output ok = Awan("check-config");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("coreweave"));
  const fs::path bad = fs::temp_directory_path() / "awan_cli_badfleet.yaml";
  std::ofstream(bad) << "providers:\n  - {name: local, kind: local}\n  - {name: aws, kind: simm}\n";
  Output o = Awan("check-config --config " + bad.string() + " --json");
  EXPECT_EQ(o.code, 1);
  auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["providers"].size(), 1u);
  EXPECT_THAT(j["errors"][0].get<std::string>(),
              HasSubstr(":3:23: providers[1].kind: unknown provider kind 'simm'"));
  Output def = Awan("check-config --default");
  EXPECT_THAT(def.out, HasSubstr("kind: sim"));
}

TEST(CliTest, FleetCheckSummarisesAFleetFile) {
  Output o =
      Awan("fleet check " + std::string(AWAN_SOURCE_DIR) + "/examples/fleets/500k.yaml --json");
  ASSERT_EQ(o.code, 0) << o.err;
  auto j = nlohmann::json::parse(o.out);
  EXPECT_EQ(j["accelerators"], 500000);
  EXPECT_EQ(j["nodes"], 62500);
  EXPECT_EQ(j["regions"], 30);
  Output table =
      Awan("fleet check " + std::string(AWAN_SOURCE_DIR) + "/examples/fleets/small.yaml");
  EXPECT_THAT(table.out, HasSubstr("256 accelerators on 32 nodes"));
  const fs::path bad = fs::temp_directory_path() / "awan_cli_bad_fleet.yaml";
  std::ofstream(bad)
      << "start: 2026-01-01\npools:\n  - {provider: aws, region: r, accelerator: H100, nodez: 1}\n";
  Output e = Awan("fleet check " + bad.string());
  EXPECT_EQ(e.code, 1);
  EXPECT_THAT(e.err, HasSubstr("pools[0].nodez: unknown field (did you mean 'nodes'?)"));
}

const std::string kFleets = std::string(AWAN_SOURCE_DIR) + "/examples/fleets/";

std::string WithoutWall(const std::string& json) {
  auto j = nlohmann::ordered_json::parse(json);
  j.erase("wall_s");
  return j.dump();
}

TEST(CliTest, SimulateJsonHasTheContractFieldsAndIsDeterministic) {
  const std::string args = "simulate --fleet " + kFleets +
                           "small.yaml --synthetic 2000 --policy priority --seed 3 " +
                           "--scenario " + std::string(AWAN_SOURCE_DIR) +
                           "/examples/scenarios/small-outage.yaml --json -q";
  Output a = Awan(args);
  ASSERT_EQ(a.code, 0) << a.err;
  auto j = nlohmann::json::parse(a.out);
  for (const char* f : {"submitted", "completed", "preempted", "requeued"})
    EXPECT_TRUE(j["jobs"].contains(f)) << f;
  EXPECT_EQ(j["jobs"]["submitted"], 2000);
  EXPECT_TRUE(j["utilization"].contains("overall"));
  EXPECT_TRUE(j["utilization"]["by_provider"].contains("aws"));
  for (const char* metric : {"jct_s", "queue_delay_s"}) {
    for (const char* f : {"mean", "p50", "p99"})
      EXPECT_TRUE(j[metric].contains(f)) << metric << "." << f;
  }
  for (const char* f : {"committed", "on_demand", "spot", "idle_committed"})
    EXPECT_TRUE(j["cost_usd"].contains(f)) << f;
  EXPECT_GT(j["events"].get<int64_t>(), 6000);
  EXPECT_TRUE(j.contains("wall_s"));
  EXPECT_GT(j["jobs"]["requeued"].get<int64_t>(), 0);  // the outages hit running jobs
  Output b = Awan(args);
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(WithoutWall(a.out), WithoutWall(b.out));
}

TEST(CliTest, SimulateAnAwanTraceWritesCsvAndSvg) {
  const fs::path out = fs::temp_directory_path() / ("awan_cli_sim_" + std::to_string(::getpid()));
  fs::remove_all(out);
  Output o =
      Awan("simulate --fleet " + kFleets + "small.yaml --trace " + std::string(AWAN_SOURCE_DIR) +
           "/examples/traces/small-lab.csv --format awan --policy backfill --out " + out.string());
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("Simulated 60 jobs"));
  EXPECT_THAT(o.out, HasSubstr("queue delay"));
  EXPECT_THAT(o.out, HasSubstr("COST  committed $"));
  EXPECT_THAT(o.err, HasSubstr("timeseries.svg"));
  std::ifstream csv(out / "timeseries.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header,
            "time_s,utilization,busy_accelerators,running_jobs,queued_jobs,committed_accelerators,"
            "down_accelerators");
  std::stringstream svg;
  svg << std::ifstream(out / "timeseries.svg").rdbuf();
  EXPECT_THAT(svg.str(), HasSubstr("<polyline"));
  EXPECT_THAT(svg.str(), HasSubstr("</svg>"));
  EXPECT_TRUE(nlohmann::json::parse(std::ifstream(out / "summary.json")).contains("cost_usd"));
  fs::remove_all(out);
}

TEST(CliTest, SimulateTheSharedTraces) {
  const fs::path root = fs::path(AWAN_SHARED_DATA) / "gpu_job_traces";
  if (!fs::exists(root)) GTEST_SKIP() << "shared data not found at " << root << "; skipping";
  Output philly = Awan("simulate --fleet " + kFleets + "small.yaml --trace " +
                       (root / "philly_derived/chronus_trace_job_Philly_MIX1.train.csv").string() +
                       " --format philly --json -q");
  ASSERT_EQ(philly.code, 0) << philly.err;
  EXPECT_EQ(nlohmann::json::parse(philly.out)["jobs"]["submitted"], 24526);
  Output openb =
      Awan("simulate --fleet-from-nodes " +
           (root / "alibaba_gpu_v2023/openb_node_list_gpu_node.csv").string() + " --trace " +
           (root / "alibaba_gpu_v2023/openb_pod_list_default.train.csv").string() +
           " --format alibaba-openb");
  ASSERT_EQ(openb.code, 0) << openb.err;
  EXPECT_THAT(openb.out, HasSubstr("queue delay recorded in the trace"));
  EXPECT_THAT(openb.out, HasSubstr("left out: 936 rows: CPU-only pod"));
}

TEST(CliTest, SimulateUsageErrorsSayWhatToDo) {
  Output none = Awan("simulate --synthetic 10");
  EXPECT_EQ(none.code, 2);
  EXPECT_THAT(none.err, HasSubstr("--fleet FLEET.yaml"));
  Output both = Awan("simulate --fleet " + kFleets + "small.yaml");
  EXPECT_EQ(both.code, 2);
  EXPECT_THAT(both.err, HasSubstr("--trace FILE --format FORMAT, or --synthetic N"));
  Output format = Awan("simulate --fleet " + kFleets + "small.yaml --trace x.csv --format phily");
  EXPECT_EQ(format.code, 2);
  EXPECT_THAT(format.err, HasSubstr("did you mean 'philly'"));
  Output load = Awan("simulate --fleet " + kFleets + "small.yaml --synthetic 10 --load 0");
  EXPECT_EQ(load.code, 2);
  EXPECT_THAT(load.err, HasSubstr("--load must be more than 0"));
  Output policy =
      Awan("simulate --fleet " + kFleets + "small.yaml --synthetic 10 --policy fairshar");
  EXPECT_THAT(policy.err, HasSubstr("did you mean 'fairshare'"));
  const fs::path bad = fs::temp_directory_path() / "awan_cli_bad_scenario.yaml";
  std::ofstream(bad) << "events:\n  - {at: 1d, outage: aws, region: us-east-9}\n";
  Output scenario =
      Awan("simulate --fleet " + kFleets + "small.yaml --synthetic 10 --scenario " + bad.string());
  EXPECT_EQ(scenario.code, 2);
  EXPECT_THAT(scenario.err, HasSubstr(bad.string() + ":2:"));
  EXPECT_THAT(scenario.err, HasSubstr("events[0].region"));
  EXPECT_THAT(scenario.err, HasSubstr("did you mean 'us-east-1'"));
}

// `awan serve replay --autoscalers`: the --json shape, and usage mistakes named with their fix.
TEST(CliTest, ReplayComparesAutoscalersAndNamesMistakes) {
  const fs::path trace = fs::temp_directory_path() / "awan_cli_azure.csv";
  {
    std::ofstream out(trace);
    out << "TIMESTAMP,ContextTokens,GeneratedTokens\n";
    for (int i = 0; i < 240; ++i) {  // two requests a second for two minutes
      out << "2023-11-16 18:" << 17 + i / 120 << ":" << (i / 2) % 60 / 10 << (i / 2) % 10 << "."
          << (i % 2 ? "5" : "0") << "000000," << (i < 120 ? 100 : 2000) << ",8\n";
    }
  }
  Output ok = Awan("serve replay --trace " + trace.string() +
                   " --format azure --autoscalers qps=1,tokens_in_flight=2000 --max-replicas 8 "
                   "--replica-start 5 --upscale-delay 2 --downscale-delay 10 "
                   "--prefill-ms-per-token 1 --json");
  ASSERT_EQ(ok.code, 0) << ok.err;
  const auto j = nlohmann::json::parse(ok.out);
  ASSERT_EQ(j["autoscalers"].size(), 2u);
  for (const auto& a : j["autoscalers"]) {
    for (const char* field :
         {"autoscaler", "policy", "replica_hours", "mean_replicas", "peak_replicas", "scale_ups",
          "scale_downs", "ttft_s", "goodput", "requests"}) {
      EXPECT_TRUE(a.contains(field)) << field;
    }
    EXPECT_EQ(a["policy"], "least_load");
    EXPECT_EQ(a["requests"], 240);
  }
  // The long prompts of the second minute: tokens in flight ask for more replicas than QPS.
  EXPECT_GT(j["autoscalers"][1]["peak_replicas"].get<int>(),
            j["autoscalers"][0]["peak_replicas"].get<int>());
  Output signal =
      Awan("serve replay --trace " + trace.string() + " --format azure --autoscalers tokens=5");
  EXPECT_EQ(signal.code, 2);
  EXPECT_THAT(signal.err, HasSubstr("'tokens=5' names no signal"));
  EXPECT_THAT(signal.err, HasSubstr("tokens_in_flight"));
  Output url = Awan("serve replay --trace " + trace.string() +
                    " --format azure --autoscalers qps=1 --url http://127.0.0.1:1");
  EXPECT_EQ(url.code, 2);
  EXPECT_THAT(url.err, HasSubstr("leave out --url"));
  Output block = Awan("llm-replica --port 0 --block-size 24");
  EXPECT_EQ(block.code, 2);
  EXPECT_THAT(block.err, HasSubstr("--block-size 24 does not divide 512"));
}

TEST(CliTest, HelpAndUsageErrors) {
  Output help = Awan("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("optimize"));
  Output opt_help = Awan("optimize --help");
  EXPECT_THAT(opt_help.out, HasSubstr("--objective"));
  Output bad = Awan("optimize");
  EXPECT_EQ(bad.code, 2);
  Output bad_objective = Awan("optimize " + kExamples + "single-gpu.yaml --objective speed");
  EXPECT_EQ(bad_objective.code, 2);
}

}  // namespace

#include "awan/providers/fleet.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "awan/catalog/loader.h"
#include "awan/providers/sim.h"
#include "providers/registry.h"

namespace awan::providers {
namespace {

using ::testing::HasSubstr;

const catalog::Catalog& Builtin() {
  static const catalog::Catalog c = [] {
    catalog::LoadReport report;
    return std::move(*catalog::BuiltinCatalog(report));
  }();
  return c;
}

LocalResources Machine() {
  LocalResources m;
  m.cpus = 8;
  m.memory_gib = 32;
  m.hostname = "box";
  m.gpus = {{0, "NVIDIA H100 80GB HBM3", 80}, {1, "NVIDIA H100 80GB HBM3", 80}};
  return m;
}

TEST(FleetTest, EmbeddedDefaultIsLocalPlusSevenEmulatedClouds) {
  auto fleet = ParseFleet(DefaultFleetYaml(), "embedded default", Builtin(), Machine());
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_TRUE(fleet->errors.empty()) << fleet->errors.front();
  EXPECT_EQ(fleet->Names(), (std::vector<std::string>{"local", "aws", "azure", "gcp", "oci",
                                                      "coreweave", "hyperstack", "vast"}));
  const catalog::Catalog c = fleet->BuildCatalog();
  // Each emulated cloud has 8-GPU H100 nodes in at least two regions, with capacity for them.
  for (const char* name : {"aws", "azure", "gcp", "oci", "coreweave"}) {
    std::set<std::string> regions;
    for (const auto& u : fleet->FindSim(name)->Books()) {
      for (const auto& o : c.offerings()) {
        if (c.Name(o.provider) == name && c.Name(o.instance_type) == u.instance_type &&
            c.Name(o.accelerator) == "H100" && o.accelerator_count == 8 && u.capacity >= 1) {
          regions.insert(u.region);
        }
      }
    }
    EXPECT_GE(regions.size(), 2u) << name;
  }
  EXPECT_FALSE(c.HasProvider("lambda"));  // not in the default fleet
  // The local machine sells its CPUs and 1 or 2 of its H100s.
  size_t local = 0;
  for (const auto& o : c.offerings()) local += c.Name(o.provider) == "local";
  EXPECT_EQ(local, 3u);
}

TEST(FleetTest, BadEntriesAreLeftOutWithClearErrorsAndTheRestLoads) {
  auto fleet = ParseFleet(R"(providers:
  - {name: local, kind: local}
  - {name: aws, kind: simm}
  - {name: gcp, kind: sim, emulates: gcpp}
  - {name: oci, kind: sim, capacityy: 3}
  - {name: local, kind: local}
  - {name: x, kind: sim, emulates: aws, failures: [{error: tranzient}]}
  - {name: y, kind: sim, emulates: aws, regions: [mars-1]}
)",
                          "fleet.yaml", Builtin(), Machine());
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_EQ(fleet->Names(), std::vector<std::string>{"local"});
  ASSERT_EQ(fleet->errors.size(), 6u);
  EXPECT_THAT(fleet->errors[0], HasSubstr("fleet.yaml:3:"));
  EXPECT_THAT(fleet->errors[0],
              HasSubstr("providers[1].kind: unknown provider kind 'simm' (did you mean 'sim'?)"));
  EXPECT_THAT(fleet->errors[1],
              HasSubstr("the catalog has no provider 'gcpp' (did you mean 'gcp'?)"));
  EXPECT_THAT(fleet->errors[2], HasSubstr("capacityy: unknown field (did you mean 'capacity'?)"));
  EXPECT_THAT(fleet->errors[3], HasSubstr("'local' is declared twice"));
  EXPECT_THAT(fleet->errors[4],
              HasSubstr("'tranzient' is not an error kind (did you mean 'transient'?)"));
  EXPECT_THAT(fleet->errors[5], HasSubstr("no offering of 'aws' is left"));
}

TEST(FleetTest, FailoverSettingsAreRead) {
  auto fleet = ParseFleet(
      "failover: {block_seconds: 30, retry_base_seconds: 0.5, retry_cap_seconds: 10}\nproviders: "
      "[]\n",
      "f.yaml", Builtin(), Machine());
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  EXPECT_EQ(fleet->failover.block_ms, 30000);
  EXPECT_EQ(fleet->failover.retry_base_ms, 500);
  EXPECT_EQ(fleet->failover.retry_cap_ms, 10000);
  auto bad =
      ParseFleet("failover: {block_secs: 30}\nproviders: []\n", "f.yaml", Builtin(), Machine());
  EXPECT_THAT(bad.status().message(), HasSubstr("did you mean 'block_seconds'?"));
}

TEST(FleetTest, SchedulerSectionLoadsTheFleetFileAndChecksItsPools) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("awan-fleet-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "pools.yaml")
      << "start: 2026-01-01\npools:\n"
         "  - {name: cw, provider: coreweave, region: US-EAST-04, domain: d, "
         "accelerator: h100, accelerators_per_node: 8, nodes: 2}\n";
  const std::string providers =
      "providers:\n  - {name: coreweave, kind: sim, emulates: coreweave}\n";
  const std::string config = (dir / "config.yaml").string();
  std::ofstream(config) << "";  // a relative fleet file is read from the config file's folder
  auto fleet = ParseFleet(providers + "scheduler: {fleet: pools.yaml, policy: fairshare}\n", config,
                          Builtin(), Machine());
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  ASSERT_TRUE(fleet->scheduler.has_value());
  EXPECT_EQ(fleet->scheduler->policy, "fairshare");
  EXPECT_EQ(fleet->scheduler->model->TotalAccelerators(), 16);
  EXPECT_EQ(fleet->scheduler->fleet_file, (dir / "pools.yaml").string());
  EXPECT_FALSE(ParseFleet(providers, config, Builtin(), Machine())->scheduler.has_value());
  // Errors name the file, the field and what to do.
  auto bad = ParseFleet(providers + "scheduler: {fleet: pools.yaml, policy: lottery}\n", config,
                        Builtin(), Machine());
  EXPECT_THAT(bad.status().message(), HasSubstr("scheduler.policy: unknown policy 'lottery'"));
  bad = ParseFleet(providers + "scheduler: {policy: fifo}\n", config, Builtin(), Machine());
  EXPECT_THAT(bad.status().message(), HasSubstr("scheduler.fleet: name the fleet file"));
  bad = ParseFleet(
      "providers:\n  - {name: aws, kind: sim, emulates: aws}\nscheduler: {fleet: pools.yaml}\n",
      config, Builtin(), Machine());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("pool cw: provider 'coreweave' is not a provider of"));
  std::ofstream(dir / "pools.yaml")
      << "start: 2026-01-01\npools:\n"
         "  - {name: cw, provider: coreweave, region: US-EAST-04, domain: d, "
         "accelerator: H100, accelerators_per_node: 2, nodes: 2}\n";
  bad = ParseFleet(providers + "scheduler: {fleet: pools.yaml}\n", config, Builtin(), Machine());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("coreweave US-EAST-04 sells no node with 2 × H100; it sells"));
  std::ofstream(dir / "pools.yaml")
      << "start: 2026-01-01\npools:\n"
         "  - {name: a, provider: coreweave, region: US-EAST-04, domain: d, "
         "accelerator: H100, accelerators_per_node: 8, nodes: 2}\n"
         "  - {name: b, provider: coreweave, region: US-EAST-04, domain: e, "
         "accelerator: H100, accelerators_per_node: 4, nodes: 2}\n";
  bad = ParseFleet(providers + "scheduler: {fleet: pools.yaml}\n", config, Builtin(), Machine());
  EXPECT_THAT(bad.status().message(), HasSubstr("pools b and a sell H100 in nodes of 4 and 8"));
  std::filesystem::remove_all(dir);
}

TEST(FleetTest, NotAFleetConfigIsAnError) {
  EXPECT_FALSE(ParseFleet("name: x\n", "f.yaml", Builtin(), Machine()).ok());
  EXPECT_THAT(ParseFleet("providers: [\n", "f.yaml", Builtin(), Machine()).status().message(),
              HasSubstr("YAML syntax error"));
  EXPECT_THAT(
      ParseFleet("providers: []\nprovider: 1\n", "f.yaml", Builtin(), Machine()).status().message(),
      HasSubstr("did you mean 'providers'?"));
}

TEST(FleetTest, SimSettingsAreRead) {
  auto fleet = ParseFleet(R"(providers:
  - name: aws
    kind: sim
    regions: [us-east-1]
    default_capacity: 1
    capacity: {us-east-1/p5.48xlarge: 3}
    quota: {us-east-1: 5}
    delay_ms: [10, 20]
    spot_preemptions_per_hour: 0.5
    failures: [{error: capacity_unavailable, region: us-east-1, zone: us-east-1a, probability: 0.25}]
    seed: 7
)",
                          "f.yaml", Builtin(), Machine());
  ASSERT_TRUE(fleet.ok());
  ASSERT_TRUE(fleet->errors.empty()) << fleet->errors.front();
  const SimConfig& c = fleet->FindSim("aws")->config();
  EXPECT_EQ(c.regions, std::vector<std::string>{"us-east-1"});
  EXPECT_EQ(c.capacity.at("us-east-1/p5.48xlarge"), 3);
  EXPECT_EQ(c.quota.at("us-east-1"), 5);
  EXPECT_EQ(c.delay_max_ms, 20);
  EXPECT_EQ(c.failures.at(0).kind, ErrorKind::kCapacityUnavailable);
  EXPECT_DOUBLE_EQ(c.failures.at(0).probability, 0.25);
  EXPECT_EQ(c.seed, 7u);
}

TEST(FleetTest, NumbersOutOfRangeAreErrorsNotOverflows) {
  auto fleet = ParseFleet(R"(providers:
  - {name: aws, kind: sim, emulates: aws, default_capacity: 1e12}
  - {name: gcp, kind: sim, emulates: gcp, delay_ms: -5}
  - {name: oci, kind: sim, emulates: oci, failures: [{error: transient, probability: 2}]}
  - {name: lab, kind: slurm, nodes: 2147483648}
)",
                          "fleet.yaml", Builtin(), Machine());
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  ASSERT_EQ(fleet->errors.size(), 4u);
  EXPECT_THAT(fleet->errors[0], HasSubstr("providers[0].default_capacity: must be a number of at "
                                          "least 0 and at most 1000000, not 1e12"));
  EXPECT_THAT(fleet->errors[1], HasSubstr("providers[1].delay_ms: must be a number of at least 0"));
  EXPECT_THAT(fleet->errors[2],
              HasSubstr("probability: must be a number of at least 0 and at most 1"));
  EXPECT_THAT(fleet->errors[3], HasSubstr("providers[3].nodes: must be a number of at least 1 and "
                                          "at most 1000000, not 2147483648"));
}

TEST(ProviderKindsTest, BuiltinsAreRegisteredOnceAndADuplicateFailsLoudly) {
  EXPECT_EQ(BuiltinKinds().Names(), (std::vector<std::string>{"local", "sim", "slurm", "ssh"}));
  ProviderKinds kinds;
  RegisterBuiltins(kinds);
  try {
    kinds.Register("ssh", MakeSshProvider);
    ADD_FAILURE() << "a kind registered twice was accepted";
  } catch (const std::logic_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("provider kind 'ssh' is registered twice"));
  }
  EXPECT_EQ(kinds.Find("nope"), nullptr);
  EXPECT_NE(kinds.Find("sim"), nullptr);
}

}  // namespace
}  // namespace awan::providers

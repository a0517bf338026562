#include "awan/spec/task_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

namespace awan::spec {
namespace {

using ::testing::HasSubstr;

Task MustParse(std::string_view yaml) {
  auto task = ParseTask(yaml, "task.yaml", std::filesystem::temp_directory_path().string());
  EXPECT_TRUE(task.ok()) << task.status();
  return task.ok() ? *task : Task{};
}

std::string ErrorOf(std::string_view yaml) {
  auto task = ParseTask(yaml, "task.yaml", std::filesystem::temp_directory_path().string());
  EXPECT_FALSE(task.ok()) << "expected an error for:\n" << yaml;
  return task.ok() ? "" : std::string(task.status().message());
}

TEST(TaskParserTest, MinimalTaskHasOneCpuOnlyAlternative) {
  Task t = MustParse("run: echo hi\n");
  ASSERT_EQ(t.resources.size(), 1u);
  EXPECT_EQ(t.resources[0].accelerator, "");
  EXPECT_EQ(t.num_nodes, 1);
  EXPECT_EQ(t.run, "echo hi");
}

TEST(TaskParserTest, AcceleratorStringForms) {
  EXPECT_EQ(MustParse("resources: {accelerators: H100:8}").resources[0].accelerator_count, 8);
  Task one = MustParse("resources: {accelerators: H100}");
  EXPECT_EQ(one.resources[0].accelerator, "H100");
  EXPECT_EQ(one.resources[0].accelerator_count, 1);
  Task tpu = MustParse("resources: {accelerators: tpu-v6e-8}");
  EXPECT_EQ(tpu.resources[0].accelerator, "tpu-v6e-8");
  EXPECT_EQ(tpu.resources[0].accelerator_count, 1);
  Task map = MustParse("resources:\n  accelerators: {A100-80GB: 4}\n");
  EXPECT_EQ(map.resources[0].accelerator, "A100-80GB");
  EXPECT_EQ(map.resources[0].accelerator_count, 4);
}

TEST(TaskParserTest, AcceleratorSetAndListExpandToAlternatives) {
  Task set = MustParse("resources:\n  accelerators: {A100: 8, H100: 8}\n  cpus: 32+\n");
  ASSERT_EQ(set.resources.size(), 2u);
  EXPECT_EQ(set.order, ResourceOrder::kAnyOf);
  EXPECT_EQ(set.resources[0].accelerator, "A100");
  EXPECT_EQ(set.resources[1].accelerator, "H100");
  // Fields beside the set apply to every alternative.
  EXPECT_EQ(set.resources[1].cpus, (Quantity{32, true}));
  // A list is SkyPilot's order of preference: the first that has a placement wins.
  Task list = MustParse("resources:\n  accelerators: [L4:1, A10G:1]\n");
  ASSERT_EQ(list.resources.size(), 2u);
  EXPECT_EQ(list.resources[1].accelerator, "A10G");
  EXPECT_EQ(list.order, ResourceOrder::kOrdered);
}

// image_id is read (and each provider says whether it can honour it, at launch).
TEST(TaskParserTest, ImageIdIsRead) {
  Task t = MustParse("resources: {image_id: 'docker:nvcr.io/nvidia/pytorch:24.05-py3'}\n");
  EXPECT_EQ(t.resources[0].image_id, "docker:nvcr.io/nvidia/pytorch:24.05-py3");
  EXPECT_EQ(MustParse(TaskToYaml(t)).resources[0].image_id, t.resources[0].image_id);
  EXPECT_THAT(ErrorOf("resources: {image_id: 'docker:'}\n"), HasSubstr("names no image"));
  EXPECT_THAT(ErrorOf("resources: {image_id: {us-east-1: ami-1}}\n"),
              HasSubstr("per-region image ids are not supported"));
}

TEST(TaskParserTest, TiersAndAcceleratorAliases) {
  Task t =
      MustParse("resources: {accelerators: A100-40GB:8, disk_tier: Best, network_tier: best}\n");
  EXPECT_EQ(t.resources[0].accelerator, "A100");  // the catalog's name for the 40 GB part
  EXPECT_EQ(t.resources[0].disk_tier, "best");
  EXPECT_EQ(t.resources[0].network_tier, "best");
  EXPECT_EQ(MustParse(TaskToYaml(t)).resources[0].disk_tier, "best");
  EXPECT_THAT(ErrorOf("resources: {disk_tier: fast}\n"),
              HasSubstr("resources.disk_tier: 'fast' is not a disk_tier; use low, medium, high, "
                        "ultra or best"));
  EXPECT_THAT(ErrorOf("resources: {network_tier: premium}\n"),
              HasSubstr("'premium' is not a network_tier; use standard or best"));
}

// A pipeline's stages are never silently dropped: several documents are refused, naming them.
TEST(TaskParserTest, SeveralDocumentsAreRefusedNotDropped) {
  EXPECT_THAT(ErrorOf("name: pipe\n---\nname: a\nrun: echo a\n---\nname: b\nrun: echo b\n"),
              HasSubstr("task.yaml: has 3 YAML documents: a SkyPilot pipeline"));
  // One document with a leading `---` is one task.
  EXPECT_EQ(MustParse("---\nname: one\nrun: x\n").name, "one");
}

TEST(TaskParserTest, InfraWildcardsMeanAny) {
  Task t = MustParse("resources: {infra: gcp/*/us-central1-a}\n");
  EXPECT_EQ(t.resources[0].provider, "gcp");
  EXPECT_EQ(t.resources[0].region, "");
  EXPECT_EQ(t.resources[0].zone, "us-central1-a");
  t = MustParse("resources: {infra: '*/us-east-1'}\n");
  EXPECT_EQ(t.resources[0].provider, "");
  EXPECT_EQ(t.resources[0].region, "us-east-1");
  t = MustParse("resources: {infra: aws/*}\n");
  EXPECT_EQ(t.resources[0].provider, "aws");
  EXPECT_EQ(t.resources[0].region, "");
  // The normalised form keeps the wildcard, and reads back the same.
  const std::string yaml = TaskToYaml(MustParse("resources: {infra: gcp/*/us-central1-a}\n"));
  EXPECT_THAT(yaml, HasSubstr("infra: gcp/*/us-central1-a"));
  EXPECT_EQ(MustParse(yaml).resources[0].zone, "us-central1-a");
  // A zone still needs a region or a wildcard for it.
  EXPECT_THAT(ErrorOf("resources: {zone: us-central1-a}\n"), HasSubstr("a zone needs its region"));
}

TEST(TaskParserTest, AnyOfEntriesOverrideOuterFields) {
  Task t = MustParse(R"(
num_nodes: 4
resources:
  use_spot: true
  memory: 512+
  any_of:
    - accelerators: H100:8
      infra: aws/us-east-1
    - accelerators: H200:8
      use_spot: false
)");
  ASSERT_EQ(t.resources.size(), 2u);
  EXPECT_EQ(t.num_nodes, 4);
  EXPECT_EQ(t.resources[0].provider, "aws");
  EXPECT_EQ(t.resources[0].region, "us-east-1");
  EXPECT_TRUE(t.resources[0].use_spot);
  EXPECT_FALSE(t.resources[1].use_spot);
  EXPECT_EQ(t.resources[1].memory_gib, (Quantity{512, true}));
  EXPECT_EQ(t.resources[0].line, 7);
  EXPECT_EQ(t.resources[1].line, 9);
}

TEST(TaskParserTest, OrderedKeepsUserOrder) {
  Task t = MustParse(
      "resources:\n  ordered:\n    - {accelerators: H200:8}\n    - {accelerators: A100:8}\n");
  EXPECT_EQ(t.order, ResourceOrder::kOrdered);
  ASSERT_EQ(t.resources.size(), 2u);
  EXPECT_EQ(t.resources[0].accelerator, "H200");
}

TEST(TaskParserTest, QuantitiesPortsInfraAndCosts) {
  Task t = MustParse(R"(
resources:
  cpus: 8
  memory: "64+"
  infra: gcp/us-central1/us-central1-a
  ports: [8080, "9000-9010"]
  disk_size: 500
  max_hourly_cost: 120.5
  accelerator_flops: 3.1e21
)");
  const Resources& r = t.resources[0];
  EXPECT_EQ(r.cpus, (Quantity{8, false}));
  EXPECT_EQ(r.memory_gib, (Quantity{64, true}));
  EXPECT_EQ(r.provider, "gcp");
  EXPECT_EQ(r.zone, "us-central1-a");
  ASSERT_EQ(r.ports.size(), 2u);
  EXPECT_EQ(r.ports[1], (PortRange{9000, 9010}));
  EXPECT_EQ(r.disk_size_gib, 500);
  EXPECT_EQ(r.max_hourly_cost, 120.5);
  EXPECT_EQ(r.accelerator_flops, 3.1e21);
  EXPECT_TRUE(r.cpus->Admits(8));
  EXPECT_FALSE(r.cpus->Admits(16));
  EXPECT_TRUE(r.memory_gib->Admits(128));
}

TEST(TaskParserTest, CloudIsAnAliasOfInfraProvider) {
  Task t = MustParse("resources: {cloud: AWS, region: us-west-2}");
  EXPECT_EQ(t.resources[0].provider, "aws");
  EXPECT_EQ(t.resources[0].region, "us-west-2");
}

TEST(TaskParserTest, EnvsKeepOrderAndNullMeansRequired) {
  Task t = MustParse("envs:\n  B: 2\n  A: x\n  TOKEN:\nrun: echo\n");
  ASSERT_EQ(t.envs.size(), 3u);
  EXPECT_EQ(t.envs[0].first, "B");
  EXPECT_EQ(t.envs[0].second, "2");
  EXPECT_EQ(t.envs[2].second, std::nullopt);
}

TEST(TaskParserTest, UnknownFieldNamesLineFieldAndSuggestion) {
  std::string e = ErrorOf("name: x\nresources:\n  acelerators: H100:8\n");
  EXPECT_THAT(e, HasSubstr("task.yaml:3:3: resources.acelerators: unknown field"));
  EXPECT_THAT(e, HasSubstr("did you mean 'accelerators'?"));
  e = ErrorOf("nmae: x\n");
  EXPECT_THAT(e, HasSubstr("task.yaml:1:1: nmae"));
  EXPECT_THAT(e, HasSubstr("did you mean 'name'?"));
}

TEST(TaskParserTest, SkyPilotOnlyFieldsSayNotSupportedYet) {
  EXPECT_THAT(ErrorOf("volumes:\n  /v: x\n"),
              HasSubstr("volumes: is a SkyPilot field that awan does not support yet"));
  EXPECT_THAT(ErrorOf("resources:\n  labels: {a: b}\n"),
              HasSubstr("resources.labels: is a SkyPilot field"));
}

TEST(TaskParserTest, JobRecoveryTakesSkyPilotsForms) {
  Task t = MustParse(R"(
resources:
  accelerators: H100:8
  job_recovery:
    strategy: failover
    max_restarts_on_errors: 3
    recover_on_exit_codes: [33, 34]
)");
  ASSERT_TRUE(t.job_recovery());
  EXPECT_EQ(t.job_recovery()->strategy, RecoveryStrategy::kFailover);
  EXPECT_EQ(t.job_recovery()->max_restarts_on_errors, 3);
  EXPECT_EQ(t.job_recovery()->recover_on_exit_codes, (std::vector<int>{33, 34}));
  // A strategy name alone; a single exit code; SkyPilot's older spot_recovery; none.
  t = MustParse("resources: {job_recovery: EAGER_NEXT_REGION}\n");
  ASSERT_TRUE(t.job_recovery());
  EXPECT_EQ(t.job_recovery()->strategy, RecoveryStrategy::kEagerNextRegion);
  EXPECT_EQ(t.job_recovery()->max_restarts_on_errors, 0);
  t = MustParse("resources: {job_recovery: {recover_on_exit_codes: 33}}\n");
  EXPECT_EQ(t.job_recovery()->strategy, RecoveryStrategy::kEagerNextRegion);  // SkyPilot's default
  EXPECT_EQ(t.job_recovery()->recover_on_exit_codes, (std::vector<int>{33}));
  EXPECT_TRUE(MustParse("resources: {spot_recovery: FAILOVER}\n").job_recovery());
  EXPECT_FALSE(MustParse("resources: {job_recovery: none}\n").job_recovery());
  EXPECT_FALSE(MustParse("run: x\n").job_recovery());
  // Given once beside any_of, every alternative has it; it round-trips through TaskToYaml.
  t = MustParse(R"(
resources:
  job_recovery: {strategy: FAILOVER, max_restarts_on_errors: 2, recover_on_exit_codes: [7]}
  any_of: [{accelerators: H100:8}, {accelerators: A100-80GB:8}]
)");
  ASSERT_EQ(t.resources.size(), 2u);
  EXPECT_EQ(t.resources[0].job_recovery, t.resources[1].job_recovery);
  Task again = MustParse(TaskToYaml(t));
  EXPECT_EQ(again.job_recovery(), t.job_recovery());
  EXPECT_THAT(TaskToJson(t), HasSubstr("\"strategy\": \"FAILOVER\""));
}

TEST(TaskParserTest, JobRecoveryMistakesNameTheField) {
  EXPECT_THAT(ErrorOf("resources: {job_recovery: {strategy: NEAREST}}\n"),
              HasSubstr("resources.job_recovery.strategy: 'NEAREST' is not a recovery strategy; "
                        "write FAILOVER"));
  EXPECT_THAT(ErrorOf("resources: {job_recovery: {max_restarts_on_errors: -1}}\n"),
              HasSubstr("resources.job_recovery.max_restarts_on_errors: must be a whole number "
                        "from 0 to 1000"));
  EXPECT_THAT(ErrorOf("resources: {job_recovery: {recover_on_exit_codes: [33, 256]}}\n"),
              HasSubstr("recover_on_exit_codes: must be a whole number from 0 to 255, not 256"));
  EXPECT_THAT(ErrorOf("resources: {job_recovery: {max_restart: 1}}\n"),
              HasSubstr("resources.job_recovery.max_restart: unknown field (did you mean "
                        "'max_restarts_on_errors'?)"));
  EXPECT_THAT(ErrorOf("resources: {job_recovery: [FAILOVER]}\n"),
              HasSubstr("resources.job_recovery: must be a strategy name or a mapping"));
  EXPECT_THAT(ErrorOf(R"(
resources:
  any_of:
    - {accelerators: H100:8, job_recovery: FAILOVER}
    - {accelerators: A100-80GB:8}
)"),
              HasSubstr("resources.job_recovery: must be the same for every alternative"));
}

TEST(TaskParserTest, SecretsAreReadLikeEnvsAndShownByNameOnly) {
  Task t = MustParse("envs: {A: '1'}\nsecrets: {HF_TOKEN: hf-abc-123, LATER: null}\n");
  ASSERT_EQ(t.secrets.size(), 2u);
  EXPECT_EQ(t.secrets[0].second, "hf-abc-123");
  EXPECT_FALSE(t.secrets[1].second);
  EXPECT_THAT(TaskToYaml(t), ::testing::Not(HasSubstr("hf-abc-123")));
  EXPECT_THAT(TaskToJson(t), ::testing::Not(HasSubstr("hf-abc-123")));
  EXPECT_THAT(TaskToJson(t), HasSubstr("\"HF_TOKEN\""));
  EXPECT_THAT(ErrorOf("envs: {A: '1'}\nsecrets: {A: '2'}\n"),
              HasSubstr("secrets.A: is in envs too"));
  EXPECT_THAT(ErrorOf("secrets: {1BAD: x}\n"),
              HasSubstr("secrets.1BAD: is not a valid environment variable name"));
  EXPECT_THAT(ErrorOf("secrets: [x]\n"), HasSubstr("secrets: must be a mapping of NAME: value"));
  // Given at launch: set in the stored task.
  auto with = WithSecrets("secrets: {LATER: null}\nrun: x\n", {{"LATER", "v-9"}, {"NEW", "n-1"}});
  ASSERT_TRUE(with.ok());
  Task given = MustParse(*with);
  EXPECT_EQ(given.secrets.size(), 2u);
  EXPECT_EQ(given.secrets[0].second, "v-9");
}

TEST(TaskParserTest, AllErrorsAreReportedTogether) {
  std::string e =
      ErrorOf("num_nodes: 0\nresources:\n  cpus: lots\n  use_spot: maybe\n  ports: 70000\n");
  EXPECT_THAT(e, HasSubstr("task.yaml:1:12: num_nodes"));
  EXPECT_THAT(e, HasSubstr("task.yaml:3:9: resources.cpus"));
  EXPECT_THAT(e, HasSubstr("task.yaml:4:13: resources.use_spot: must be true or false"));
  EXPECT_THAT(e, HasSubstr("task.yaml:5:10: resources.ports"));
}

TEST(TaskParserTest, BadAcceleratorValues) {
  EXPECT_THAT(ErrorOf("resources: {accelerators: 'H100:x'}"),
              HasSubstr("write NAME or NAME:COUNT"));
  EXPECT_THAT(ErrorOf("resources: {accelerators: 'H100:0.5'}"),
              HasSubstr("fractional accelerators are not supported"));
  EXPECT_THAT(ErrorOf("resources: {accelerators: 'H100:0'}"), HasSubstr("at least 1"));
  EXPECT_THAT(ErrorOf("resources: {accelerators: {H100: [8]}}"),
              HasSubstr("count must be a number"));
}

TEST(TaskParserTest, ConflictsAndStructure) {
  EXPECT_THAT(ErrorOf("resources: {infra: aws, cloud: gcp}"),
              HasSubstr("either `infra` or `cloud`"));
  EXPECT_THAT(
      ErrorOf("resources:\n  any_of: [{accelerators: H100}]\n  ordered: [{accelerators: A100}]\n"),
      HasSubstr("either `any_of` or `ordered`"));
  EXPECT_THAT(ErrorOf("resources:\n  any_of: []\n"), HasSubstr("non-empty list"));
  EXPECT_THAT(ErrorOf("resources:\n  any_of:\n    - any_of: []\n"), HasSubstr("cannot be nested"));
  EXPECT_THAT(ErrorOf("resources: {zone: us-east-1a}"), HasSubstr("a zone needs its region"));
  EXPECT_THAT(ErrorOf("- just\n- a list\n"), HasSubstr("must be a YAML mapping"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("the task file is empty"));
  EXPECT_THAT(ErrorOf("run: [1, 2]\n"), HasSubstr("run: must be a string"));
  EXPECT_THAT(ErrorOf("envs:\n  1BAD: x\n"), HasSubstr("not a valid environment variable name"));
}

TEST(TaskParserTest, YamlSyntaxErrorNamesLine) {
  EXPECT_THAT(ErrorOf("name: x\nresources: {accelerators: H100:8\nrun: echo\n"),
              HasSubstr("YAML syntax error"));
}

TEST(TaskParserTest, LocalPathsAreResolvedAgainstTheTaskFolderAndMustExist) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "awan_spec_test_paths";
  fs::create_directories(dir / "code");
  auto t = ParseTask("workdir: code\nfile_mounts:\n  /data: code\n", "t.yaml", dir.string());
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->workdir, fs::weakly_canonical(dir / "code").string());
  EXPECT_EQ(t->file_mounts[0].first, "/data");
  auto missing = ParseTask("workdir: nope\n", "t.yaml", dir.string());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(),
              HasSubstr("t.yaml:1:10: workdir: local path 'nope' does not exist"));
  // A bucket URL is a storage mount now (COPY, as SkyPilot does); a workdir must be local.
  auto remote = ParseTask("file_mounts:\n  /d: s3://bucket/x\n", "t.yaml", dir.string());
  ASSERT_TRUE(remote.ok()) << remote.status();
  EXPECT_EQ(remote->storage_mounts.size(), 1u);
  auto remote_workdir = ParseTask("workdir: s3://bucket/x\n", "t.yaml", dir.string());
  ASSERT_FALSE(remote_workdir.ok());
  EXPECT_THAT(remote_workdir.status().message(),
              HasSubstr("a git repository is workdir: {url, ref}"));
  // A git workdir: a remote URL as given, a local repository's path resolved; ref optional.
  auto git = ParseTask("workdir: {url: 'https://github.com/org/repo.git', ref: v1.2}\n", "t.yaml",
                       dir.string());
  ASSERT_TRUE(git.ok()) << git.status();
  ASSERT_TRUE(git->workdir_git);
  EXPECT_EQ(git->workdir_git->url, "https://github.com/org/repo.git");
  EXPECT_EQ(git->workdir_git->ref, "v1.2");
  EXPECT_EQ(git->workdir, "");
  auto local_git = ParseTask("workdir: {url: code}\n", "t.yaml", dir.string());
  ASSERT_TRUE(local_git.ok()) << local_git.status();
  EXPECT_EQ(local_git->workdir_git->url, fs::weakly_canonical(dir / "code").string());
  Task again = *ParseTask(TaskToYaml(*git), "again.yaml", dir.string());
  EXPECT_EQ(again.workdir_git, git->workdir_git);
  EXPECT_THAT(ParseTask("workdir: {ref: main}\n", "t.yaml", dir.string()).status().message(),
              HasSubstr("workdir.url: is required"));
  EXPECT_THAT(ParseTask("workdir: {url: 'https://x/y.git', ref: '--upload-pack=evil'}\n", "t.yaml",
                        dir.string())
                  .status()
                  .message(),
              HasSubstr("is not a branch, tag or commit"));
  fs::remove_all(dir);
}

TEST(TaskParserTest, StorageMountsTakeSkyPilotsForms) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "awan_spec_test_storage";
  fs::create_directories(dir / "data");
  auto t = ParseTask(R"(
envs: {RUN: r7, TEAM: nlp}
file_mounts:
  /ckpt: {name: "ckpt-${RUN}", store: local, mode: MOUNT}
  /data: {name: ds-$TEAM, source: data, mode: COPY, persistent: false}
  /cache: {source: s3://shared-bucket/models/llama/, mode: MOUNT_CACHED}
  /imagenet: gs://public-imagenet/train
  /plain: data
)",
                     "t.yaml", dir.string());
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->storage_mounts.size(), 4u);
  const StorageMount& ckpt = t->storage_mounts[0];
  EXPECT_EQ(ckpt.path, "/ckpt");
  EXPECT_EQ(ckpt.name, "ckpt-r7");  // envs substituted, ${VAR} and $VAR
  EXPECT_EQ(ckpt.store, "local");
  EXPECT_EQ(ckpt.mode, StorageMode::kMount);
  EXPECT_TRUE(ckpt.persistent);
  const StorageMount& data = t->storage_mounts[1];
  EXPECT_EQ(data.name, "ds-nlp");
  EXPECT_EQ(data.store, "");  // the server's default store
  EXPECT_EQ(data.source, fs::weakly_canonical(dir / "data").string());  // relative to the file
  EXPECT_EQ(data.mode, StorageMode::kCopy);
  EXPECT_FALSE(data.persistent);
  const StorageMount& cache = t->storage_mounts[2];
  EXPECT_EQ(cache.store, "s3");
  EXPECT_EQ(cache.name, "shared-bucket");
  EXPECT_EQ(cache.prefix, "models/llama");
  EXPECT_EQ(cache.mode, StorageMode::kMountCached);
  const StorageMount& imagenet = t->storage_mounts[3];
  EXPECT_EQ(imagenet.store, "gcs");
  EXPECT_EQ(imagenet.mode, StorageMode::kCopy);  // a URL alone is copied
  ASSERT_EQ(t->file_mounts.size(), 1u);          // a local path is still copied
  // The normalised YAML reads back the same.
  auto again = ParseTask(TaskToYaml(*t), "again.yaml", dir.string());
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << TaskToYaml(*t);
  std::vector<StorageMount> a = t->storage_mounts, b = again->storage_mounts;
  for (auto* v : {&a, &b}) {
    for (StorageMount& m : *v) m.line = 0;
  }
  EXPECT_EQ(a, b);
  EXPECT_THAT(TaskToJson(*t), HasSubstr("\"mode\": \"MOUNT_CACHED\""));
  fs::remove_all(dir);
}

TEST(TaskParserTest, StorageMountMistakesNameTheField) {
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {name: My_Bucket}\n"),
              HasSubstr("file_mounts./c.name: 'My_Bucket' is not a bucket name"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {name: ab, store: local}\n"),
              HasSubstr("'ab' is not a bucket name"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {name: abc, store: dropbox}\n"),
              HasSubstr("file_mounts./c.store: 'dropbox' is not a store awan reaches"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {name: abc, mode: SYNC}\n"),
              HasSubstr("file_mounts./c.mode: 'SYNC' is not a mode; use MOUNT, COPY or "
                        "MOUNT_CACHED"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {mode: MOUNT}\n"),
              HasSubstr("file_mounts./c: needs the bucket: give name"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {source: s3://abc, store: gcs}\n"),
              HasSubstr("file_mounts./c.store: is gcs but the source is a s3 URL"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {name: abc, source: s3://xyz}\n"),
              HasSubstr("names bucket 'xyz' but name is 'abc'"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: cos://abc/x\n"),
              HasSubstr("this scheme is not supported"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {name: ckpt-$RUN}\n"),
              HasSubstr("uses $RUN but the task's envs give it no value"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  rel: {name: abc}\n"),
              HasSubstr("a bucket is attached at an absolute path"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {name: abc, persistent: maybe}\n"),
              HasSubstr("file_mounts./c.persistent"));
  EXPECT_THAT(ErrorOf("file_mounts:\n  /c: {name: abc, sorce: x}\n"),
              HasSubstr("did you mean 'source'?"));
}

TEST(TaskParserTest, LoadTaskFileReportsMissingFile) {
  auto t = LoadTaskFile("/nonexistent/task.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(t.status().message(), HasSubstr("/nonexistent/task.yaml"));
}

TEST(TaskParserTest, NormalisedYamlRoundTrips) {
  const char* yaml = R"(
name: rt
num_nodes: 2
resources:
  memory: 64+
  ports: [8080, 9000-9001]
  ordered:
    - {infra: aws/us-east-1/us-east-1a, accelerators: H100:8, use_spot: true}
    - {accelerators: A100-80GB:8, max_hourly_cost: 99.5, accelerator_flops: 1e21}
envs: {A: "1", B: null}
setup: pip install x
run: |
  echo one
  echo two
)";
  Task first = MustParse(yaml);
  Task second = MustParse(TaskToYaml(first));
  for (Task* t : {&first, &second}) {
    for (Resources& r : t->resources) r.line = 0;  // the two texts differ in layout, not meaning
  }
  EXPECT_EQ(first.resources, second.resources);
  EXPECT_EQ(first.order, second.order);
  EXPECT_EQ(first.envs, second.envs);
  EXPECT_EQ(first.run, second.run);
  EXPECT_EQ(first.setup, second.setup);
  EXPECT_EQ(first.num_nodes, second.num_nodes);
  EXPECT_THAT(TaskToJson(first), HasSubstr("\"resources_order\": \"ordered\""));
}

TEST(TaskParserTest, ExampleTasksAllParse) {
  namespace fs = std::filesystem;
  int count = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(AWAN_SOURCE_DIR) / "examples/tasks")) {
    if (entry.path().extension() != ".yaml") continue;
    auto t = LoadTaskFile(entry.path().string());
    EXPECT_TRUE(t.ok()) << entry.path() << ": " << t.status();
    ++count;
  }
  EXPECT_GE(count, 5);
  for (const auto& entry :
       fs::directory_iterator(fs::path(AWAN_SOURCE_DIR) / "examples/tasks/broken")) {
    EXPECT_FALSE(LoadTaskFile(entry.path().string()).ok()) << entry.path();
  }
}

TEST(TaskParserTest, SchedulingBlockIsReadAndRoundTrips) {
  const Task t = MustParse(
      "resources: {accelerators: H100:8}\nscheduling:\n  team: research\n  priority: -5\n  "
      "preemptible: yes\n"
      "  estimated_duration: 90m\nrun: train\n");
  EXPECT_EQ(t.scheduling.team, "research");
  EXPECT_EQ(t.scheduling.priority, -5);
  EXPECT_TRUE(t.scheduling.preemptible);
  EXPECT_EQ(t.scheduling.estimated_duration_s, 5400);
  EXPECT_EQ(MustParse(TaskToYaml(t)).scheduling, t.scheduling);
  EXPECT_THAT(TaskToJson(t), HasSubstr("\"estimated_duration_s\": 5400"));
  EXPECT_EQ(MustParse("run: x\n").scheduling, Scheduling{});
}

TEST(TaskParserTest, SchedulingErrorsNameTheField) {
  const std::string e = ErrorOf(
      "scheduling:\n  priority: high\n  preemptible: maybe\n  estimated_duration: soon\n  teem: "
      "x\nrun: x\n");
  EXPECT_THAT(e, HasSubstr("task.yaml:2:13: scheduling.priority: 'high' is not a number"));
  EXPECT_THAT(e, HasSubstr("task.yaml:3:16: scheduling.preemptible: must be true or false"));
  EXPECT_THAT(
      e, HasSubstr("task.yaml:4:23: scheduling.estimated_duration: must be a positive duration"));
  EXPECT_THAT(e, HasSubstr("task.yaml:5:3: scheduling.teem: unknown field (did you mean 'team'?)"));
  EXPECT_THAT(ErrorOf("scheduling: {priority: 1.5}\nrun: x\n"),
              HasSubstr("must be a whole number"));
  EXPECT_THAT(ErrorOf("scheduling: [1]\nrun: x\n"), HasSubstr("scheduling: must be a mapping"));
}

TEST(TaskParserTest, NumbersOutOfRangeAreErrorsNotOverflows) {
  EXPECT_THAT(ErrorOf("resources: {accelerators: 'H100:1e12'}\nrun: x\n"),
              HasSubstr("task.yaml:1:27: resources.accelerators: count in 'H100:1e12' must be a "
                        "whole number of at least 1 and at most 4096"));
  EXPECT_THAT(ErrorOf("resources: {accelerators: {H100: 2147483648}}\nrun: x\n"),
              HasSubstr("at most 4096"));
  EXPECT_THAT(ErrorOf("resources: {cpus: 1e12}\nrun: x\n"),
              HasSubstr("resources.cpus: 1e12 is more than any machine has (at most 100000)"));
  EXPECT_THAT(ErrorOf("resources: {memory: 1e300+}\nrun: x\n"), HasSubstr("resources.memory"));
  EXPECT_THAT(ErrorOf("num_nodes: 2147483648\nrun: x\n"), HasSubstr("num_nodes"));
  EXPECT_THAT(ErrorOf("scheduling: {estimated_duration: 1e300d}\nrun: x\n"),
              HasSubstr("scheduling.estimated_duration: must be a positive duration of at most "
                        "3650d"));
  EXPECT_THAT(ErrorOf("resources: {max_hourly_cost: 1e300}\nrun: x\n"),
              HasSubstr("at most 10000000"));
  EXPECT_EQ(MustParse("resources: {accelerators: H100:8, cpus: 96+, memory: 2048}\nrun: x\n")
                .resources[0]
                .accelerator_count,
            8);
}

}  // namespace
}  // namespace awan::spec

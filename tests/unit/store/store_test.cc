// One suite, run against SQLite (a temp file) and a real PostgreSQL server started by the test.
#include "awan/store/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>

#include "support/postgres_server.h"

namespace awan::store {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

awan::testing::PostgresServer& Postgres() {
  static awan::testing::PostgresServer* server =
      new awan::testing::PostgresServer();  // stopped at exit
  return *server;
}

struct PostgresStopper : ::testing::Environment {
  void TearDown() override { delete &Postgres(); }
};
const auto* const kStopper = ::testing::AddGlobalTestEnvironment(new PostgresStopper);

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string db = "t" + std::to_string(getpid()) + "_" + std::to_string(counter_++);
    if (GetParam() == "postgres") {
      if (!Postgres().Available()) GTEST_SKIP() << Postgres().Why();
      url_ = Postgres().NewDatabase(db);
    } else {
      dir_ = fs::temp_directory_path() / ("awan-store-" + db);
      fs::create_directories(dir_);
      url_ = (dir_ / "awan.db").string();
    }
    store_ = Open();
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) fs::remove_all(dir_);
  }
  std::unique_ptr<Store> Open() {
    auto s = OpenStore(url_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  int64_t NewJob(const std::string& name = "job") {
    auto id = store_->CreateJob({name, 2, "run: echo hi\n", "task.yaml", "/tmp"}, 1000);
    EXPECT_TRUE(id.ok()) << id.status();
    return *id;
  }

  static inline int counter_ = 0;
  std::string url_;
  fs::path dir_;
  std::unique_ptr<Store> store_;
};

TEST_P(StoreTest, MigratesOnceAndDescribesItself) {
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(*store_->SchemaVersion(), 6);
  store_.reset();
  store_ = Open();  // reopening applies nothing twice
  EXPECT_EQ(*store_->SchemaVersion(), 6);
  EXPECT_THAT(store_->Describe(),
              HasSubstr(GetParam() == "postgres" ? "postgresql://" : "sqlite:"));
}

TEST_P(StoreTest, CreateAndGetRoundTripsEveryField) {
  const int64_t id = NewJob("train");
  auto job = store_->GetJob(id);
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->id, id);
  EXPECT_EQ(job->name, "train");
  EXPECT_EQ(job->state, JobState::kPending);
  EXPECT_EQ(job->num_nodes, 2);
  EXPECT_EQ(job->task_yaml, "run: echo hi\n");
  EXPECT_EQ(job->task_source, "task.yaml");
  EXPECT_EQ(job->task_base_dir, "/tmp");
  EXPECT_EQ(job->submitted_at, 1000);
  EXPECT_EQ(job->started_at, 0);
  EXPECT_FALSE(job->exit_code.has_value());
  EXPECT_EQ(job->record_version, kJobRecordVersion);
  auto events = store_->ListEvents(id);
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].type, "submitted");
}

TEST_P(StoreTest, TransitionsWriteStateTimesPlacementAndEvents) {
  const int64_t id = NewJob();
  Transition t = MakeTransition(JobState::kPending, JobState::kProvisioning, "placed", 2000);
  t.provider = "local";
  t.region = "local";
  t.instance_type = "host";
  ASSERT_TRUE(store_->ApplyTransition(id, t).ok());
  ASSERT_TRUE(store_
                  ->ApplyTransition(
                      id, MakeTransition(JobState::kProvisioning, JobState::kRunning, "", 3000))
                  .ok());
  Transition done = MakeTransition(JobState::kRunning, JobState::kSucceeded, "exit 0", 4000);
  done.exit_code = 0;
  ASSERT_TRUE(store_->ApplyTransition(id, done).ok());
  auto job = store_->GetJob(id);
  EXPECT_EQ(job->state, JobState::kSucceeded);
  EXPECT_EQ(job->provider, "local");
  EXPECT_EQ(job->instance_type, "host");
  EXPECT_EQ(job->started_at, 3000);
  EXPECT_EQ(job->ended_at, 4000);
  EXPECT_EQ(job->exit_code, 0);
  EXPECT_EQ(job->reason, "exit 0");
  auto events = store_->ListEvents(id);
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[1].message, "PENDING → PROVISIONING: placed");
  EXPECT_EQ((*events)[3].time, 4000);
}

TEST_P(StoreTest, WrongOrIllegalTransitionsWriteNothing) {
  const int64_t id = NewJob();
  absl::Status wrong_from =
      store_->ApplyTransition(id, MakeTransition(JobState::kRunning, JobState::kSucceeded, "", 5));
  EXPECT_EQ(wrong_from.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong_from.message(), HasSubstr("is PENDING, not RUNNING"));
  absl::Status illegal =
      store_->ApplyTransition(id, MakeTransition(JobState::kPending, JobState::kSucceeded, "", 5));
  EXPECT_EQ(illegal.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->GetJob(id)->state, JobState::kPending);
  EXPECT_EQ(store_->ListEvents(id)->size(), 1u);
  ASSERT_TRUE(
      store_
          ->ApplyTransition(id, MakeTransition(JobState::kPending, JobState::kCancelled, "user", 6))
          .ok());
  // Terminal states are final.
  EXPECT_FALSE(
      store_->ApplyTransition(id, MakeTransition(JobState::kCancelled, JobState::kFailed, "", 7))
          .ok());
}

TEST_P(StoreTest, UnknownJobsAreNotFound) {
  EXPECT_EQ(store_->GetJob(999).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->ListEvents(999).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(
      store_->ApplyTransition(999, MakeTransition(JobState::kPending, JobState::kFailed, "", 1))
          .code(),
      absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RequestCancel(999, 1).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoreTest, RetryUntilUpIsKept) {
  auto id = store_->CreateJob({"r", 1, "run: x\n", "t.yaml", "/", true}, 1);
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(store_->GetJob(*id)->retry_until_up);
  EXPECT_FALSE(store_->GetJob(NewJob())->retry_until_up);
}

TEST_P(StoreTest, CancelRequestIsRecordedOnce) {
  const int64_t id = NewJob();
  ASSERT_TRUE(store_->RequestCancel(id, 10).ok());
  ASSERT_TRUE(store_->RequestCancel(id, 11).ok());
  EXPECT_TRUE(store_->GetJob(id)->cancel_requested);
  EXPECT_EQ(store_->ListEvents(id)->size(), 2u);
}

TEST_P(StoreTest, ListJobsPagesNewestFirstAndFiltersActive) {
  std::vector<int64_t> ids;
  for (int i = 0; i < 250; ++i) ids.push_back(NewJob("j" + std::to_string(i)));
  ASSERT_TRUE(
      store_
          ->ApplyTransition(ids[249], MakeTransition(JobState::kPending, JobState::kFailed, "", 1))
          .ok());
  auto page1 = store_->ListJobs({100, 0, false});
  ASSERT_EQ(page1->size(), 100u);
  EXPECT_EQ(page1->front().id, ids[249]);
  auto page3 = store_->ListJobs({100, (*store_->ListJobs({200, 0, false})).back().id, false});
  ASSERT_EQ(page3->size(), 50u);
  EXPECT_EQ(page3->back().id, ids[0]);
  auto active = store_->ListJobs({1000, 0, true});
  EXPECT_EQ(active->size(), 249u);
}

TEST_P(StoreTest, NodesAndProvidersUpsert) {
  const int64_t id = NewJob();
  ASSERT_TRUE(store_->PutNode({id, 0, "local", "host", "/w/0", "0", "alloc-1", "1234:99"}).ok());
  ASSERT_TRUE(store_->PutNode({id, 1, "local", "host", "/w/1", "1", "", "1235:98"}).ok());
  ASSERT_TRUE(store_->PutNode({id, 0, "local", "host", "/w/0", "0", "", "4321:97"}).ok());
  auto nodes = store_->ListNodes(id);
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].handle, "4321:97");
  EXPECT_EQ((*nodes)[1].gpus, "1");
  EXPECT_EQ((*nodes)[0].allocation, "");  // replaced by the third PutNode
  ASSERT_TRUE(store_->PutNode({id, 1, "sim", "h", "/w/1", "", "alloc-9", "1:1"}).ok());
  EXPECT_EQ(store_->ListNodes(id)->at(1).allocation, "alloc-9");
  ASSERT_TRUE(store_->PutProvider({"local", "local", "{}", 5}).ok());
  ASSERT_TRUE(store_->PutProvider({"local", "local", "{\"cpus\":2}", 6}).ok());
  auto providers = store_->ListProviders();
  ASSERT_EQ(providers->size(), 1u);
  EXPECT_EQ((*providers)[0].config, "{\"cpus\":2}");
}

TEST_P(StoreTest, DataSurvivesReopening) {
  const int64_t id = NewJob("durable");
  ASSERT_TRUE(
      store_
          ->ApplyTransition(id, MakeTransition(JobState::kPending, JobState::kProvisioning, "", 2))
          .ok());
  store_.reset();
  store_ = Open();
  auto job = store_->GetJob(id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->name, "durable");
  EXPECT_EQ(job->state, JobState::kProvisioning);
  EXPECT_EQ(NewJob(), id + 1);
}

TEST_P(StoreTest, TextWithQuotesAndUnicodeIsKept) {
  auto id = store_->CreateJob({"it's \"quoted\" — ünï", 1, "run: echo 'a;b'\n", "t.yaml", "/"}, 1);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(store_->GetJob(*id)->name, "it's \"quoted\" — ünï");
  EXPECT_EQ(store_->GetJob(*id)->task_yaml, "run: echo 'a;b'\n");
}

TEST_P(StoreTest, ServicesKeepOneLiveNameTheirReplicasAndEvents) {
  ServiceRecord s;
  s.name = "echo";
  s.task_yaml = "run: serve\n";
  s.task_source = "echo.yaml";
  s.task_base_dir = "/tmp";
  s.port = 30001;
  auto id = store_->CreateService(s, 1000);
  ASSERT_TRUE(id.ok()) << id.status();
  // A second live service of that name is refused; nothing is written.
  auto again = store_->CreateService(s, 1001);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_EQ(store_->ListServices(false)->size(), 1u);

  // Replicas are jobs with the service's id; plain jobs are told apart.
  const int64_t plain = NewJob("plain");
  store::NewJob r{"echo-1", 1, "run: serve\n", "echo.yaml", "/tmp"};
  r.service_id = *id;
  r.service_version = 1;
  r.replica_port = 20001;
  auto rid = store_->CreateJob(r, 1002);
  ASSERT_TRUE(rid.ok());
  JobQuery replicas;
  replicas.service_id = *id;
  auto listed = store_->ListJobs(replicas);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, *rid);
  EXPECT_EQ((*listed)[0].service_version, 1);
  EXPECT_EQ((*listed)[0].replica_port, 20001);
  JobQuery own;
  own.service_id = 0;
  ASSERT_EQ(store_->ListJobs(own)->size(), 1u);
  EXPECT_EQ((*store_->ListJobs(own))[0].id, plain);

  auto got = store_->FindService("echo");
  ASSERT_TRUE(got.ok());
  got->version = 2;
  got->update_mode = "rolling";
  got->state = ServiceState::kDown;
  got->ended_at = 2000;
  ASSERT_TRUE(store_->UpdateService(*got, {*id, 2000, "state", "down"}).ok());
  got = store_->GetService(*id);
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(got->state, ServiceState::kDown);
  EXPECT_EQ(got->port, 30001);
  EXPECT_EQ(got->updated_at, 2000);
  // The name is free again once DOWN; FindService prefers the live one.
  auto second = store_->CreateService(s, 3000);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(store_->FindService("echo")->id, *second);
  EXPECT_EQ(store_->ListServices(true)->size(), 1u);
  EXPECT_EQ(store_->FindService("nope").status().code(), absl::StatusCode::kNotFound);
  // Keys: only hashes, revoked once.
  auto key = store_->AddServiceKey({0, *id, "ci", "ab12", 2100, 0});
  ASSERT_TRUE(key.ok()) << key.status();
  ASSERT_TRUE(store_->RevokeServiceKey(*id, *key, 2200).ok());
  ASSERT_TRUE(store_->RevokeServiceKey(*id, *key, 2300).ok());
  EXPECT_EQ(store_->RevokeServiceKey(*id, 999, 2300).code(), absl::StatusCode::kNotFound);
  auto keys = store_->ListServiceKeys(*id);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_EQ((*keys)[0].sha256, "ab12");
  EXPECT_EQ((*keys)[0].revoked_at, 2200);
  auto events = store_->ListServiceEvents(*id);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].type, "created");
  EXPECT_EQ((*events)[1].message, "down");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(StoreOpenTest, BadUrlsAreClearErrors) {
  auto pg = OpenStore("postgresql://awan@127.0.0.1:1/none");
  ASSERT_FALSE(pg.ok());
  EXPECT_THAT(pg.status().message(), HasSubstr("cannot connect to PostgreSQL"));
  auto pw = OpenStore("postgresql://awan:secret@127.0.0.1:1/none");
  EXPECT_THAT(pw.status().message(), ::testing::Not(HasSubstr("secret")));
  auto sqlite = OpenStore("/nonexistent/dir/awan.db");
  ASSERT_FALSE(sqlite.ok());
  EXPECT_THAT(sqlite.status().message(), HasSubstr("cannot open"));
}

// A store written by an awan before node handles became the provider's (schema version 2: the
// local machine's pid and its start time in two columns) opens with each started node's handle
// in the form the process-group providers read back, and a node that never started without one.
TEST(StoreMigrationTest, Version2NodesKeepTheirProcessAsTheirHandle) {
  const fs::path dir = fs::temp_directory_path() / ("awan-store-v2-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "awan.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const char* v2 = R"(
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL);
INSERT INTO schema_migrations VALUES (1, 1000), (2, 1000);
CREATE TABLE jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, state TEXT NOT NULL,
  exit_code INTEGER, provider TEXT NOT NULL DEFAULT '', region TEXT NOT NULL DEFAULT '',
  zone TEXT NOT NULL DEFAULT '', instance_type TEXT NOT NULL DEFAULT '',
  num_nodes INTEGER NOT NULL, task_yaml TEXT NOT NULL, task_source TEXT NOT NULL,
  task_base_dir TEXT NOT NULL, submitted_at BIGINT NOT NULL, started_at BIGINT NOT NULL DEFAULT 0,
  ended_at BIGINT NOT NULL DEFAULT 0, reason TEXT NOT NULL DEFAULT '',
  cancel_requested INTEGER NOT NULL DEFAULT 0, record_version INTEGER NOT NULL DEFAULT 1,
  retry_until_up INTEGER NOT NULL DEFAULT 0);
CREATE INDEX jobs_by_state ON jobs(state);
CREATE TABLE job_events (id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id BIGINT NOT NULL REFERENCES jobs(id), time BIGINT NOT NULL, type TEXT NOT NULL,
  message TEXT NOT NULL);
CREATE INDEX job_events_by_job ON job_events(job_id, id);
CREATE TABLE nodes (job_id BIGINT NOT NULL REFERENCES jobs(id), rank INTEGER NOT NULL,
  provider TEXT NOT NULL, host TEXT NOT NULL, pid BIGINT NOT NULL DEFAULT 0,
  pid_start BIGINT NOT NULL DEFAULT 0, workdir TEXT NOT NULL, gpus TEXT NOT NULL DEFAULT '',
  allocation TEXT NOT NULL DEFAULT '', PRIMARY KEY (job_id, rank));
CREATE TABLE providers (name TEXT PRIMARY KEY, kind TEXT NOT NULL, config TEXT NOT NULL,
  updated_at BIGINT NOT NULL);
INSERT INTO jobs (name, state, num_nodes, task_yaml, task_source, task_base_dir, submitted_at)
  VALUES ('train', 'RUNNING', 2, 'run: sleep 1', 'task.yaml', '/tmp', 1000);
INSERT INTO nodes VALUES (1, 0, 'local', 'host', 4321, 97, '/w/0', '0', '');
INSERT INTO nodes VALUES (1, 1, 'local', 'host', 0, 0, '/w/1', '1', '');
)";
    char* error = nullptr;
    ASSERT_EQ(sqlite3_exec(db, v2, nullptr, nullptr, &error), SQLITE_OK) << error;
    sqlite3_close(db);
  }
  auto store = OpenStore(path);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ(*(*store)->SchemaVersion(), 6);
  auto nodes = (*store)->ListNodes(1);
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].handle, "4321:97");
  EXPECT_EQ((*nodes)[0].workdir, "/w/0");
  EXPECT_EQ((*nodes)[1].handle, "");
  EXPECT_EQ((*nodes)[1].gpus, "1");
  EXPECT_EQ((*store)->GetJob(1)->name, "train");
  store->reset();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace awan::store

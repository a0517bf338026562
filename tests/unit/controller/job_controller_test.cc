// The controller with the real local provider: real processes, a real SQLite store in a temp dir.
// The loop thread is not started; tests drive ReconcileOnce() and wait for real process exits.
#include "awan/controller/job_controller.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <thread>

#include "awan/catalog/catalog.h"
#include "awan/providers/fleet.h"
#include "awan/providers/local.h"
#include "support/command.h"

namespace awan::controller {
namespace {

namespace fs = std::filesystem;
using store::JobState;
using ::testing::HasSubstr;

bool Alive(pid_t pid) { return awan::testing::ProcessAlive(pid); }
std::string Slurp(const fs::path& p) { return awan::testing::ReadFile(p.string()); }

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = fs::temp_directory_path() /
            ("awan-ctl-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(home_);
    fs::create_directories(home_);
    auto s = store::OpenStore((home_ / "awan.db").string());
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
    machine_.cpus = 4;
    machine_.memory_gib = 16;
    machine_.hostname = "testhost";
    machine_.gpus = {{0, "NVIDIA H100 80GB HBM3", 80}, {1, "NVIDIA H100 80GB HBM3", 80}};
    NewController();
  }
  void TearDown() override {
    controller_.reset();
    fs::remove_all(home_);
  }
  void NewController() {
    ControllerOptions options;
    options.home = home_.string();
    options.cancel_grace_ms = 1000;
    controller_ = std::make_unique<JobController>(*store_, machine_, options);
  }
  int64_t Submit(const std::string& yaml) {
    auto id = controller_->Submit(yaml, "task.yaml", home_.string());
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : 0;
  }
  JobState State(int64_t id) { return store_->GetJob(id)->state; }
  // Reconciles until the job is in `want` (or 10 s pass).
  bool WaitFor(int64_t id, JobState want) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      controller_->ReconcileOnce();
      if (State(id) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string Log(int64_t id) { return Slurp(controller_->LogPath(id)); }

  fs::path home_;
  std::unique_ptr<store::Store> store_;
  providers::LocalResources machine_;
  std::unique_ptr<JobController> controller_;
};

TEST_F(ControllerTest, RunsSetupThenRunWithItsEnvironment) {
  const int64_t id = Submit(R"(
name: hello
envs: {GREETING: hi}
setup: echo setting-up
run: |
  echo "$GREETING job=$AWAN_JOB_ID rank=$AWAN_NODE_RANK of $AWAN_NUM_NODES ips=$AWAN_NODE_IPS"
  echo "gpus=[$CUDA_VISIBLE_DEVICES]"
)");
  ASSERT_TRUE(WaitFor(id, JobState::kSucceeded));
  auto job = store_->GetJob(id);
  EXPECT_EQ(job->exit_code, 0);
  EXPECT_EQ(job->provider, "local");
  EXPECT_EQ(job->instance_type, "testhost");
  EXPECT_GT(job->started_at, 0);
  EXPECT_GE(job->ended_at, job->started_at);
  const std::string log = Log(id);
  EXPECT_THAT(log, HasSubstr("setting-up\n"));
  EXPECT_THAT(log, HasSubstr(fmt::format("hi job={} rank=0 of 1 ips=127.0.0.1", id)));
  EXPECT_THAT(log, HasSubstr("gpus=[]"));  // asked for none, sees none
  auto events = store_->ListEvents(id);
  std::vector<std::string> messages;
  for (const auto& e : *events) messages.push_back(e.message);
  EXPECT_THAT(messages, ::testing::ElementsAre(
                            HasSubstr("submitted"), HasSubstr("PENDING → PROVISIONING"),
                            HasSubstr("PROVISIONING → RUNNING"), HasSubstr("RUNNING → SUCCEEDED")));
}

TEST_F(ControllerTest, ExitCodesAndSetupFailuresAreRecorded) {
  const int64_t failing = Submit("run: exit 3\n");
  ASSERT_TRUE(WaitFor(failing, JobState::kFailed));
  EXPECT_EQ(store_->GetJob(failing)->exit_code, 3);
  EXPECT_THAT(store_->GetJob(failing)->reason, HasSubstr("exited with code 3"));
  const int64_t setup = Submit("setup: exit 7\nrun: echo never-runs\n");
  ASSERT_TRUE(WaitFor(setup, JobState::kFailed));
  EXPECT_EQ(store_->GetJob(setup)->exit_code, 7);
  EXPECT_THAT(Log(setup), HasSubstr("setup failed with exit code 7"));
  EXPECT_THAT(Log(setup), ::testing::Not(HasSubstr("never-runs")));
}

// job_recovery: an exit code in recover_on_exit_codes restarts the job without counting; other
// failures restart it max_restarts_on_errors times, then it fails. Each start is told how many
// recoveries came before it.
TEST_F(ControllerTest, AManagedJobRestartsAfterErrorsAsItsPolicySays) {
  const fs::path count = home_ / "count";
  const int64_t id = Submit(fmt::format(R"(
resources:
  job_recovery: {{max_restarts_on_errors: 2, recover_on_exit_codes: [33]}}
run: |
  n=$(cat {0} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {0}
  echo "start $n recoveries=$AWAN_RECOVERIES"
  case $n in 1) exit 33;; 2) exit 1;; 3) exit 2;; *) exit 0;; esac
)",
                                        count.string()));
  ASSERT_TRUE(WaitFor(id, JobState::kSucceeded)) << Log(id);
  auto job = store_->GetJob(id);
  EXPECT_EQ(job->recoveries, 3);
  EXPECT_EQ(job->restarts_on_errors, 2);  // exit 33 was not counted
  const std::string log = Log(id);
  for (int n = 1; n <= 4; ++n) {
    EXPECT_THAT(log, HasSubstr(fmt::format("start {} recoveries={}", n, n - 1)));
  }
  std::string events;
  const auto listed = store_->ListEvents(id);
  ASSERT_TRUE(listed.ok());
  for (const auto& e : *listed) events += e.type + ": " + e.message + "\n";
  EXPECT_THAT(events, HasSubstr("recovery: node 0 exited with code 33; restarting: 33 is in "
                                "recover_on_exit_codes (not counted)"));
  EXPECT_THAT(events, HasSubstr("RUNNING → RECOVERING: node 0 exited with code 1; restart 1 of 2 "
                                "(max_restarts_on_errors)"));
  EXPECT_THAT(events, HasSubstr("restart 2 of 2"));
  EXPECT_THAT(events, HasSubstr("recovery: recovery 3: placed on local"));

  // Out of restarts: the next failure is the job's end, with its exit code.
  const fs::path count2 = home_ / "count2";
  const int64_t failing = Submit(fmt::format(R"(
resources: {{job_recovery: {{max_restarts_on_errors: 1}}}}
run: echo x >> {}; exit 5
)",
                                             count2.string()));
  ASSERT_TRUE(WaitFor(failing, JobState::kFailed));
  EXPECT_EQ(store_->GetJob(failing)->exit_code, 5);
  EXPECT_EQ(store_->GetJob(failing)->recoveries, 1);
  EXPECT_EQ(Slurp(count2), "x\nx\n");
  // Without job_recovery a failure is final at once.
  const int64_t plain = Submit("run: exit 33\n");
  ASSERT_TRUE(WaitFor(plain, JobState::kFailed));
  EXPECT_EQ(store_->GetJob(plain)->recoveries, 0);
}

// workdir: {url, ref}: a local git repository cloned for the job and checked out at the tag.
TEST_F(ControllerTest, AGitWorkdirIsClonedAtItsRef) {
  const fs::path repo = home_ / "repo";
  fs::create_directories(repo);
  const std::string git = "git -c user.name=t -c user.email=t@example.com -C " + repo.string();
  ASSERT_EQ(
      awan::testing::RunCommand(fmt::format("{0} init -q && echo one > {1}/version && {0} add . && "
                                            "{0} commit -qm one && {0} tag v1 && echo two > "
                                            "{1}/version && {0} commit -qam two",
                                            git, repo.string()))
          .code,
      0);
  const int64_t id = Submit(fmt::format(
      "workdir: {{url: {}, ref: v1}}\nrun: echo \"version $(cat version)\"\n", repo.string()));
  ASSERT_TRUE(WaitFor(id, JobState::kSucceeded)) << Log(id);
  EXPECT_THAT(Log(id), HasSubstr("version one"));
  // No such ref: the job fails with git's word for it, and leaves no clone behind.
  const int64_t bad =
      Submit(fmt::format("workdir: {{url: {}, ref: v9}}\nrun: echo never\n", repo.string()));
  ASSERT_TRUE(WaitFor(bad, JobState::kFailed));
  EXPECT_THAT(store_->GetJob(bad)->reason, HasSubstr("workdir: cannot clone"));
  EXPECT_THAT(store_->GetJob(bad)->reason, HasSubstr("at v9"));
  EXPECT_FALSE(fs::exists(fs::path(controller_->JobDir(bad)) / "git"));
}

TEST_F(ControllerTest, WorkdirIsCopiedIntoTheNode) {
  fs::create_directories(home_ / "code");
  std::ofstream(home_ / "code" / "data.txt") << "from-workdir";
  const int64_t id = Submit("workdir: code\nrun: cat data.txt\n");
  ASSERT_TRUE(WaitFor(id, JobState::kSucceeded));
  EXPECT_THAT(Log(id), HasSubstr("from-workdir"));
}

// file_mounts with local sources reach the node: relative and ~/ destinations in its work folder,
// absolute ones under $AWAN_MOUNTS (so two jobs on one machine never collide).
TEST_F(ControllerTest, LocalFileMountsArePutOnTheNodes) {
  fs::create_directories(home_ / "src" / "data");
  std::ofstream(home_ / "src" / "data" / "a.txt") << "from-a-folder";
  std::ofstream(home_ / "src" / "model.txt") << "from-a-file";
  const int64_t id =
      Submit(fmt::format("file_mounts:\n  data: {0}/src/data\n  /opt/model.txt: {0}/src/model.txt\n"
                         "  ~/conf.txt: {0}/src/model.txt\nrun: |\n  cat data/a.txt; echo\n"
                         "  cat $AWAN_MOUNTS/opt/model.txt; echo\n  cat conf.txt; echo\n",
                         home_.string()));
  ASSERT_TRUE(WaitFor(id, JobState::kSucceeded)) << Log(id);
  EXPECT_THAT(Log(id), HasSubstr("from-a-folder\nfrom-a-file\nfrom-a-file\n"));
}

// The server's home is never copied to a node (workdir: . read from the home copied the home into
// itself), nor the job folders; a copy that fails leaves no partial folder and fails the job.
TEST_F(ControllerTest, TheHomeIsNeverCopiedAndAFailedCopyLeavesNothing) {
  auto dot = controller_->Submit("workdir: .\nrun: x\n", "t.yaml", home_.string());
  ASSERT_FALSE(dot.ok());
  EXPECT_THAT(dot.status().message(), HasSubstr("holds awan's home"));
  auto root = controller_->Submit("workdir: /\nrun: x\n", "t.yaml", home_.string());
  EXPECT_THAT(root.status().message(), HasSubstr("holds awan's home"));
  const int64_t first = Submit("run: echo one\n");
  ASSERT_TRUE(WaitFor(first, JobState::kSucceeded));
  auto jobs = controller_->Submit(
      fmt::format("file_mounts: {{x: {}/jobs/{}}}\nrun: x\n", home_.string(), first), "t.yaml",
      home_.string());
  EXPECT_THAT(jobs.status().message(), HasSubstr("inside awan's job folders"));
  EXPECT_EQ(store_->ListJobs({})->size(), 1u);  // nothing stored for the refused ones
  fs::create_directories(home_ / "code");
  std::ofstream(home_ / "code" / "ok.txt") << "ok";
  ASSERT_EQ(mkfifo((home_ / "code" / "pipe").c_str(), 0600), 0);  // cannot be copied
  const int64_t id = Submit("workdir: code\nrun: echo never\n");
  ASSERT_TRUE(WaitFor(id, JobState::kFailed));
  EXPECT_THAT(store_->GetJob(id)->reason, HasSubstr("cannot copy workdir"));
  const fs::path node = fs::path(controller_->JobDir(id)) / "node-0";
  EXPECT_FALSE(fs::exists(node / "work.partial"));
  EXPECT_FALSE(fs::exists(node / "work"));
}

// A big workdir is copied off the loop: the job behind it starts in the same pass, while the big
// one is still being copied (it was copied on the loop before: the job behind it waited).
TEST_F(ControllerTest, CopyingAWorkdirHoldsUpNoOtherJob) {
  fs::create_directories(home_ / "big");
  for (int i = 0; i < 2000; ++i) std::ofstream(home_ / "big" / fmt::format("f{}.txt", i)) << i;
  const int64_t big = Submit("workdir: big\nrun: ls | wc -l\n");
  const int64_t small = Submit("run: echo small\n");
  std::optional<JobState> big_when_small_started;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         (State(big) != JobState::kSucceeded || State(small) != JobState::kSucceeded)) {
    controller_->ReconcileOnce();
    if (!big_when_small_started && State(small) != JobState::kPending) {
      big_when_small_started = State(big);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(State(big), JobState::kSucceeded);
  EXPECT_EQ(State(small), JobState::kSucceeded);
  EXPECT_EQ(big_when_small_started, JobState::kProvisioning)
      << "the job behind the big workdir started only once it was copied";
  EXPECT_THAT(Log(big), HasSubstr("2000"));
}

TEST_F(ControllerTest, CancelKillsTheWholeProcessGroup) {
  const fs::path pidfile = home_ / "child.pid";
  const int64_t id =
      Submit(fmt::format("run: |\n  sleep 300 &\n  echo $! > {}\n  wait\n", pidfile.string()));
  ASSERT_TRUE(WaitFor(id, JobState::kRunning));
  while (!fs::exists(pidfile) || Slurp(pidfile).empty())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const pid_t child = std::stoi(Slurp(pidfile));
  ASSERT_EQ(kill(child, 0), 0);
  ASSERT_TRUE(controller_->Cancel(id).ok());
  ASSERT_TRUE(WaitFor(id, JobState::kCancelled));
  // The background grandchild is gone too (SIGTERM to the group, SIGKILL after the grace period).
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    controller_->ReconcileOnce();
    gone = !Alive(child);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(gone);
  EXPECT_TRUE(controller_->Cancel(id).ok());  // cancelling a finished job changes nothing
  EXPECT_EQ(State(id), JobState::kCancelled);
}

// A job that traps SIGTERM outlives its wrapper: its node is not released (and nothing else is
// placed on it) until every process of its group is gone, and it gets SIGKILL after the grace
// period.
TEST_F(ControllerTest, AJobThatTrapsSigtermIsKilledBeforeItsResourcesAreReused) {
  const fs::path pidfile = home_ / "stubborn.pid";
  const int64_t stubborn = Submit(fmt::format(
      "resources: {{cpus: 4}}\nrun: |\n  trap 'echo ignoring-term' TERM\n  echo $$ > {}\n"
      "  while true; do sleep 0.1; done\n",
      pidfile.string()));
  ASSERT_TRUE(WaitFor(stubborn, JobState::kRunning));
  while (!fs::exists(pidfile) || Slurp(pidfile).empty())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const pid_t pid = std::stoi(Slurp(pidfile));
  const int64_t next = Submit("resources: {cpus: 4}\nrun: echo next\n");
  ASSERT_TRUE(controller_->Cancel(stubborn).ok());
  // Until the next job runs, the stubborn one must never be seen alive next to it.
  bool overlapped = false, next_ran = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline && !next_ran) {
    controller_->ReconcileOnce();
    const JobState s = State(next);
    next_ran = s == JobState::kRunning || s == JobState::kSucceeded;
    if (next_ran && Alive(pid)) overlapped = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(next_ran);
  EXPECT_FALSE(overlapped) << "the next job started while the cancelled one still ran";
  EXPECT_FALSE(Alive(pid)) << "the job that trapped SIGTERM was never SIGKILLed";
  if (Alive(pid)) kill(pid, SIGKILL);
  EXPECT_EQ(State(stubborn), JobState::kCancelled);
  EXPECT_THAT(Log(stubborn), HasSubstr("ignoring-term"));
  ASSERT_TRUE(WaitFor(next, JobState::kSucceeded));
}

TEST_F(ControllerTest, JobsThatDoNotFitTogetherQueue) {
  const int64_t first = Submit("resources: {cpus: 3}\nrun: sleep 0.5\n");
  const int64_t second = Submit("resources: {cpus: 3}\nrun: echo second\n");
  ASSERT_TRUE(WaitFor(first, JobState::kRunning));
  controller_->ReconcileOnce();
  EXPECT_EQ(State(second), JobState::kPending);  // 3 + 3 > 4 CPUs: it waits, no overcommit
  ASSERT_TRUE(WaitFor(second, JobState::kSucceeded));
  EXPECT_EQ(State(first), JobState::kSucceeded);
  EXPECT_GE(store_->GetJob(second)->started_at, store_->GetJob(first)->ended_at);
}

TEST_F(ControllerTest, EachJobSeesOnlyTheGpusItAskedFor) {
  const int64_t a =
      Submit("resources: {accelerators: H100:1}\nrun: echo a=$CUDA_VISIBLE_DEVICES; sleep 0.5\n");
  const int64_t b =
      Submit("resources: {accelerators: h100}\nrun: echo b=$CUDA_VISIBLE_DEVICES; sleep 0.5\n");
  const int64_t c =
      Submit("resources: {accelerators: H100:2}\nrun: echo c=$CUDA_VISIBLE_DEVICES\n");
  ASSERT_TRUE(WaitFor(a, JobState::kRunning));
  ASSERT_TRUE(WaitFor(b, JobState::kRunning));
  EXPECT_EQ(State(c), JobState::kPending);
  ASSERT_TRUE(WaitFor(c, JobState::kSucceeded));
  EXPECT_THAT(Log(a), HasSubstr("a=0"));
  EXPECT_THAT(Log(b), HasSubstr("b=1"));
  EXPECT_THAT(Log(c), HasSubstr("c=0,1"));
}

TEST_F(ControllerTest, TasksThatCanNeverRunHereAreRejectedAtSubmit) {
  auto gpus = controller_->Submit("resources: {accelerators: H100:4}\nrun: x\n", "t.yaml", "/");
  ASSERT_FALSE(gpus.ok());
  EXPECT_THAT(gpus.status().message(), HasSubstr("needs 4 H100 GPU(s)"));
  auto cloud = controller_->Submit("resources: {infra: aws}\nrun: x\n", "t.yaml", "/");
  EXPECT_THAT(cloud.status().message(), HasSubstr("asks for provider 'aws'"));
  auto cpus = controller_->Submit("num_nodes: 3\nresources: {cpus: 2}\nrun: x\n", "t.yaml", "/");
  EXPECT_THAT(cpus.status().message(), HasSubstr("needs 6 CPUs"));
  auto bad = controller_->Submit("resources: {acelerators: H100}\n", "t.yaml", "/");
  EXPECT_THAT(bad.status().message(), HasSubstr("t.yaml:1:13: resources.acelerators"));
  auto env = controller_->Submit("envs: {TOKEN: }\nrun: x\n", "t.yaml", "/");
  EXPECT_THAT(env.status().message(), HasSubstr("envs.TOKEN has no value"));
  EXPECT_TRUE(store_->ListJobs({})->empty());  // nothing stored for rejected tasks
}

TEST_F(ControllerTest, MultiNodeJobsRunEveryRankWithPrefixedLogs) {
  const int64_t id = Submit("num_nodes: 2\nrun: echo hello from $AWAN_NODE_RANK\n");
  ASSERT_TRUE(WaitFor(id, JobState::kSucceeded));
  EXPECT_THAT(Log(id), HasSubstr("(rank 0) hello from 0"));
  EXPECT_THAT(Log(id), HasSubstr("(rank 1) hello from 1"));
  EXPECT_EQ(store_->ListNodes(id)->size(), 2u);
}

TEST_F(ControllerTest, RestartAdoptsRunningNodesAndRecordsTheirRealExitCode) {
  const int64_t id = Submit("run: sleep 0.6; exit 5\n");
  ASSERT_TRUE(WaitFor(id, JobState::kRunning));
  controller_.reset();  // the server goes away; the job's process does not
  NewController();
  controller_->Recover();
  EXPECT_EQ(State(id), JobState::kRunning);
  ASSERT_TRUE(WaitFor(id, JobState::kFailed));
  EXPECT_EQ(store_->GetJob(id)->exit_code, 5);
}

TEST_F(ControllerTest, RestartRecordsJobsThatFinishedOrDiedWhileDown) {
  const int64_t finished = Submit("run: echo done\n");
  const int64_t killed = Submit("run: sleep 300\n");
  ASSERT_TRUE(WaitFor(finished, JobState::kRunning));
  ASSERT_TRUE(WaitFor(killed, JobState::kRunning));
  // The local provider's handle on the node: its process group.
  const int64_t pid = providers::ToProcessHandle({store_->ListNodes(killed)->at(0).handle}).pid;
  ASSERT_GT(pid, 0);
  controller_.reset();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // `finished` exits meanwhile
  kill(-static_cast<pid_t>(pid), SIGKILL);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  NewController();
  controller_->Recover();
  controller_->ReconcileOnce();
  EXPECT_EQ(State(finished), JobState::kSucceeded);
  EXPECT_EQ(store_->GetJob(finished)->exit_code, 0);
  EXPECT_EQ(State(killed), JobState::kFailed);
  EXPECT_THAT(store_->GetJob(killed)->reason, HasSubstr("exit status unknown"));
}

TEST_F(ControllerTest, RestartRequeuesAJobWhoseStartNeverHappened) {
  auto id = store_->CreateJob(
      {"j", 1, "run: echo once >> " + (home_ / "runs").string() + "\n", "t.yaml", home_.string()},
      1);
  ASSERT_TRUE(store_
                  ->ApplyTransition(*id, store::MakeTransition(JobState::kPending,
                                                               JobState::kProvisioning, "", 2))
                  .ok());
  controller_->Recover();
  EXPECT_EQ(State(*id), JobState::kPending);
  ASSERT_TRUE(WaitFor(*id, JobState::kSucceeded));
  EXPECT_EQ(Slurp(home_ / "runs"), "once\n");  // ran exactly once
}

TEST_F(ControllerTest, RestartFinishesAPreemptionTheServerLeftHalfDone) {
  // Preempted (marked) but its nodes not yet stopped when the server went: the new server kills and
  // releases them and queues the job again; it runs anew.
  const int64_t preempted =
      Submit("run: echo run >> " + (home_ / "runs").string() + "; sleep 300\n");
  ASSERT_TRUE(WaitFor(preempted, JobState::kRunning));
  for (int i = 0; i < 500 && Slurp(home_ / "runs").empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(Slurp(home_ / "runs"), "run\n");  // the first run is under way
  const pid_t pid = static_cast<pid_t>(
      providers::ToProcessHandle({store_->ListNodes(preempted)->at(0).handle}).pid);
  ASSERT_GT(pid, 0);
  controller_.reset();
  ASSERT_TRUE(store_
                  ->ApplyTransition(preempted, store::MakeTransition(JobState::kRunning,
                                                                     JobState::kPreempted, "p", 3))
                  .ok());
  // Another whose nodes were released, but that was not yet queued again.
  auto recovering =
      store_->CreateJob({"r", 1, "run: echo recovered\n", "t.yaml", home_.string()}, 4);
  ASSERT_TRUE(recovering.ok());
  for (auto [from, to] : {std::pair{JobState::kPending, JobState::kProvisioning},
                          {JobState::kProvisioning, JobState::kRunning},
                          {JobState::kRunning, JobState::kPreempted},
                          {JobState::kPreempted, JobState::kRecovering}}) {
    ASSERT_TRUE(store_->ApplyTransition(*recovering, store::MakeTransition(from, to, "", 5)).ok());
  }
  NewController();
  controller_->Recover();
  EXPECT_EQ(State(*recovering), JobState::kPending);
  ASSERT_TRUE(WaitFor(*recovering, JobState::kSucceeded));
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = !Alive(pid);
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone);
  ASSERT_TRUE(WaitFor(preempted, JobState::kRunning));
  for (int i = 0; i < 200 && Slurp(home_ / "runs") != "run\nrun\n"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Slurp(home_ / "runs"), "run\nrun\n");  // it ran again, from the start
  // The second start has folders of its own: what the first leaves behind late (a wrapper on a
  // failed node writing its exit code) does not end it.
  const fs::path job_dir = home_ / "jobs" / std::to_string(preempted);
  EXPECT_EQ(store_->ListNodes(preempted)->at(0).workdir, (job_dir / "start-2" / "node-0").string());
  std::ofstream(job_dir / "node-0" / "exit_code") << "143\n";
  for (int i = 0; i < 10; ++i) {
    controller_->ReconcileOnce();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(State(preempted), JobState::kRunning);
  ASSERT_TRUE(controller_->Cancel(preempted).ok());
  ASSERT_TRUE(WaitFor(preempted, JobState::kCancelled));
}

// A provider that never answers until the test lets it: its calls are slow (not QuickCalls), so
// the controller asks it from a worker thread. It counts what it was asked and given back.
class HangingProvider final : public providers::Provider {
 public:
  const std::string& name() const override { return name_; }
  std::string_view kind() const override { return "test"; }
  void AddOfferings(catalog::Catalog& catalog) const override {
    catalog.Add({name_, "r1", "", "hang-1", "", 0, 64, 256, 0.01, 0});
  }
  providers::ProvisionResult Provision(int64_t job_id, const providers::Offer&,
                                       int64_t now) override {
    ++asked_;
    answer_.wait();  // a host that accepted the connection and never answers
    providers::Allocation a;
    a.id = "hang-" + std::to_string(job_id);
    a.hosts = {"hang-host"};
    a.ready_at = now;
    return a;
  }
  absl::StatusOr<providers::NodeHandle> StartNode(const providers::Allocation&,
                                                  const providers::NodeSpec& spec) override {
    auto process = providers::StartNode(spec);
    if (!process.ok()) return process.status();
    return providers::ToNodeHandle(*process);
  }
  providers::NodeProbe ProbeNode(const std::string& dir, const providers::NodeHandle& h) override {
    return providers::ProbeNode(dir, providers::ToProcessHandle(h));
  }
  void SignalNode(const std::string&, const providers::NodeHandle& h, int signal) override {
    providers::SignalNode(providers::ToProcessHandle(h), signal);
  }
  void Release(const std::string& id) override {
    std::lock_guard<std::mutex> lock(mu_);
    released_.push_back(id);
  }
  void Answer() { release_.set_value(); }
  int asked() const { return asked_; }
  std::vector<std::string> released() {
    std::lock_guard<std::mutex> lock(mu_);
    return released_;
  }

 private:
  const std::string name_ = "hang";
  std::promise<void> release_;
  std::shared_future<void> answer_ = release_.get_future().share();
  std::atomic<int> asked_{0};
  std::mutex mu_;
  std::vector<std::string> released_;
};

// The loop never waits on a provider: while one never answers, a job on another provider starts
// and ends, submissions and cancels are answered, and the late answer is given back.
TEST_F(ControllerTest, AProviderThatNeverAnswersDelaysNothingElse) {
  providers::Fleet fleet = providers::LocalOnlyFleet(machine_);
  auto hanging = std::make_unique<HangingProvider>();
  HangingProvider* hang = hanging.get();
  fleet.providers.push_back(std::move(hanging));
  controller_.reset();
  ControllerOptions options;
  options.home = home_.string();
  options.cancel_grace_ms = 1000;
  controller_ = std::make_unique<JobController>(*store_, machine_, options, &fleet);
  ASSERT_TRUE(controller_->Start().ok());
  const auto wait = [&](int64_t id, JobState want) {
    for (int i = 0; i < 500; ++i) {
      if (State(id) == want) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  };
  auto stuck =
      controller_->Submit("resources: {infra: hang}\nrun: echo never\n", "t.yaml", home_.string());
  ASSERT_TRUE(stuck.ok()) << stuck.status();
  for (int i = 0; i < 500 && hang->asked() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(hang->asked(), 1);  // its provisioning is under way, and hangs
  auto local = controller_->Submit("run: echo local-ran\n", "t.yaml", home_.string());
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_TRUE(wait(*local, JobState::kSucceeded)) << "a local job waited on a hanging provider";
  EXPECT_THAT(Log(*local), HasSubstr("local-ran"));
  EXPECT_EQ(State(*stuck), JobState::kPending);
  ASSERT_TRUE(controller_->Cancel(*stuck).ok());
  EXPECT_TRUE(wait(*stuck, JobState::kCancelled));
  hang->Answer();  // the answer comes at last: the nodes it holds are given back
  for (int i = 0; i < 500 && hang->released().empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(hang->released(), std::vector<std::string>{"hang-" + std::to_string(*stuck)});
  EXPECT_EQ(State(*stuck), JobState::kCancelled);
  controller_.reset();
}

}  // namespace
}  // namespace awan::controller

// A node's handle belongs to its provider: the local machine's is its process group ("PID:START"),
// which the controller stores and hands back without looking inside. These tests start real
// process groups through the Provider interface.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "awan/providers/fleet.h"
#include "awan/providers/local.h"

namespace awan::providers {
namespace {

namespace fs = std::filesystem;

TEST(ProcessHandleTest, RoundTripsAndRefusesWhatIsNotAProcessHandle) {
  const NodeHandle h = ToNodeHandle({4321, 97});
  EXPECT_EQ(h.id, "4321:97");
  EXPECT_EQ(ToProcessHandle(h).pid, 4321);
  EXPECT_EQ(ToProcessHandle(h).pid_start, 97);
  EXPECT_TRUE(ToNodeHandle({0, 5}).empty());  // never started
  for (const char* bad : {"", "4321", ":97", "4321:", "-1:0", "0:0", "12x:3", "1:2:3",
                          "99999999999999999999:1", "i-0abc123"}) {
    EXPECT_EQ(ToProcessHandle({bad}).pid, 0) << bad;
  }
}

class LocalNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("awan-node-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    LocalResources machine;
    machine.cpus = 2;
    machine.memory_gib = 4;
    machine.hostname = "here";
    fleet_ = LocalOnlyFleet(machine);
    local_ = fleet_.Find("local");
    ASSERT_NE(local_, nullptr);
  }
  void TearDown() override { fs::remove_all(dir_); }
  NodeSpec Spec(const std::string& run) {
    NodeSpec spec;
    spec.job_id = 1;
    spec.node_dir = (dir_ / "node0").string();
    spec.log_path = (dir_ / "log").string();
    spec.run = run;
    return spec;
  }
  NodeProbe WaitUntilNot(NodeState state, const NodeHandle& h) {
    NodeProbe p;
    for (int i = 0; i < 500; ++i) {
      p = local_->ProbeNode(Spec("").node_dir, h);
      if (p.state != state) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return p;
  }

  fs::path dir_;
  Fleet fleet_;
  Provider* local_ = nullptr;
};

TEST_F(LocalNodeTest, TheHandleItGaveFindsSignalsAndProbesTheNode) {
  Allocation a;
  a.id = "local-1";
  auto h = local_->StartNode(a, Spec("sleep 30"));
  ASSERT_TRUE(h.ok()) << h.status();
  ASSERT_FALSE(h->empty());
  EXPECT_EQ(local_->ProbeNode(Spec("").node_dir, *h).state, NodeState::kRunning);
  // After a crash before the handle was stored, the provider finds the node from its folder.
  std::optional<NodeHandle> found;
  for (int i = 0; i < 500 && !found; ++i) {
    found = local_->FindNode(Spec("").node_dir);
    if (!found) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(ToProcessHandle(*found).pid, ToProcessHandle(*h).pid);
  EXPECT_EQ(local_->ProbeNode(Spec("").node_dir, *found).state, NodeState::kRunning);
  local_->SignalNode(Spec("").node_dir, *h, SIGKILL);
  const NodeProbe p = WaitUntilNot(NodeState::kRunning, *h);
  EXPECT_EQ(p.state, NodeState::kGone);
  EXPECT_FALSE(p.processes_alive);
}

TEST_F(LocalNodeTest, AHandleItDidNotGiveIsANodeThatIsGone) {
  EXPECT_FALSE(local_->FindNode((dir_ / "never-started").string()).has_value());
  const NodeProbe p = local_->ProbeNode((dir_ / "never-started").string(), {"i-0abc123"});
  EXPECT_EQ(p.state, NodeState::kGone);
  EXPECT_FALSE(p.processes_alive);
  local_->SignalNode((dir_ / "never-started").string(), {"garbage"}, SIGKILL);  // harmless
  EXPECT_EQ(kill(getpid(), 0), 0);
}

TEST_F(LocalNodeTest, AFinishedNodeReportsItsExitCode) {
  Allocation a;
  a.id = "local-1";
  auto h = local_->StartNode(a, Spec("exit 7"));
  ASSERT_TRUE(h.ok()) << h.status();
  const NodeProbe p = WaitUntilNot(NodeState::kRunning, *h);
  EXPECT_EQ(p.state, NodeState::kExited);
  EXPECT_EQ(p.exit_code, 7);
}

}  // namespace
}  // namespace awan::providers

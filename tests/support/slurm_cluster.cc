#include "slurm_cluster.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "command.h"
#include "postgres_server.h"  // FreeLoopbackPort

namespace awan::testing {

namespace fs = std::filesystem;

SlurmCluster::SlurmCluster(const std::string& name, int nodes, int gpus_per_node) : nodes_(nodes) {
  if (!fs::exists("/usr/sbin/slurmctld") || !fs::exists("/usr/sbin/munged")) {
    why_ = "slurm-wlm/munge are not installed (scripts/install-deps installs them)";
    return;
  }
  if (RunCommand("munge -n | unmunge").code != 0) {
    std::system(
        "mkdir -p /run/munge && chown munge:munge /run/munge 2>/dev/null; munged --force "
        "2>/dev/null");
    for (int i = 0; i < 50 && RunCommand("munge -n | unmunge").code != 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  char tmpl[] = "/tmp/awan-slurm-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return;
  dir_ = tmpl;
  fs::create_directories(dir_ + "/state");
  for (int g = 0; g < gpus_per_node; ++g) std::ofstream(fmt::format("{}/gpu{}", dir_, g)).close();
  std::string node_lines, names;
  for (int n = 1; n <= nodes; ++n) {
    fs::create_directories(fmt::format("{}/spool-{}-node{}", dir_, name, n));
    node_lines += fmt::format(
        "NodeName={0}-node{1} NodeHostname=localhost Port={2} CPUs=2 RealMemory=4000 "
        "Gres=gpu:h100:{3} "
        "State=UNKNOWN\n",
        name, n, FreeLoopbackPort(), gpus_per_node);
    names += fmt::format("{}{}-node{}", n == 1 ? "" : ",", name, n);
  }
  std::ofstream(dir_ + "/slurm.conf") << fmt::format(
      "ClusterName={0}\nSlurmctldHost=localhost\nSlurmctldPort={1}\nAuthType=auth/munge\n"
      "StateSaveLocation={2}/state\nSlurmdSpoolDir={2}/spool-%n\nSlurmctldPidFile={2}/"
      "slurmctld.pid\n"
      "SlurmdPidFile={2}/slurmd-%n.pid\nSlurmctldLogFile={2}/ctld.log\nSlurmdLogFile={2}/d-%n.log\n"
      "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nSchedulerType=sched/backfill\n"
      "SelectType=select/"
      "cons_tres\nSlurmUser=root\nReturnToService=1\nGresTypes=gpu\nMinJobAge=600\n"
      "{3}PartitionName=gpu Nodes={4} Default=YES MaxTime=INFINITE State=UP\n",
      name, FreeLoopbackPort(), dir_, node_lines, names);
  std::string gres;
  for (int n = 1; n <= nodes; ++n) {
    gres += fmt::format("NodeName={}-node{} Name=gpu Type=h100 File={}/gpu[0-{}]\n", name, n, dir_,
                        gpus_per_node - 1);
  }
  std::ofstream(dir_ + "/gres.conf") << gres;
  const std::string env = "SLURM_CONF=" + conf();
  if (RunCommand(env + " /usr/sbin/slurmctld").code != 0) {
    why_ = "slurmctld did not start (see " + dir_ + "/ctld.log)";
    return;
  }
  for (int n = 1; n <= nodes; ++n) {
    if (RunCommand(fmt::format("{} /usr/sbin/slurmd -N {}-node{}", env, name, n)).code != 0) {
      why_ = "slurmd did not start";
      return;
    }
  }
  for (int i = 0; i < 200; ++i) {
    const std::string idle = Run("sinfo -h -o '%D %T' -t idle");
    if (idle.rfind(std::to_string(nodes) + " idle", 0) == 0) {
      available_ = true;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  why_ = "the Slurm nodes did not become idle (see " + dir_ + ")";
}

std::string SlurmCluster::Run(const std::string& command) const {
  return RunCommand("SLURM_CONF=" + conf() + " " + command).out;
}

SlurmCluster::~SlurmCluster() {
  if (dir_.empty()) return;
  (void)Run("scancel --user=root");
  auto stop = [&](const std::string& pidfile) {
    std::ifstream in(pidfile);
    int pid = 0;
    if (in >> pid && pid > 0) kill(pid, SIGTERM);
  };
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string f = entry.path().filename().string();
    if (f.rfind("slurmd-", 0) == 0 && entry.path().extension() == ".pid")
      stop(entry.path().string());
  }
  stop(dir_ + "/slurmctld.pid");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace awan::testing

#include "sshd_server.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "postgres_server.h"  // FreeLoopbackPort

namespace awan::testing {

namespace fs = std::filesystem;

SshdServer::SshdServer(const std::string& key_dir) : key_dir_(key_dir) {
  if (!fs::exists("/usr/sbin/sshd")) {
    why_ = "openssh-server is not installed (scripts/install-deps installs it)";
    return;
  }
  char tmpl[] = "/tmp/awan-sshd-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return;
  dir_ = tmpl;
  fs::create_directories(key_dir_);
  fs::create_directories("/run/sshd");
  if (!fs::exists(user_key())) {
    std::system(fmt::format("ssh-keygen -q -t ed25519 -N '' -f {} >/dev/null", user_key()).c_str());
  }
  std::system(
      fmt::format("ssh-keygen -q -t ed25519 -N '' -f {}/host_key >/dev/null", dir_).c_str());
  const int port = FreeLoopbackPort();
  std::ofstream(dir_ + "/sshd_config") << fmt::format(
      "Port {}\nListenAddress 127.0.0.1\nHostKey {}/host_key\nAuthorizedKeysFile {}.pub\n"
      "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPidFile "
      "{}/sshd.pid\nStrictModes no\n"
      "UsePAM no\nPermitRootLogin yes\nMaxStartups 100\nMaxSessions 100\n",
      port, dir_, user_key(), dir_);
  if (std::system(fmt::format("/usr/sbin/sshd -f {0}/sshd_config -E {0}/sshd.log", dir_).c_str()) !=
      0) {
    why_ = "sshd did not start (see " + dir_ + "/sshd.log)";
    return;
  }
  for (int i = 0; i < 100 && pid_ == 0; ++i) {
    std::ifstream pid(dir_ + "/sshd.pid");
    pid >> pid_;
    if (pid_ == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (pid_ == 0) {
    why_ = "sshd wrote no pid file";
    return;
  }
  port_ = port;
}

SshdServer::~SshdServer() {
  if (pid_ != 0) kill(pid_, SIGTERM);
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

}  // namespace awan::testing

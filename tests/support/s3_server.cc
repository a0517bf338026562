#include "s3_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "postgres_server.h"  // FreeLoopbackPort

namespace awan::testing {
namespace {

namespace fs = std::filesystem;

std::string MotoServerBinary() {
  if (const char* given = std::getenv("AWAN_MOTO_SERVER")) return given;
  return std::string(AWAN_SOURCE_DIR) + "/build/test-venv/bin/moto_server";
}

bool Listening(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

}  // namespace

S3Server::S3Server() {
  const std::string binary = MotoServerBinary();
  if (!fs::exists(binary)) {
    why_ = binary + " is missing: scripts/test installs moto[server] into build/test-venv";
    return;
  }
  const int port = FreeLoopbackPort();
  log_ = fmt::format("/tmp/awan-moto-{}-{}.log", getpid(), port);
  const pid_t pid = fork();
  if (pid < 0) return;
  if (pid == 0) {
    setsid();
    const std::string p = std::to_string(port);
    freopen(log_.c_str(), "w", stdout);
    freopen(log_.c_str(), "a", stderr);
    execl(binary.c_str(), binary.c_str(), "-H", "127.0.0.1", "-p", p.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  for (int i = 0; i < 300; ++i) {
    if (Listening(port)) {
      port_ = port;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  why_ = "moto_server did not listen within 15 s (see " + log_ + ")";
}

S3Server::~S3Server() {
  if (pid_ != 0) {
    kill(-pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (!log_.empty()) {
    std::error_code ec;
    fs::remove(log_, ec);
  }
}

}  // namespace awan::testing

#include "postgres_server.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace awan::testing {

namespace fs = std::filesystem;

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

PostgresServer::PostgresServer() {
  bin_ = "/usr/lib/postgresql/15/bin";
  if (!fs::exists(bin_ + "/initdb")) {
    why_ = "PostgreSQL 15 is not installed (scripts/install-deps installs postgresql-15)";
    return;
  }
  char tmpl[] = "/tmp/awan-pg-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    why_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  as_postgres_user_ = geteuid() == 0;
  if (as_postgres_user_) {
    fs::permissions(dir_, fs::perms::all);
    std::system(fmt::format("chown postgres {}", dir_).c_str());
  }
  port_ = FreeLoopbackPort();
  std::string err = Run(
      fmt::format("{}/initdb -D {}/data -A trust -U awan >{}/initdb.log 2>&1", bin_, dir_, dir_));
  if (err.empty()) {
    err = Run(fmt::format(
        "{}/pg_ctl -D {}/data -l {}/server.log -w -o \"-p {} -k {} -c listen_addresses=127.0.0.1 "
        "-c fsync=off\" start >/dev/null",
        bin_, dir_, dir_, port_, dir_));
  }
  if (!err.empty()) {
    why_ = "could not start PostgreSQL: " + err + " (see " + dir_ + "/server.log)";
    return;
  }
  url_ = fmt::format("postgresql://awan@127.0.0.1:{}/postgres", port_);
}

PostgresServer::~PostgresServer() {
  if (!url_.empty())
    Run(fmt::format("{}/pg_ctl -D {}/data -m immediate stop >/dev/null 2>&1", bin_, dir_));
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string PostgresServer::NewDatabase(const std::string& name) {
  Run(fmt::format(
      "{}/psql -h 127.0.0.1 -p {} -U awan -d postgres -q -c 'DROP DATABASE IF EXISTS {}' "
      "-c 'CREATE DATABASE {}' >/dev/null 2>&1",
      bin_, port_, name, name));
  return fmt::format("postgresql://awan@127.0.0.1:{}/{}", port_, name);
}

std::string PostgresServer::Run(const std::string& command) const {
  std::string full = as_postgres_user_ ? fmt::format("runuser -u postgres -- sh -c '{}'",
                                                     [&] {
                                                       std::string escaped;
                                                       for (char c : command) {
                                                         if (c == '\'') {
                                                           escaped += "'\\''";
                                                         } else {
                                                           escaped += c;
                                                         }
                                                       }
                                                       return escaped;
                                                     }())
                                       : command;
  const int rc = std::system(full.c_str());
  return rc == 0 ? "" : fmt::format("`{}` exited with {}", command, rc);
}

}  // namespace awan::testing

// A real PostgreSQL server for tests: initdb + pg_ctl in a temp dir, listening on a free loopback
// port, stopped and removed on destruction. Runs the server as the `postgres` user when the tests
// run as root (initdb refuses root). Skips (Available() == false, with Why()) when PostgreSQL 15 is
// not installed.
#pragma once

#include <string>

namespace awan::testing {

class PostgresServer {
 public:
  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  bool Available() const { return !url_.empty(); }
  const std::string& Why() const { return why_; }
  // postgresql://awan@127.0.0.1:PORT/DB for a new, empty database.
  std::string NewDatabase(const std::string& name);

 private:
  std::string Run(const std::string& command) const;  // as the server's user; returns "" on success

  std::string dir_, bin_, url_, why_;
  int port_ = 0;
  bool as_postgres_user_ = false;
};

// A free TCP port on 127.0.0.1 (bound and released).
int FreeLoopbackPort();

}  // namespace awan::testing

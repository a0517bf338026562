// A real sshd for tests: a generated host key and user key, a config in a temp dir, listening on a
// free loopback port; stopped and removed on destruction. Skips (Available() == false, with Why())
// when openssh-server is not installed or sshd does not start.
#pragma once

#include <string>

namespace awan::testing {

class SshdServer {
 public:
  // `key_dir` holds the user key pair (id_ed25519); servers sharing it accept the same key.
  explicit SshdServer(const std::string& key_dir);
  ~SshdServer();
  SshdServer(const SshdServer&) = delete;
  SshdServer& operator=(const SshdServer&) = delete;

  bool Available() const { return port_ != 0; }
  const std::string& Why() const { return why_; }
  int port() const { return port_; }
  std::string user_key() const { return key_dir_ + "/id_ed25519"; }

 private:
  std::string dir_, key_dir_, why_;
  int port_ = 0;
  int pid_ = 0;
};

}  // namespace awan::testing

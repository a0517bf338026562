// A real S3-compatible server for tests: moto's server (PyPI `moto[server]`, installed at a pinned
// version into build/test-venv by scripts/test) on a free loopback port; stopped on destruction.
// Skips (Available() == false, with Why()) when it is not installed or does not start.
#pragma once

#include <string>

namespace awan::testing {

class S3Server {
 public:
  S3Server();
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  bool Available() const { return port_ != 0; }
  const std::string& Why() const { return why_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The fixed test credentials moto accepts.
  static constexpr const char* kKeyId = "awan-test-key";
  static constexpr const char* kSecret = "awan-test-secret";

 private:
  std::string why_, log_;
  int port_ = 0;
  int pid_ = 0;
};

}  // namespace awan::testing

// A load generator for the service tests: N keep-alive HTTP/1.1 clients on their own threads, each
// sending GET `target` to 127.0.0.1:port back to back (a client whose connection broke connects
// again). Counts answers by status and by the first line of their body, and keeps when each
// failure happened — a failed request is one that got no 200.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace awan::testing {

class LoadGenerator {
 public:
  using Clock = std::chrono::steady_clock;
  LoadGenerator(int port, int clients, std::string target, int pause_ms = 2);
  ~LoadGenerator();  // Stop()
  void Stop();

  int64_t ok() const { return ok_; }
  int64_t failed() const { return failed_; }
  // Answers (200) per body, e.g. {"replica": "3", ...} lines: what each replica served.
  std::map<std::string, int64_t> bodies() const;
  // When each failure happened, and what it was ("503", "connection refused", ...).
  std::vector<std::pair<Clock::time_point, std::string>> failures() const;
  // Answers since `t`.
  std::map<std::string, int64_t> bodies_since(Clock::time_point t) const;

 private:
  void Run(int client);

  int port_;
  std::string target_;
  int pause_ms_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ok_{0}, failed_{0};
  mutable std::mutex mu_;
  std::vector<std::pair<Clock::time_point, std::string>> answers_;   // guarded by mu_
  std::vector<std::pair<Clock::time_point, std::string>> failures_;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace awan::testing

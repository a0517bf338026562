// A test double of a service replica: a small HTTP/1.1 server on a loopback port (keep-alive), on
// its own thread. Paths: /health (200, or 503 after SetHealthy(false)), /who (its name),
// /headers (the request's fields, "name: value" a line), /echo (the request's body), /slow?ms=N,
// /fail (500), /drop (closes the connection without answering), /stream?n=N&ms=M (N
// chunks of "data: I\n\n", one every M ms, as text/event-stream). Counts what it served and the
// streams whose client went away before the end.
#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace awan::testing {

class HttpBackend {
 public:
  explicit HttpBackend(std::string name);
  ~HttpBackend();  // Stop()
  int port() const { return port_; }
  const std::string& name() const { return name_; }
  void SetHealthy(bool healthy) { healthy_ = healthy; }
  // Closes the listener and every open connection, as a killed replica would.
  void Stop();
  // Closes every open connection but keeps listening, as a server whose keep-alive timeout passed.
  void CloseConnections();
  int requests() const { return requests_; }
  int cancelled_streams() const { return cancelled_; }

 private:
  struct Impl;
  std::string name_;
  int port_ = 0;
  std::atomic<bool> healthy_{true};
  std::atomic<int> requests_{0}, cancelled_{0};
  std::unique_ptr<Impl> impl_;
};

}  // namespace awan::testing

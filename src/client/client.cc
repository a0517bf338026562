#include "awan/client/client.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "awan/common/status_macros.h"

namespace awan::client {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct Url {
  std::string host;
  int port = 0;
};

std::optional<Url> ParseUrl(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return std::nullopt;
  const std::string rest = url.substr(kScheme.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  Url u;
  u.host = rest.substr(0, colon);
  try {
    u.port = std::stoi(rest.substr(colon + 1));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return u;
}

std::string ReadToken(const std::string& home) {
  std::ifstream in(fs::path(home) / "token");
  std::string token;
  std::getline(in, token);
  return token;
}

http::request<http::string_body> MakeRequest(std::string_view method, std::string_view target,
                                             const std::string& host, const std::string& token,
                                             const std::string& body) {
  http::request<http::string_body> req{http::string_to_verb(method), std::string(target), 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "awan-cli");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  if (!body.empty()) {
    req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  return req;
}

}  // namespace

std::string AwanHome() {
  if (const char* home = std::getenv("AWAN_HOME"); home != nullptr && *home != '\0') return home;
  const char* user_home = std::getenv("HOME");
  return (fs::path(user_home != nullptr ? user_home : "/tmp") / ".awan").string();
}

std::string ApiClient::url() const { return fmt::format("http://{}:{}", host_, port_); }

absl::StatusOr<HttpResponse> ApiClient::Call(std::string_view method, std::string_view target,
                                             const std::string& body) const {
  try {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(net::ip::make_address(host_), static_cast<unsigned short>(port_)));
    // Synchronous calls ignore the stream's expiry: a socket timeout ends a wait for a server
    // that accepted but never answers (a listener someone else holds open).
    const timeval timeout{60, 0};
    setsockopt(stream.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(stream.socket().native_handle(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    // A server may answer before the whole request is sent (413 for a body over its limit) and stop
    // reading: a failed write is then not the end, the answer is still there to read.
    beast::error_code write_error;
    http::write(stream, MakeRequest(method, target, host_, token_, body), write_error);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 << 20);
    http::read(stream, buffer, parser);
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    return HttpResponse{static_cast<int>(parser.get().result_int()), parser.get().body()};
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        fmt::format("cannot reach the awan server at {}: {}", url(), e.what()));
  }
}

absl::StatusOr<int> ApiClient::Stream(std::string_view target,
                                      const std::function<void(std::string_view)>& on_data) const {
  try {
    net::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(tcp::endpoint(net::ip::make_address(host_), static_cast<unsigned short>(port_)));
    http::write(stream, MakeRequest("GET", target, host_, token_, ""));
    beast::flat_buffer buffer;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    http::read_header(stream, buffer, parser);
    const int status = static_cast<int>(parser.get().result_int());
    std::array<char, 16384> chunk{};
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      beast::error_code ec;
      http::read(stream, buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) throw beast::system_error(ec);
      const size_t n = chunk.size() - parser.get().body().size;
      if (n > 0) on_data(std::string_view(chunk.data(), n));
    }
    return status;
  } catch (const std::exception& e) {
    return absl::UnavailableError(fmt::format("lost the awan server at {}: {}", url(), e.what()));
  }
}

absl::StatusOr<ServerInfo> ReadServerInfo(const std::string& home) {
  std::ifstream in(fs::path(home) / "server.json");
  if (!in) return absl::NotFoundError(fmt::format("no server is running for {}", home));
  try {
    auto j = nlohmann::json::parse(in);
    return ServerInfo{j.at("url").get<std::string>(), j.value("store", ""),
                      j.at("pid").get<int64_t>()};
  } catch (const std::exception& e) {
    return absl::DataLossError(fmt::format("{}/server.json is unreadable: {}", home, e.what()));
  }
}

absl::StatusOr<ApiClient> Connect(const std::string& home) {
  ASSIGN_OR_RETURN(auto info, ReadServerInfo(home));
  auto url = ParseUrl(info.url);
  if (!url)
    return absl::DataLossError(fmt::format("{}/server.json has a bad url '{}'", home, info.url));
  ApiClient client(url->host, url->port, ReadToken(home));
  auto health = client.Call("GET", "/v1/health");
  if (!health.ok() || health->status != 200) {
    return absl::UnavailableError(
        fmt::format("the server in {}/server.json (pid {}) does not answer", home, info.pid));
  }
  return client;
}

absl::StatusOr<ApiClient> ConnectOrStart(const std::string& home, bool quiet,
                                         const std::string& config) {
  if (auto client = Connect(home); client.ok()) return client;
  std::error_code ec;
  fs::create_directories(home, ec);
  fs::remove(fs::path(home) / "server.json", ec);
  if (!quiet)
    std::cerr << fmt::format("awan: starting a local server for {} (log: {}/server.log)\n", home,
                             home);
  std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  const std::string log = (fs::path(home) / "server.log").string();
  const std::string config_path = config.empty() ? "" : fs::absolute(config, ec).string();
  const uintmax_t log_start = fs::exists(log, ec) ? fs::file_size(log, ec) : 0;
  // The server says "ready" on this pipe once it listens; if it exits first, the pipe closes and
  // what it logged is shown at once.
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return absl::ResourceExhaustedError("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) {
    close(ready[0]);
    close(ready[1]);
    return absl::ResourceExhaustedError("fork failed");
  }
  if (pid == 0) {
    setsid();
    // The write end may have landed on 0-3 (a caller started with stdin or stdout closed): move it
    // out of the way before the redirections below take those numbers.
    const int write_end = fcntl(ready[1], F_DUPFD, 10);
    const int null = open("/dev/null", O_RDONLY);
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null >= 0) dup2(null, 0);
    if (out >= 0) {
      dup2(out, 1);
      dup2(out, 2);
    }
    // Nothing of the caller's leaks into the server (a pipe it holds would never reach EOF) but the
    // ready pipe, as fd 3.
    dup2(write_end, 3);
    fcntl(3, F_SETFD, 0);  // kept across exec (pipe2 made it close-on-exec)
    close_range(4, ~0U, 0);
    setenv("AWAN_SERVER_READY_FD", "3", 1);
    // Double fork: the server is not our child, so it outlives us without a zombie.
    if (fork() != 0) _exit(0);
    if (config_path.empty()) {
      execl(self.c_str(), "awan", "server", "run", static_cast<char*>(nullptr));
    } else {
      execl(self.c_str(), "awan", "server", "run", "--config", config_path.c_str(),
            static_cast<char*>(nullptr));
    }
    _exit(127);
  }
  close(ready[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  // Provider checks (SSH hosts, Slurm) may take a while; a server that fails says so at once.
  std::string said;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{ready[0], POLLIN, 0};
    if (poll(&p, 1, 200) > 0) {
      char buf[64];
      const ssize_t n = read(ready[0], buf, sizeof buf);
      if (n > 0) {
        said.append(buf, static_cast<size_t>(n));
        continue;
      }
      break;  // closed: the server is ready, or exited
    }
  }
  close(ready[0]);
  if (said.rfind("ready", 0) == 0) {
    for (int i = 0; i < 250; ++i) {
      if (auto client = Connect(home); client.ok()) return client;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return absl::UnavailableError(
        fmt::format("the server said it was ready but does not answer; see {}", log));
  }
  // What it logged as errors since this start.
  std::ifstream in(log);
  in.seekg(static_cast<std::streamoff>(log_start));
  std::string line, errors;
  while (std::getline(in, line)) {
    const size_t tag = line.find("[error] ");
    if (tag != std::string::npos) errors += (errors.empty() ? "" : "\n") + line.substr(tag + 8);
  }
  if (std::chrono::steady_clock::now() >= deadline) {
    return absl::UnavailableError(
        fmt::format("the server did not come up within 60 s; see {}", log));
  }
  return absl::FailedPreconditionError(
      fmt::format("the server could not start: {} (log: {})",
                  errors.empty() ? "it exited without saying why" : errors, log));
}

}  // namespace awan::client

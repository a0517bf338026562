// Open streams and ejection time of awan's gateway (issue 11 targets: ≥ 10,000 concurrent open
// streams on one gateway process; a dead replica ejected within 3 s). One process: the gateway
// (the library `awan gateway` runs), two test-double replicas (tests/support/http_backend.h, each
// on its own thread) and the clients (one thread, one connection per stream).
//   1. N clients each open GET /stream?n=120&ms=1000 (an SSE event a second) through the gateway
//      and wait for the first event: all N must be open at once (the gateway's in-flight count).
//   2. The clients go away: how long until the gateway has nothing in flight (each upstream
//      request cancelled).
//   3. One replica is killed under a trickle of requests: time until the gateway stops using it.
// Usage: build/release/bench/gateway_streams_bench [STREAMS]   (default 10000; raises its open-file
// limit, which needs root or a hard limit above 4 × STREAMS)
#include <fmt/format.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "awan/gateway/gateway.h"
#include "support/http_backend.h"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using awan::gateway::Gateway;
using awan::gateway::GatewayOptions;
using awan::gateway::RouteConfig;
using awan::testing::HttpBackend;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

int64_t RssKib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return 0;
}

int64_t InFlight(const Gateway& gw) {
  int64_t n = 0;
  for (const auto& s : gw.Snapshot("bench")) n += s.in_flight;
  return n;
}

// A client that opens one stream and counts its first event.
net::awaitable<void> OpenStream(int port, std::atomic<int>& opened, std::atomic<int>& failed,
                                std::vector<std::shared_ptr<tcp::socket>>& sockets) {
  auto executor = co_await net::this_coro::executor;
  auto socket = std::make_shared<tcp::socket>(executor);
  sockets.push_back(socket);
  beast::error_code ec;
  co_await socket->async_connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)),
      net::redirect_error(net::use_awaitable, ec));
  const std::string req = "GET /stream?n=120&ms=1000 HTTP/1.1\r\nHost: bench\r\n\r\n";
  if (!ec) {
    co_await net::async_write(*socket, net::buffer(req),
                              net::redirect_error(net::use_awaitable, ec));
  }
  std::string got;
  char buf[1024];
  while (!ec && got.find("data: ") == std::string::npos) {
    const size_t n = co_await socket->async_read_some(net::buffer(buf),
                                                      net::redirect_error(net::use_awaitable, ec));
    got.append(buf, n);
  }
  ++(ec ? failed : opened);
}

}  // namespace

int main(int argc, char** argv) {
  const int streams = argc > 1 ? std::atoi(argv[1]) : 10000;
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  const rlim_t want = static_cast<rlim_t>(streams) * 4 + 1024;
  if (limit.rlim_cur < want) {
    rlimit raised{want, std::max(want, limit.rlim_max)};
    if (setrlimit(RLIMIT_NOFILE, &raised) != 0) {
      std::cerr << fmt::format(
          "gateway_streams_bench: needs {} open files (limit {}); run as "
          "root or with fewer streams\n",
          want, limit.rlim_cur);
      return 1;
    }
  }
  HttpBackend a("a"), b("b");
  GatewayOptions options;
  options.health_interval_ms = 500;
  Gateway gw(options);
  RouteConfig route;
  route.name = "bench";
  route.readiness_path = "/health";
  route.replicas = {{"a", "127.0.0.1", a.port()}, {"b", "127.0.0.1", b.port()}};
  auto ports = gw.Start({route});
  if (!ports.ok()) {
    std::cerr << ports.status() << "\n";
    return 1;
  }
  const int port = ports->at(0);
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // readiness probes

  // 1. Open streams.
  const int64_t rss_before = RssKib();
  net::io_context io(1);
  std::atomic<int> opened{0}, failed{0};
  std::vector<std::shared_ptr<tcp::socket>> sockets;
  sockets.reserve(static_cast<size_t>(streams));
  const auto start = Clock::now();
  for (int i = 0; i < streams; ++i) {
    net::co_spawn(io, OpenStream(port, opened, failed, sockets), net::detached);
  }
  std::thread clients([&io] { io.run(); });
  while (opened + failed < streams && Clock::now() - start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double open_s = Seconds(Clock::now() - start);
  const int64_t in_flight = InFlight(gw);
  const int64_t rss_open = RssKib();
  std::cout << fmt::format(
      "streams: {} of {} open with their first event after {:.2f} s ({} failed); gateway in "
      "flight {}; process RSS +{:.0f} MiB for gateway, replicas and clients together ({:.1f} "
      "KiB per stream)\n",
      opened.load(), streams, open_s, failed.load(), in_flight,
      static_cast<double>(rss_open - rss_before) / 1024,
      static_cast<double>(rss_open - rss_before) / std::max(1, opened.load()));

  // 2. The clients go away (their thread is done: each client ended at its first event).
  clients.join();
  const auto closing = Clock::now();
  {
    beast::error_code ec;
    for (auto& s : sockets) s->close(ec);
  }
  while (InFlight(gw) > 0 && Clock::now() - closing < std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double drained_s = Seconds(Clock::now() - closing);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the replicas' next event fails
  std::cout << fmt::format(
      "disconnect: gateway in flight {} → {} after {:.2f} s; streams the replicas saw cancelled: "
      "{}\n",
      in_flight, InFlight(gw), drained_s, a.cancelled_streams() + b.cancelled_streams());

  // 3. Ejection: replica b dies; a trickle of requests goes on.
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      net::io_context cio;
      beast::tcp_stream s(cio);
      beast::error_code ec;
      s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)), ec);
      beast::http::request<beast::http::empty_body> req{beast::http::verb::get, "/who", 11};
      if (!ec) beast::http::write(s, req, ec);
      beast::flat_buffer buf;
      beast::http::response<beast::http::string_body> res;
      if (!ec) beast::http::read(s, buf, res, ec);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto killed = Clock::now();
  b.Stop();
  double ejected_s = -1;
  while (Clock::now() - killed < std::chrono::seconds(10)) {
    bool usable = false;
    for (const auto& s : gw.Snapshot("bench")) {
      if (s.id == "b") usable = s.ready && !s.ejected;
    }
    if (!usable) {
      ejected_s = Seconds(Clock::now() - killed);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  trickle.join();
  std::cout << fmt::format(
      "ejection: a killed replica taken out of the rotation after {:.2f} s (target ≤ 3 s; "
      "readiness probes every {} ms, 3 consecutive failures eject)\n",
      ejected_s, options.health_interval_ms);
  gw.Stop();
  return opened == streams && ejected_s >= 0 && ejected_s <= 3 ? 0 : 1;
}

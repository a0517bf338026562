// What the gateway adds on the fallback path (issue 12; docs/performance.md): N sequential
// completions (a) straight to an emulated OpenAI-compatible endpoint, (b) through a gateway route
// whose replica answers 429 (a full replica: asked first, then the endpoint), (c) through a route
// with no ready replica (the endpoint at once). Same endpoint, same client, interleaved rounds;
// the emulated endpoint's timing is zero, so the differences are the gateway's.
//   build/release/bench/fallback_bench [REQUESTS [ROUNDS]]
#include <fmt/format.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cstdlib>
#include <thread>
#include <vector>

#include "awan/gateway/gateway.h"
#include "awan/llm/replica_server.h"

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Microseconds per request over a kept-alive connection.
std::vector<double> Run(int port, int n) {
  net::io_context io;
  beast::tcp_stream s(io);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  std::vector<double> us;
  beast::flat_buffer buffer;
  for (int i = 0; i < n; ++i) {
    http::request<http::string_body> req{http::verb::post, "/v1/chat/completions", 11};
    req.set(http::field::host, "bench");
    req.body() = R"({"max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]})";
    req.prepare_payload();
    const auto t0 = Clock::now();
    http::write(s, req);
    http::response<http::string_body> res;
    http::read(s, buffer, res);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    if (res.result_int() != 200) {
      fmt::print(stderr, "answer {}: {}\n", res.result_int(), res.body());
      std::exit(1);
    }
  }
  return us;
}

double Pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int rounds = argc > 2 ? std::atoi(argv[2]) : 3;
  awan::llm::ReplicaServerOptions o;
  o.model = "gpt-4o-mini";
  o.timing.prefill_s_per_token = 0;
  o.timing.decode_s_per_step = 0;
  o.timing.decode_s_per_request = 0;
  awan::llm::ReplicaServer endpoint(o), full(o);
  const int endpoint_port = *endpoint.Start();
  const int full_port = *full.Start();
  awan::llm::Fault busy;
  busy.status = 429;
  full.SetFault(busy);
  awan::gateway::ManagedEndpoint e;
  e.name = "openai";
  e.kind = "openai";
  e.base_url = fmt::format("http://127.0.0.1:{}/v1", endpoint_port);
  e.cooldown_ms = 0;
  awan::gateway::GatewayOptions go;
  go.health_interval_ms = 50;
  awan::gateway::RouteConfig with_full, with_none;
  with_full.name = "full";
  with_full.readiness_path = "/health";
  with_full.replicas = {{"r", "127.0.0.1", full_port}};
  with_full.fallbacks = {e};
  with_none = with_full;
  with_none.name = "none";
  with_none.replicas = {{"r", "127.0.0.1", 1}};
  awan::gateway::Gateway gateway(go);
  const auto ports = *gateway.Start({with_full, with_none});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the replica's probe
  std::vector<double> direct, via_full, via_none;
  Run(endpoint_port, 200);  // warm-up
  Run(ports[0], 200);
  Run(ports[1], 200);
  for (int r = 0; r < rounds; ++r) {
    for (double v : Run(endpoint_port, n)) direct.push_back(v);
    for (double v : Run(ports[0], n)) via_full.push_back(v);
    for (double v : Run(ports[1], n)) via_none.push_back(v);
  }
  fmt::print("{:<44} {:>9} {:>9} {:>9}\n", "path (us per request, sequential)", "p50", "p99",
             "p99 - direct");
  const auto row = [&](const char* name, const std::vector<double>& v) {
    fmt::print("{:<44} {:>9.0f} {:>9.0f} {:>9.0f}\n", name, Pct(v, 0.5), Pct(v, 0.99),
               Pct(v, 0.99) - Pct(direct, 0.99));
  };
  row("direct to the endpoint", direct);
  row("gateway: replica 429, then the endpoint", via_full);
  row("gateway: no replica ready, the endpoint", via_none);
  fmt::print(
      "({} requests x {} rounds each; the endpoint and a full replica are emulated, timing 0)\n", n,
      rounds);
  return 0;
}

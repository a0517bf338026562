#include "replica_probe.h"

#include <fmt/format.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

namespace awan::controller {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

net::awaitable<void> Ask(beast::tcp_stream& stream, std::string host, int port,
                         const spec::ReadinessProbe& probe, ProbeResult& out, bool& done) {
  beast::error_code ec;
  net::ip::tcp::resolver resolver(stream.get_executor());
  auto endpoints = co_await resolver.async_resolve(host, std::to_string(port),
                                                   net::redirect_error(net::use_awaitable, ec));
  if (ec) {
    out.why = fmt::format("cannot resolve {}: {}", host, ec.message());
    done = true;
    co_return;
  }
  co_await stream.async_connect(endpoints, net::redirect_error(net::use_awaitable, ec));
  http::request<http::string_body> req{probe.post_data ? http::verb::post : http::verb::get,
                                       probe.path, 11};
  req.set(http::field::host, fmt::format("{}:{}", host, port));
  req.set(http::field::user_agent, "awan-readiness-probe");
  for (const auto& [name, value] : probe.headers) req.set(name, value);
  if (probe.post_data) {
    req.set(http::field::content_type, "application/json");
    req.body() = *probe.post_data;
  }
  req.keep_alive(false);
  req.prepare_payload();
  if (!ec) co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, ec));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  if (!ec) {
    co_await http::async_read(stream, buffer, parser, net::redirect_error(net::use_awaitable, ec));
  }
  done = true;
  if (ec && ec != http::error::end_of_stream) {
    out.why = ec.message();
    co_return;
  }
  const int status = static_cast<int>(parser.get().result_int());
  out.ready = status == 200;
  if (!out.ready) out.why = fmt::format("answered {}", status);
}

}  // namespace

ProbeResult ProbeReplica(const std::string& host, int port, const spec::ReadinessProbe& probe) {
  net::io_context io;
  beast::tcp_stream stream(io);
  ProbeResult out;
  bool done = false;
  net::co_spawn(io, Ask(stream, host, port, probe, out, done), net::detached);
  io.run_for(std::chrono::milliseconds(static_cast<int64_t>(probe.timeout_s * 1000)));
  if (!done) {
    out = {false, fmt::format("no answer within {:g} s", probe.timeout_s)};
    beast::error_code ignored;
    stream.socket().close(ignored);
    io.restart();
    io.poll();  // lets the coroutine see the close and end
  }
  return out;
}

}  // namespace awan::controller

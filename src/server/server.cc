// ApiServer: Boost.Beast over one io_context thread, one coroutine per connection. Log streaming
// (GET /v1/jobs/ID/logs?follow=1) is a chunked response that polls the job's log file until the job
// has ended and the file has no more bytes.
#include "awan/server/server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "awan/catalog/accelerators.h"
#include "awan/common/json_dump.h"
#include "awan/common/text.h"
#include "awan/optimizer/optimizer.h"
#include "awan/providers/sim.h"
#include "awan/server/api.h"
#include "awan/spec/task_parser.h"
#include "handlers.h"
#include "router.h"

namespace awan::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using J = nlohmann::ordered_json;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The job id of a log-follow request (GET /v1/jobs/{id}/logs?follow=1), if it is one.
std::optional<int64_t> FollowedLog(const Target& target) {
  constexpr std::string_view kPrefix = "/v1/jobs/", kSuffix = "/logs";
  const std::string& path = target.path;
  if (path.size() <= kPrefix.size() + kSuffix.size() || path.rfind(kPrefix, 0) != 0 ||
      path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return std::nullopt;
  }
  auto follow = target.query.find("follow");
  if (follow == target.query.end() || follow->second == "0") return std::nullopt;
  auto id = ParseNumber(path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size()));
  if (!id || *id < 1 || *id != static_cast<double>(static_cast<int64_t>(*id))) return std::nullopt;
  return static_cast<int64_t>(*id);
}

// A beast response from the handlers' answer; HEAD gets the headers with no body.
Response ToBeast(const HttpResponse& r, unsigned version, bool head) {
  Response res{static_cast<http::status>(r.status), version};
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::server, std::string("awan/") + kAwanVersion);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  if (head) {
    res.content_length(r.body.size());
  } else {
    res.body() = r.body;
    res.prepare_payload();
  }
  return res;
}

}  // namespace

struct ApiServer::Impl {
  Impl(controller::JobController& c, store::Store& s, const catalog::Catalog& cat, ServerOptions o,
       const providers::Fleet* f)
      : controller(c),
        store(s),
        catalog(cat),
        options(std::move(o)),
        fleet(f),
        context{c,       s, cat,
                options, f, [this] { return fmt::format("http://{}:{}", options.host, port); }},
        router(MakeRouter(context)) {}

  controller::JobController& controller;
  store::Store& store;
  const catalog::Catalog& catalog;
  ServerOptions options;
  const providers::Fleet* fleet;
  ApiContext context;  // what the handlers see
  Router router;       // the route table (handlers.h)
  net::io_context io{1};
  std::optional<tcp::acceptor> acceptor;
  std::thread thread;
  int port = 0;

  // Open connections, and those waiting for a request (the ones closed first when the limit is
  // reached), oldest first. Loop-thread state of the io_context.
  size_t open_connections = 0;
  size_t connection_limit = 0;
  uint64_t next_idle = 0;
  std::map<uint64_t, beast::tcp_stream*> idle;

  // Closes the connection that has waited longest for a request; false if none waits.
  bool EvictIdle() {
    if (idle.empty()) return false;
    beast::tcp_stream* oldest = idle.begin()->second;
    idle.erase(idle.begin());
    boost::system::error_code ec;
    oldest->socket().close(ec);
    return true;
  }

  net::awaitable<void> Accept() {
    net::steady_timer backoff(io);
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor->async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec) {
        if (ec == net::error::operation_aborted) co_return;
        // Out of descriptors (or memory): make room and wait a little instead of spinning.
        if (!EvictIdle())
          spdlog::warn("accept: {}; waiting for connections to close", ec.message());
        backoff.expires_after(std::chrono::milliseconds(50));
        co_await backoff.async_wait(net::redirect_error(net::use_awaitable, ec));
        continue;
      }
      if (open_connections >= connection_limit && !EvictIdle()) {
        socket.close(ec);  // every connection is busy with a request: this one waits its turn
        continue;
      }
      net::co_spawn(io, Session(std::move(socket)), net::detached);
    }
  }

  // Writes a short error answer and closes the connection.
  net::awaitable<void> Refuse(beast::tcp_stream& stream, http::status status,
                              const std::string& message) {
    boost::system::error_code ec;
    Response res = ToBeast(ErrorResponse(static_cast<int>(status), message), 11, false);
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(std::chrono::seconds(5));
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  // 413, then a lingering close: stop sending, then read and drop what the client is still sending
  // (for a few seconds at most), so closing does not reset the connection before it reads the 413.
  net::awaitable<void> TooLarge(beast::tcp_stream& stream) {
    boost::system::error_code ec;
    Response res = ToBeast(ErrorResponse(413, fmt::format("request body is larger than {} bytes",
                                                          options.max_body_bytes)),
                           11, false);
    res.keep_alive(false);
    stream.expires_after(std::chrono::seconds(5));
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(std::chrono::seconds(5));
    std::array<char, 65536> sink{};
    size_t drained = 0;
    while (!ec && drained < 64 * options.max_body_bytes) {
      drained += co_await stream.async_read_some(net::buffer(sink),
                                                 net::redirect_error(net::use_awaitable, ec));
    }
  }

  net::awaitable<void> Session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    ++open_connections;
    struct Closed {
      Impl* impl;
      uint64_t* idle_key;
      ~Closed() {
        if (*idle_key != 0) impl->idle.erase(*idle_key);
        --impl->open_connections;
      }
    };
    uint64_t idle_key = 0;
    const Closed closed{this, &idle_key};
    for (bool first = true;; first = false) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
      // Waiting for a request (evictable when connections run out), then its headers in time.
      idle_key = ++next_idle;
      idle[idle_key] = &stream;
      stream.expires_after(
          std::chrono::seconds(first ? options.header_timeout_s : options.idle_timeout_s));
      co_await http::async_read_header(stream, buffer, parser,
                                       net::redirect_error(net::use_awaitable, ec));
      idle.erase(idle_key);
      idle_key = 0;
      if (ec == http::error::header_limit) {
        // No line end in what was read: the request line alone is too long.
        const std::string_view head(static_cast<const char*>(buffer.data().data()),
                                    buffer.data().size());
        const bool target = head.find("\r\n") == std::string_view::npos;
        co_await Refuse(
            stream,
            target ? http::status::uri_too_long : http::status::request_header_fields_too_large,
            fmt::format("the request {} is larger than {} bytes", target ? "target" : "header",
                        options.max_header_bytes));
        co_return;
      }
      if (ec == http::error::body_limit) {  // its Content-Length says so already
        co_await TooLarge(stream);
        co_return;
      }
      if (ec) break;
      stream.expires_after(std::chrono::seconds(options.body_timeout_s));
      co_await http::async_read(stream, buffer, parser,
                                net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::body_limit) {
        co_await TooLarge(stream);
        co_return;
      }
      if (ec) break;
      Request req = parser.release();
      const bool keep = req.keep_alive();
      const Target target = ParseTarget(req.target());
      if (const auto id = FollowedLog(target);
          id && req.method() == http::verb::get && Authorized(req) == 0) {
        co_await StreamLogs(stream, *id, target, req.version());
        break;
      }
      Response res = Handle(req);
      res.keep_alive(keep);
      stream.expires_after(std::chrono::seconds(options.body_timeout_s));
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !keep) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  // 0 = authorized, else 401/403.
  int Authorized(const Request& req) const {
    const auto header = req.find(http::field::authorization);
    if (header == req.end()) return 401;
    const std::string_view value(header->value().data(), header->value().size());
    constexpr std::string_view kBearer = "Bearer ";
    if (value.rfind(kBearer, 0) != 0) return 401;
    return ConstantTimeEquals(value.substr(kBearer.size()), options.token) ? 0 : 403;
  }

  Response Handle(const Request& req) {
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = req.body();
    if (auto auth = req.find(http::field::authorization); auth != req.end()) {
      r.authorization = std::string(auth->value());
    }
    const HttpResponse answer =
        router.Dispatch(r, [this, &req](const HttpRequest&) { return Authorized(req); });
    return ToBeast(answer, req.version(), req.method() == http::verb::head);
  }

  net::awaitable<void> StreamLogs(beast::tcp_stream& stream, int64_t id, const Target& target,
                                  unsigned v) {
    boost::system::error_code ec;
    auto job = store.GetJob(id);
    if (!job.ok()) {
      Response res = ToBeast(ErrorFrom(job.status()), v, false);
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      co_return;
    }
    uint64_t offset = 0;
    if (auto it = target.query.find("offset"); it != target.query.end()) {
      if (auto n = ParseNumber(it->second); n && *n >= 0) offset = static_cast<uint64_t>(*n);
    }
    stream.expires_never();
    http::response<http::empty_body> res{http::status::ok, v};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.chunked(true);
    http::response_serializer<http::empty_body> sr{res};
    co_await http::async_write_header(stream, sr, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;
    net::steady_timer timer(io);
    bool ended = false;
    for (;;) {
      std::string chunk = ReadLog(controller.LogPath(id), offset, 64 << 10);
      if (!chunk.empty()) {
        offset += chunk.size();
        co_await net::async_write(stream.socket(), http::make_chunk(net::buffer(chunk)),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) co_return;  // the client went away
        continue;
      }
      if (ended) break;  // drained after the job ended
      auto now = store.GetJob(id);
      if (!now.ok() || store::IsTerminal(now->state)) {
        ended = true;  // one more read picks up the last bytes
        timer.expires_after(std::chrono::milliseconds(50));
      } else {
        timer.expires_after(std::chrono::milliseconds(100));
      }
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    }
    co_await net::async_write(stream.socket(), http::make_chunk_last(),
                              net::redirect_error(net::use_awaitable, ec));
  }
};

ApiServer::ApiServer(controller::JobController& controller, store::Store& store,
                     const catalog::Catalog& catalog, ServerOptions options,
                     const providers::Fleet* fleet)
    : impl_(std::make_unique<Impl>(controller, store, catalog, std::move(options), fleet)) {}

ApiServer::~ApiServer() { Stop(); }

absl::Status ApiServer::Start() {
  try {
    const tcp::endpoint endpoint(net::ip::make_address(impl_->options.host),
                                 static_cast<unsigned short>(impl_->options.port));
    impl_->acceptor.emplace(impl_->io, endpoint);
    impl_->port = impl_->acceptor->local_endpoint().port();
  } catch (const std::exception& e) {
    return absl::UnavailableError(fmt::format("cannot listen on {}:{}: {}", impl_->options.host,
                                              impl_->options.port, e.what()));
  }
  // Connections never take the last descriptors: jobs, the store and logs need some too.
  rlimit files{};
  size_t limit = impl_->options.max_connections;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    if (files.rlim_cur < files.rlim_max) {
      files.rlim_cur = std::min<rlim_t>(files.rlim_max, 1 << 20);
      setrlimit(RLIMIT_NOFILE, &files);
      getrlimit(RLIMIT_NOFILE, &files);
    }
    const size_t reserve = 64 + files.rlim_cur / 4;
    limit = std::min(limit, files.rlim_cur > reserve ? static_cast<size_t>(files.rlim_cur - reserve)
                                                     : size_t{16});
  }
  impl_->connection_limit = std::max<size_t>(limit, 16);
  net::co_spawn(impl_->io, impl_->Accept(), net::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
  return absl::OkStatus();
}

int ApiServer::port() const { return impl_->port; }
std::string ApiServer::url() const {
  return fmt::format("http://{}:{}", impl_->options.host, impl_->port);
}

void ApiServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  net::post(impl_->io, [this] {
    boost::system::error_code ec;
    if (impl_->acceptor) impl_->acceptor->close(ec);
  });
  impl_->io.stop();
  impl_->thread.join();
}

}  // namespace awan::server

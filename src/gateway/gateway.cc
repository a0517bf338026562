// The gateway's relay: Boost.Beast over one io_context thread, one coroutine per client
// connection, the response relayed with a small buffer (Beast's relay pattern), kept-alive
// upstream connections pooled per replica.
#include "awan/gateway/gateway.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "awan/common/secrets.h"
#include "awan/common/status_macros.h"

namespace awan::gateway {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
namespace ssl = net::ssl;
using Request = http::request<http::string_body>;

constexpr size_t kMaxRequestBody = 64u << 20;
constexpr size_t kIdleUpstreamPerReplica = 64;
constexpr uint64_t kWholeAnswerBytes = 64u << 10;  // answers up to this are relayed in one write

std::chrono::milliseconds Ms(int64_t ms) { return std::chrono::milliseconds(ms); }

// A message's start line and fields as one flat text (Beast's serializer walks a view of many
// small buffers per message, which costs more than the message is worth at high request rates).
void AppendFields(const http::fields& fields, std::string& out) {
  for (const auto& f : fields) {
    out.append(f.name_string().data(), f.name_string().size());
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  out += "\r\n";
}
std::string RequestHead(const Request& req) {
  std::string out;
  out.reserve(256);
  out.append(req.method_string().data(), req.method_string().size());
  out += ' ';
  out.append(req.target().data(), req.target().size());
  out += req.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  AppendFields(req, out);
  return out;
}
std::string ResponseHead(const http::response<http::string_body>& res) {
  std::string out;
  out.reserve(256);
  out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  out += std::to_string(res.result_int());
  out += ' ';
  out.append(res.reason().data(), res.reason().size());
  out += "\r\n";
  AppendFields(res, out);
  return out;
}

}  // namespace

// Upper bounds of the request-duration histogram's buckets, in seconds.
constexpr std::array<double, 12> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,   0.25,   0.5,   1,    2.5,   10};

struct RouteMetrics {
  std::atomic<uint64_t> retries{0};
  std::array<std::atomic<uint64_t>, 5> responses{};                  // by status class, 1xx..5xx
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> buckets{};  // the last: above them all
  std::atomic<uint64_t> count{0}, sum_us{0};

  void Record(int status, std::chrono::steady_clock::duration took) {
    if (status >= 100 && status < 600) ++responses[static_cast<size_t>(status / 100 - 1)];
    const double seconds = std::chrono::duration<double>(took).count();
    size_t b = 0;
    while (b < kBuckets.size() && seconds > kBuckets[b]) ++b;
    ++buckets[b];
    ++count;
    sum_us +=
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
  }
};

struct Route {
  RouteConfig config;
  RouteMetrics metrics;
  std::unique_ptr<Balancer> balancer;
  std::optional<tcp::acceptor> acceptor;
  mutable std::mutex mu;
  std::vector<ReplicaAddress> replicas;  // guarded by mu: what the health check probes
  std::unordered_set<std::string> keys;  // guarded by mu: SHA-256 of the valid API keys
  std::atomic<bool> retired{false};      // no longer served: its health checks end
  std::unique_ptr<ssl::context> tls;     // when the route serves HTTPS
};

// A connection with a deadline: the gateway's sweeper closes one whose deadline passed (its
// operation under way then ends with an error, and `timed_out` says why) — cheaper than arming a
// timer for every read and write, as Beast's tcp_stream does. io thread only.
class Deadline {
 public:
  explicit Deadline(std::unordered_set<Deadline*>& registry) : registry_(registry) {
    registry_.insert(this);
  }
  virtual ~Deadline() { registry_.erase(this); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;
  void ExpiresAfter(std::chrono::milliseconds ms) {
    deadline = std::chrono::steady_clock::now() + ms;
  }
  void ExpiresNever() { deadline = std::chrono::steady_clock::time_point::max(); }
  virtual void Close() = 0;

  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool timed_out = false;

 private:
  std::unordered_set<Deadline*>& registry_;
};

// A plain TCP connection (`tcp::socket`) or a TLS one (`ssl::stream<tcp::socket>`).
template <typename Stream>
class BasicConn final : public Deadline {
 public:
  template <typename... Args>
  explicit BasicConn(std::unordered_set<Deadline*>& registry, Args&&... args)
      : Deadline(registry), stream(std::forward<Args>(args)...) {}
  void Close() override {
    beast::error_code ec;
    beast::get_lowest_layer(stream).close(ec);
  }
  Stream stream;
};
using Conn = BasicConn<tcp::socket>;
using TlsConn = BasicConn<ssl::stream<tcp::socket>>;

struct Gateway::Impl {
  explicit Impl(GatewayOptions o) : options(std::move(o)) {}

  GatewayOptions options;
  std::unordered_set<Deadline*> conns;  // every open connection (io thread); outlives `io`
  // One thread runs the network; other threads only post to it: no locking of the reactor.
  net::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::thread thread;
  mutable std::mutex routes_mu;  // routes and retired: changed on the io thread, read anywhere
  std::vector<std::unique_ptr<Route>> routes;
  // Routes no longer served: kept, since their sessions may still hold them.
  std::vector<std::unique_ptr<Route>> retired;
  std::optional<tcp::acceptor> admin;
  int admin_port = -1;
  std::function<std::string()> metrics;  // the exposition text, for /metrics
  // Idle kept-alive connections to replicas, by "host:port". io thread only.
  std::map<std::string, std::vector<std::unique_ptr<Conn>>> idle_upstream;
  std::map<std::string, bool> probing;  // io thread only: "route/replica" being probed

  static std::string Key(const ReplicaAddress& a) { return fmt::format("{}:{}", a.host, a.port); }

  net::awaitable<std::unique_ptr<Conn>> Connect(const ReplicaAddress& a, beast::error_code& ec,
                                                bool& timed_out) {
    auto stream = std::make_unique<Conn>(conns, io);
    boost::system::error_code parse_ec;
    const auto address = net::ip::make_address(a.host, parse_ec);
    tcp::endpoint endpoint;
    if (!parse_ec) {
      endpoint = tcp::endpoint(address, static_cast<uint16_t>(a.port));
    } else {  // a name: resolve it
      tcp::resolver resolver(io);
      auto results = co_await resolver.async_resolve(a.host, std::to_string(a.port),
                                                     net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return nullptr;
      endpoint = *results.begin();
    }
    stream->ExpiresAfter(Ms(options.connect_timeout_ms));
    co_await stream->stream.async_connect(endpoint, net::redirect_error(net::use_awaitable, ec));
    timed_out = stream->timed_out;
    if (ec) co_return nullptr;
    stream->stream.set_option(tcp::no_delay(true), ec);
    ec = {};
    co_return stream;
  }

  // Sends `req` to the lease's replica and relays its answer to the client. Returns the outcome
  // for the replica, and whether the client connection may stay open; `answered` tells whether
  // anything reached the client (after that, no retry).
  template <typename ClientConn>
  net::awaitable<Outcome> Relay(Balancer::Lease& lease, const Request& req, ClientConn& client,
                                bool& answered, bool& keep_client, int& status) {
    const ReplicaAddress& address = lease.address();
    const std::string key = Key(address);
    beast::error_code ec;
    std::unique_ptr<Conn> up;
    bool reused = false;
    beast::flat_buffer upbuf;
    std::optional<http::response_parser<http::buffer_body>> parser;
    for (int fresh = 0; fresh < 2; ++fresh) {
      up.reset();
      reused = false;
      auto& pool = idle_upstream[key];
      if (fresh == 0 && !pool.empty()) {
        up = std::move(pool.back());
        pool.pop_back();
        reused = true;
      } else {
        bool timed_out = false;
        up = co_await Connect(address, ec, timed_out);
        if (!up) co_return timed_out ? Outcome::kTimeout : Outcome::kConnectError;
      }
      upbuf.clear();
      parser.emplace();
      parser->body_limit(boost::none);
      if (req.method() == http::verb::head) parser->skip(true);
      up->ExpiresAfter(Ms(options.response_header_timeout_ms));
      {
        const std::string head = RequestHead(req);
        const std::array<net::const_buffer, 2> message{net::buffer(head), net::buffer(req.body())};
        co_await net::async_write(up->stream, message, net::redirect_error(net::use_awaitable, ec));
      }
      if (!ec) {
        co_await http::async_read_header(up->stream, upbuf, *parser,
                                         net::redirect_error(net::use_awaitable, ec));
      }
      if (!ec) break;
      // A pooled connection the replica closed while it sat idle (keep-alive timeout) fails at
      // once without an answer: that is not the replica's failure; try once on a fresh one.
      if (!reused || up->timed_out) {
        co_return up->timed_out ? Outcome::kTimeout : Outcome::kConnectError;
      }
    }
    auto& p = *parser;
    status = static_cast<int>(p.get().result_int());
    const bool server_error = status >= 500;
    // A small answer of known length (most API answers) is read whole and sent in one write; a
    // stream, a chunked or a large answer is relayed piece by piece below.
    if (p.is_done() ||
        (!p.chunked() && p.content_length() && *p.content_length() <= kWholeAnswerBytes)) {
      http::response_parser<http::string_body> whole{std::move(p)};
      whole.body_limit(kWholeAnswerBytes);
      if (!whole.is_done()) {
        co_await http::async_read(up->stream, upbuf, whole,
                                  net::redirect_error(net::use_awaitable, ec));
      }
      if (ec) {  // broken off before the client got anything: another replica may answer
        co_return up->timed_out ? Outcome::kTimeout : Outcome::kConnectError;
      }
      answered = true;
      http::response<http::string_body> res = whole.release();
      if (res.chunked()) res.prepare_payload();  // read whole: sent with its length
      const bool upstream_alive = res.keep_alive() && !whole.need_eof();
      keep_client = keep_client && res.keep_alive();
      client.ExpiresNever();
      up->ExpiresNever();
      {
        const std::string head = ResponseHead(res);
        const std::array<net::const_buffer, 2> message{net::buffer(head), net::buffer(res.body())};
        co_await net::async_write(client.stream, message,
                                  net::redirect_error(net::use_awaitable, ec));
      }
      if (upstream_alive) {
        auto& pool = idle_upstream[key];
        if (pool.size() < kIdleUpstreamPerReplica) pool.push_back(std::move(up));
      }
      if (ec) {
        keep_client = false;
        co_return Outcome::kCancelled;
      }
      co_return server_error ? Outcome::kServerError : Outcome::kOk;
    }
    http::response_serializer<http::buffer_body> sr{p.get()};
    up->ExpiresNever();  // a stream may last as long as it likes
    answered = true;
    client.ExpiresNever();
    co_await http::async_write_header(client.stream, sr,
                                      net::redirect_error(net::use_awaitable, ec));
    if (ec) {
      keep_client = false;
      co_return Outcome::kCancelled;  // the client went away; the upstream connection is dropped
    }
    std::array<char, 16384> buf;
    do {
      if (!p.is_done()) {
        p.get().body().data = buf.data();
        p.get().body().size = buf.size();
        co_await http::async_read_some(up->stream, upbuf, p,
                                       net::redirect_error(net::use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {  // the replica broke off mid-answer: the client cannot get a whole one
          keep_client = false;
          co_return Outcome::kConnectError;
        }
        p.get().body().size = buf.size() - p.get().body().size;
        // Nothing parsed yet (a chunk's size line alone): no data, or the serializer would send
        // an empty chunk — which ends a chunked stream.
        p.get().body().data = p.get().body().size > 0 ? buf.data() : nullptr;
        p.get().body().more = !p.is_done();
      } else {
        p.get().body().data = nullptr;
        p.get().body().size = 0;
      }
      co_await http::async_write(client.stream, sr, net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {  // the client went away: closing the upstream connection cancels the request
        keep_client = false;
        co_return Outcome::kCancelled;
      }
    } while (!p.is_done() && !sr.is_done());
    keep_client = keep_client && p.get().keep_alive();
    if (p.get().keep_alive() && !p.get().need_eof()) {
      auto& pool = idle_upstream[key];
      if (pool.size() < kIdleUpstreamPerReplica) pool.push_back(std::move(up));
    }
    co_return server_error ? Outcome::kServerError : Outcome::kOk;
  }

  static bool KeyAccepted(Route& route, const Request& req) {
    const auto header = req[http::field::authorization];
    constexpr std::string_view kBearer = "Bearer ";
    if (header.size() <= kBearer.size() || !header.starts_with(kBearer)) return false;
    const std::string hash = Sha256Hex(header.substr(kBearer.size()));
    std::lock_guard<std::mutex> lock(route.mu);
    return route.keys.count(hash) != 0;
  }

  template <typename ClientConn>
  net::awaitable<void> Answer(ClientConn& client, http::status status, unsigned version,
                              std::string text, bool keep_alive, bool bearer = false) {
    http::response<http::string_body> res{status, version};
    if (bearer) res.set(http::field::www_authenticate, "Bearer");
    res.set(http::field::content_type, "text/plain");
    res.set(http::field::server, "awan-gateway");
    res.keep_alive(keep_alive);
    res.body() = text + "\n";
    res.prepare_payload();
    beast::error_code ec;
    co_await http::async_write(client.stream, res, net::redirect_error(net::use_awaitable, ec));
  }

  net::awaitable<void> Session(Route& route, tcp::socket socket) {
    beast::error_code peer_ec;
    socket.set_option(tcp::no_delay(true), peer_ec);
    const std::string peer = socket.remote_endpoint(peer_ec).address().to_string();
    if (!route.tls) {
      Conn client(conns, std::move(socket));
      co_await Serve(route, client, peer);
      beast::error_code ignored;
      client.stream.shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    TlsConn client(conns, std::move(socket), *route.tls);
    client.ExpiresAfter(Ms(options.client_idle_timeout_ms));
    beast::error_code ec;
    co_await client.stream.async_handshake(ssl::stream_base::server,
                                           net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return;  // not TLS, or a certificate the client refused
    co_await Serve(route, client, peer);
    beast::error_code ignored;
    client.stream.lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
  }

  // One client connection's requests, in turn (keep-alive).
  template <typename ClientConn>
  net::awaitable<void> Serve(Route& route, ClientConn& client, const std::string& peer) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(kMaxRequestBody);
      client.ExpiresAfter(Ms(options.client_idle_timeout_ms));
      beast::error_code ec;
      co_await http::async_read(client.stream, buffer, parser,
                                net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
      Request req = parser.release();
      bool keep_client = req.keep_alive();
      const unsigned version = req.version();
      if (route.config.require_key && !KeyAccepted(route, req)) {
        const auto started = std::chrono::steady_clock::now();
        co_await Answer(client, http::status::unauthorized, version,
                        "this service needs an API key: send `Authorization: Bearer KEY`",
                        keep_client, /*bearer=*/true);
        route.metrics.Record(401, std::chrono::steady_clock::now() - started);
        if (!keep_client) break;
        continue;
      }
      req.erase(http::field::authorization);     // the key is the gateway's business
      req.keep_alive(true);                      // towards the replica: pooled
      if (req.chunked()) req.prepare_payload();  // the body is whole here: sent with its length
      req.set("X-Forwarded-For", peer);
      std::string failed_on;
      bool answered = false;
      int status = 0;
      const auto started = std::chrono::steady_clock::now();
      for (int attempt = 0; attempt < 2 && !answered; ++attempt) {
        if (attempt > 0) ++route.metrics.retries;
        auto lease = route.balancer->Acquire(failed_on);
        if (!lease) {
          // A named local, not a temporary in the co_await (GCC 12 destroys such temporaries of
          // a conditional expression twice in a coroutine).
          std::string why = fmt::format("no replica of {} is ready", route.config.name);
          if (attempt > 0) {
            why = fmt::format("the replica of {} failed and no other is ready", route.config.name);
          }
          co_await Answer(client, http::status::service_unavailable, version, why, keep_client);
          answered = true;
          status = 503;
          break;
        }
        const std::string id = lease->address().id;
        const Outcome outcome = co_await Relay(*lease, req, client, answered, keep_client, status);
        route.balancer->Release(*lease, outcome);
        if (!answered) failed_on = id;  // the retry goes elsewhere
      }
      if (!answered) {
        const std::string why = fmt::format("no replica of {} answered", route.config.name);
        co_await Answer(client, http::status::bad_gateway, version, why, keep_client);
        status = 502;
      }
      route.metrics.Record(status, std::chrono::steady_clock::now() - started);
      if (!keep_client) break;
    }
  }

  net::awaitable<void> Accept(Route& route) {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket =
          co_await route.acceptor->async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) continue;
      net::co_spawn(io, Session(route, std::move(socket)), net::detached);
    }
  }

  net::awaitable<void> Probe(Route& route, ReplicaAddress address) {
    const std::string key = route.config.name + "/" + address.id;
    probing[key] = true;
    beast::error_code ec;
    bool ready = false;
    bool timed_out = false;
    auto stream = co_await Connect(address, ec, timed_out);
    if (stream) {
      http::request<http::empty_body> req{http::verb::get, route.config.readiness_path, 11};
      req.set(http::field::host, address.host);
      req.set(http::field::user_agent, "awan-gateway-probe");
      req.keep_alive(false);
      stream->ExpiresAfter(Ms(options.health_timeout_ms));
      co_await http::async_write(stream->stream, req, net::redirect_error(net::use_awaitable, ec));
      if (!ec) {
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        co_await http::async_read(stream->stream, buf, res,
                                  net::redirect_error(net::use_awaitable, ec));
        ready = !ec && res.result() == http::status::ok;
      }
    }
    route.balancer->SetReady(address.id, ready);
    probing[key] = false;
  }

  // A route listening on its address (io thread, or before it runs).
  absl::StatusOr<std::unique_ptr<Route>> Listen(const RouteConfig& config) {
    auto policy = MakePolicy(config.policy);
    if (!policy.ok()) return policy.status();
    auto route = std::make_unique<Route>();
    route->config = config;
    route->balancer = std::make_unique<Balancer>(std::move(*policy), options.balancer);
    route->balancer->SetReplicas(config.replicas);
    route->replicas = config.replicas;
    route->keys = {config.key_hashes.begin(), config.key_hashes.end()};
    boost::system::error_code ec;
    if (!config.tls_certfile.empty()) {
      route->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
      route->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                              ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                              ssl::context::no_tlsv1_1);
      route->tls->use_certificate_chain_file(config.tls_certfile, ec);
      if (ec) {
        return absl::InvalidArgumentError(fmt::format("route {}: certificate {}: {}", config.name,
                                                      config.tls_certfile, ec.message()));
      }
      route->tls->use_private_key_file(config.tls_keyfile, ssl::context::pem, ec);
      if (ec) {
        return absl::InvalidArgumentError(
            fmt::format("route {}: key {}: {}", config.name, config.tls_keyfile, ec.message()));
      }
    }
    const auto address = net::ip::make_address(config.host, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          fmt::format("route {}: '{}' is not an IP address", config.name, config.host));
    }
    route->acceptor.emplace(io);
    tcp::endpoint endpoint(address, static_cast<uint16_t>(config.port));
    route->acceptor->open(endpoint.protocol(), ec);
    if (!ec) route->acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) {
      // Several gateways on one machine share the port (the kernel spreads connections).
      route->acceptor->set_option(
          net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
    }
    if (!ec) route->acceptor->bind(endpoint, ec);
    if (!ec) route->acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(fmt::format("route {}: cannot listen on {}:{}: {}", config.name,
                                                config.host, config.port, ec.message()));
    }
    return route;
  }

  void Serve(Route& route) {
    net::co_spawn(io, Accept(route), net::detached);
    net::co_spawn(io, HealthChecks(route), net::detached);
  }

  void Retire(std::unique_ptr<Route> route) {
    route->retired = true;
    beast::error_code ignored;
    route->acceptor->close(ignored);
    retired.push_back(std::move(route));
  }

  // io thread.
  absl::Status Apply(const std::vector<RouteConfig>& configs) {
    std::vector<std::string> errors;
    std::lock_guard<std::mutex> lock(routes_mu);
    std::vector<std::unique_ptr<Route>> kept;
    for (auto& route : routes) {
      const auto it = std::find_if(configs.begin(), configs.end(), [&](const RouteConfig& c) {
        return c.name == route->config.name;
      });
      const bool same = it != configs.end() && it->policy == route->config.policy &&
                        it->host == route->config.host &&
                        (it->port == 0 || it->port == route->config.port) &&
                        it->readiness_path == route->config.readiness_path &&
                        it->require_key == route->config.require_key &&
                        it->tls_certfile == route->config.tls_certfile &&
                        it->tls_keyfile == route->config.tls_keyfile;
      if (same) {
        route->balancer->SetReplicas(it->replicas);
        std::lock_guard<std::mutex> rl(route->mu);
        route->replicas = it->replicas;
        route->keys = {it->key_hashes.begin(), it->key_hashes.end()};
        kept.push_back(std::move(route));
      } else {
        Retire(std::move(route));
      }
    }
    routes = std::move(kept);
    for (const RouteConfig& config : configs) {
      if (std::any_of(routes.begin(), routes.end(),
                      [&](const auto& r) { return r->config.name == config.name; })) {
        continue;
      }
      auto route = Listen(config);
      if (!route.ok()) {
        errors.push_back(std::string(route.status().message()));
        continue;
      }
      (*route)->config.port = (*route)->acceptor->local_endpoint().port();
      Serve(**route);
      routes.push_back(std::move(*route));
    }
    if (errors.empty()) return absl::OkStatus();
    return absl::UnavailableError(fmt::format("{}", fmt::join(errors, "; ")));
  }

  net::awaitable<void> AdminSession(tcp::socket socket) {
    Conn stream(conns, std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      stream.ExpiresAfter(Ms(options.client_idle_timeout_ms));
      beast::error_code ec;
      co_await http::async_read(stream.stream, buffer, req,
                                net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::server, "awan-gateway");
      if (req.target() == "/metrics") {
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.body() = metrics();
      } else if (req.target() == "/health") {
        res.set(http::field::content_type, "text/plain");
        res.body() = "ok\n";
      } else {
        res.result(http::status::not_found);
        res.body() = "not found: the gateway's admin port serves /metrics and /health\n";
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      co_await http::async_write(stream.stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !req.keep_alive()) break;
    }
  }

  net::awaitable<void> AdminAccept() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket =
          co_await admin->async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) continue;
      net::co_spawn(io, AdminSession(std::move(socket)), net::detached);
    }
  }

  // Closes the connections whose deadline passed, ten times a second.
  net::awaitable<void> Sweep() {
    net::steady_timer timer(io);
    for (;;) {
      timer.expires_after(Ms(100));
      beast::error_code ec;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      const auto now = std::chrono::steady_clock::now();
      for (Deadline* c : conns) {
        if (c->deadline > now || c->timed_out) continue;
        c->timed_out = true;
        c->Close();
      }
    }
  }

  net::awaitable<void> HealthChecks(Route& route) {
    net::steady_timer timer(io);
    while (!route.retired) {
      std::vector<ReplicaAddress> replicas;
      {
        std::lock_guard<std::mutex> lock(route.mu);
        replicas = route.replicas;
      }
      for (const ReplicaAddress& a : replicas) {
        if (probing[route.config.name + "/" + a.id]) continue;  // the last probe still waits
        net::co_spawn(io, Probe(route, a), net::detached);
      }
      timer.expires_after(Ms(options.health_interval_ms));
      beast::error_code ec;
      co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
    }
  }
};

Gateway::Gateway(GatewayOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Gateway::~Gateway() { Stop(); }

absl::StatusOr<std::vector<int>> Gateway::Start(const std::vector<RouteConfig>& routes) {
  std::vector<int> ports;
  for (const RouteConfig& config : routes) {
    ASSIGN_OR_RETURN(auto route, impl_->Listen(config));
    route->config.port = route->acceptor->local_endpoint().port();
    ports.push_back(route->config.port);
    impl_->routes.push_back(std::move(route));
  }
  if (impl_->options.admin_port >= 0) {
    boost::system::error_code ec;
    const auto address = net::ip::make_address(impl_->options.admin_host, ec);
    if (ec) {
      return absl::InvalidArgumentError(
          fmt::format("admin: '{}' is not an IP address", impl_->options.admin_host));
    }
    tcp::endpoint endpoint(address, static_cast<uint16_t>(impl_->options.admin_port));
    impl_->admin.emplace(impl_->io);
    impl_->admin->open(endpoint.protocol(), ec);
    if (!ec) impl_->admin->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) impl_->admin->bind(endpoint, ec);
    if (!ec) impl_->admin->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(fmt::format("admin: cannot listen on {}:{}: {}",
                                                impl_->options.admin_host,
                                                impl_->options.admin_port, ec.message()));
    }
    impl_->admin_port = impl_->admin->local_endpoint().port();
    impl_->metrics = [this] { return MetricsText(); };
    net::co_spawn(impl_->io, impl_->AdminAccept(), net::detached);
  }
  for (auto& route : impl_->routes) impl_->Serve(*route);
  net::co_spawn(impl_->io, impl_->Sweep(), net::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
  return ports;
}

absl::Status Gateway::SetRoutes(const std::vector<RouteConfig>& routes) {
  auto done = std::make_shared<std::promise<absl::Status>>();
  auto answer = done->get_future();
  net::post(impl_->io, [this, routes, done] { done->set_value(impl_->Apply(routes)); });
  return answer.get();
}

int Gateway::admin_port() const { return impl_->admin_port; }

std::vector<Gateway::RouteCounters> Gateway::Counters() const {
  std::lock_guard<std::mutex> lock(impl_->routes_mu);
  std::vector<RouteCounters> out;
  for (const auto& route : impl_->routes) {
    RouteCounters c;
    c.name = route->config.name;
    c.requests_total = route->metrics.count.load();
    c.in_flight = route->balancer->InFlight();
    c.replicas = route->balancer->Snapshot();
    out.push_back(std::move(c));
  }
  return out;
}

void Gateway::SetReplicas(const std::string& name, const std::vector<ReplicaAddress>& replicas) {
  std::lock_guard<std::mutex> lock(impl_->routes_mu);
  for (auto& route : impl_->routes) {
    if (route->config.name != name) continue;
    route->balancer->SetReplicas(replicas);
    std::lock_guard<std::mutex> lock(route->mu);
    route->replicas = replicas;
  }
}

std::vector<Balancer::Stats> Gateway::Snapshot(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->routes_mu);
  for (const auto& route : impl_->routes) {
    if (route->config.name == name) return route->balancer->Snapshot();
  }
  return {};
}

std::string Gateway::MetricsText() const {
  std::lock_guard<std::mutex> lock(impl_->routes_mu);
  std::string out;
  const auto family = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  const auto per_replica = [&](const char* name, const char* type, const char* help,
                               const auto& value) {
    family(name, type, help);
    for (const auto& route : impl_->routes) {
      for (const Balancer::Stats& s : route->balancer->Snapshot()) {
        out += fmt::format("{}{{route=\"{}\",replica=\"{}\"}} {}\n", name, route->config.name, s.id,
                           value(s));
      }
    }
  };
  per_replica("awan_gateway_replica_requests_total", "counter", "Requests sent to the replica.",
              [](const Balancer::Stats& s) { return s.requests; });
  per_replica("awan_gateway_replica_failures_total", "counter",
              "Connect errors, 5xx answers and timeouts of the replica.",
              [](const Balancer::Stats& s) { return s.failures; });
  per_replica("awan_gateway_replica_ejections_total", "counter",
              "Times the replica was ejected after consecutive failures.",
              [](const Balancer::Stats& s) { return s.ejections; });
  per_replica("awan_gateway_replica_in_flight", "gauge", "Requests on the replica now.",
              [](const Balancer::Stats& s) { return s.in_flight; });
  per_replica("awan_gateway_replica_ready", "gauge",
              "1 when the replica passed its readiness probe and is not ejected.",
              [](const Balancer::Stats& s) { return s.ready && !s.ejected ? 1 : 0; });
  family("awan_gateway_retries_total", "counter",
         "Requests retried on another replica after the first failed before any answer.");
  for (const auto& route : impl_->routes) {
    out += fmt::format("awan_gateway_retries_total{{route=\"{}\"}} {}\n", route->config.name,
                       route->metrics.retries.load());
  }
  family("awan_gateway_responses_total", "counter", "Answers to clients by status class.");
  for (const auto& route : impl_->routes) {
    for (size_t c = 0; c < route->metrics.responses.size(); ++c) {
      out += fmt::format("awan_gateway_responses_total{{route=\"{}\",code=\"{}xx\"}} {}\n",
                         route->config.name, c + 1, route->metrics.responses[c].load());
    }
  }
  family("awan_gateway_request_duration_seconds", "histogram",
         "From a request read to its answer sent (streams: to their end).");
  for (const auto& route : impl_->routes) {
    const RouteMetrics& m = route->metrics;
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBuckets.size(); ++b) {
      cumulative += m.buckets[b].load();
      const std::string le = b < kBuckets.size() ? fmt::format("{:g}", kBuckets[b]) : "+Inf";
      out +=
          fmt::format("awan_gateway_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
                      route->config.name, le, cumulative);
    }
    out += fmt::format("awan_gateway_request_duration_seconds_sum{{route=\"{}\"}} {:.6f}\n",
                       route->config.name, static_cast<double>(m.sum_us.load()) / 1e6);
    out += fmt::format("awan_gateway_request_duration_seconds_count{{route=\"{}\"}} {}\n",
                       route->config.name, m.count.load());
  }
  return out;
}

void Gateway::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->io.stop();
  impl_->thread.join();
}

}  // namespace awan::gateway

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
#include <charconv>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "awan/common/secrets.h"
#include "awan/common/status_macros.h"
#include "awan/gateway/bedrock.h"
#include "awan/gateway/llm_request.h"
#include "awan/gateway/vertex.h"

namespace awan::gateway {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
// The network thread's executor by its concrete type: Asio's default (any_io_executor) erases it,
// and copying and calling through the erasure cost a few percent of the gateway's CPU at high
// request rates.
using Executor = net::io_context::executor_type;
template <typename T>
using Task = net::awaitable<T, Executor>;
constexpr net::use_awaitable_t<Executor> kUseTask;
using Socket = net::basic_stream_socket<tcp, Executor>;
using Acceptor = net::basic_socket_acceptor<tcp, Executor>;
using Timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                        net::wait_traits<std::chrono::steady_clock>, Executor>;
using Resolver = net::ip::basic_resolver<tcp, Executor>;
namespace ssl = net::ssl;
// Beast allocates each field of a message on its own: at high request rates a malloc and a free
// per field. A connection's messages take turns in one buffer instead (FieldArena).
using FieldAlloc = std::pmr::polymorphic_allocator<char>;
using Fields = http::basic_fields<FieldAlloc>;
using Request = http::request<http::string_body, Fields>;
struct FieldArena {
  std::array<std::byte, 2048> space;
  std::pmr::monotonic_buffer_resource resource{space.data(), space.size(),
                                               std::pmr::new_delete_resource()};
  // For the next message: the last one's fields must be gone.
  FieldAlloc Reset() {
    resource.release();
    return FieldAlloc(&resource);
  }
};

constexpr size_t kMaxRequestBody = 64u << 20;
constexpr size_t kIdleUpstreamPerReplica = 64;
constexpr uint64_t kWholeAnswerBytes = 64u << 10;  // answers up to this are relayed in one write

std::chrono::milliseconds Ms(int64_t ms) { return std::chrono::milliseconds(ms); }

// A message's start line and fields as one flat text, written into `out` (Beast's serializer walks
// a view of many small buffers per message, which costs more than the message is worth at high
// request rates). The body follows in the same buffer, so a message leaves in one send().
template <typename F>
void AppendFields(const F& fields, std::string& out) {
  for (const auto& f : fields) {
    out.append(f.name_string().data(), f.name_string().size());
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
}
// The request as the replica gets it: kept alive towards the replica (pooled), the client's
// address appended to X-Forwarded-For, and the client's API key left out where the gateway checked
// it (a service without keys may check Authorization itself).
void RequestHead(const Request& req, std::string_view peer, bool strip_authorization,
                 std::string& out) {
  out.append(req.method_string().data(), req.method_string().size());
  out += ' ';
  out.append(req.target().data(), req.target().size());
  out += req.version() == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  std::string forwarded_for;  // several such fields are one list
  for (const auto& f : req) {
    switch (f.name()) {
      case http::field::authorization:
        if (strip_authorization) continue;
        break;
      case http::field::connection:
      case http::field::keep_alive:
        continue;
      case http::field::unknown:
        if (beast::iequals(f.name_string(), "X-Forwarded-For")) {
          if (!forwarded_for.empty()) forwarded_for += ", ";
          forwarded_for.append(f.value().data(), f.value().size());
          continue;
        }
        break;
      default:
        break;
    }
    out.append(f.name_string().data(), f.name_string().size());
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  if (req.version() == 10) out += "Connection: keep-alive\r\n";
  out += "X-Forwarded-For: ";
  if (!forwarded_for.empty()) {
    out.append(forwarded_for.data(), forwarded_for.size());
    out += ", ";
  }
  out.append(peer.data(), peer.size());
  out += "\r\n\r\n";
}
template <typename F>
void ResponseHead(const http::response_header<F>& res, std::string& out) {
  out += res.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  std::array<char, 8> status;
  const auto end =
      std::to_chars(status.data(), status.data() + status.size(), res.result_int()).ptr;
  out.append(status.data(), end);
  out += ' ';
  out.append(res.reason().data(), res.reason().size());
  out += "\r\n";
  AppendFields(res, out);
  out += "\r\n";
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

// A managed endpoint of a route, with its cooldown (io thread) and counters.
struct FallbackState {
  ManagedEndpoint config;
  Url url;
  std::unique_ptr<ssl::context> tls;  // for an https base_url
  // vertex: the service account, where its tokens come from, and the current one.
  ServiceAccount account;
  Url token_url;
  std::unique_ptr<ssl::context> token_tls;
  std::string access_token;
  std::chrono::steady_clock::time_point token_expires{};
  std::chrono::steady_clock::time_point cooldown_until{};
  std::atomic<uint64_t> requests{0}, answered{0}, failures{0};
};

struct Route {
  RouteConfig config;
  std::vector<std::unique_ptr<FallbackState>> fallbacks;
  RouteMetrics metrics;
  std::unique_ptr<Balancer> balancer;
  std::optional<Acceptor> acceptor;
  mutable std::mutex mu;
  std::vector<ReplicaAddress> replicas;  // guarded by mu: what the health check probes
  std::unordered_set<std::string> keys;  // guarded by mu: SHA-256 of the valid API keys
  std::atomic<bool> retired{false};      // no longer served: its health checks end
  std::unique_ptr<ssl::context> tls;     // when the route serves HTTPS
  bool llm_aware = false;                // its policy routes on prompts (least_tokens, ...)
  bool scrape_metrics = false;           // its policy reads the replicas' /metrics (llm_score)
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

// A plain TCP connection (`Socket`) or a TLS one (`ssl::stream<Socket>`).
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
  beast::flat_buffer buffer;  // what was read and not yet parsed; kept with a pooled connection
  std::string out;            // the next message to send, reused (its capacity stays)
  bool yield_before_read = false;  // an answer just left through SendAtOnce
};
using Conn = BasicConn<Socket>;
using TlsConn = BasicConn<ssl::stream<Socket>>;

// Sends `data` on a plain connection at once where the socket takes it all (the usual case for
// requests and small answers) — a syscall, without an operation through the reactor; returns
// false, with what it sent, where the rest must wait for the socket (or `ec` on an error).
bool SendAtOnce(Conn& conn, std::string_view data, size_t& sent, beast::error_code& ec) {
  sent = 0;
  while (sent < data.size()) {
    const size_t n = conn.stream.send(net::buffer(data.data() + sent, data.size() - sent), 0, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      return false;
    }
    if (ec) return false;
    sent += n;
  }
  return true;
}

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
  std::optional<Acceptor> admin;
  int admin_port = -1;
  std::function<std::string()> metrics;  // the exposition text, for /metrics
  // Idle kept-alive connections to replicas, by "host:port". io thread only.
  struct HostPortLess {  // orders (host, port) keys; looks them up by (string_view, port)
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::tie(a.first, a.second) < std::tie(b.first, b.second);
    }
  };
  std::map<std::pair<std::string, int>, std::vector<std::unique_ptr<Conn>>, HostPortLess>
      idle_upstream;
  std::map<std::string, bool> probing;  // io thread only: "route/replica" being probed

  // After a message left at once, the peer's answer cannot be there yet, and Asio reads
  // speculatively: read at once, and the read finds nothing (EAGAIN: a wasted syscall), then
  // waits for the reactor anyway. Letting the handlers already due run first gives the peer that
  // time; under load the read then finds its bytes, when idle this costs one pass of the loop.
  auto YieldBeforeRead() { return net::post(io, kUseTask); }

  // The idle connections to a replica's host and port (found without building a key).
  std::vector<std::unique_ptr<Conn>>& IdlePool(const ReplicaAddress& a) {
    const auto key = std::pair<std::string_view, int>(a.host, a.port);
    auto it = idle_upstream.find(key);
    if (it == idle_upstream.end()) it = idle_upstream.try_emplace({a.host, a.port}).first;
    return it->second;
  }

  Task<std::unique_ptr<Conn>> Connect(const ReplicaAddress& a, beast::error_code& ec,
                                      bool& timed_out) {
    auto stream = std::make_unique<Conn>(conns, io);
    boost::system::error_code parse_ec;
    const auto address = net::ip::make_address(a.host, parse_ec);
    tcp::endpoint endpoint;
    if (!parse_ec) {
      endpoint = tcp::endpoint(address, static_cast<uint16_t>(a.port));
    } else {  // a name: resolve it
      Resolver resolver(io);
      auto results = co_await resolver.async_resolve(a.host, std::to_string(a.port),
                                                     net::redirect_error(kUseTask, ec));
      if (ec) co_return nullptr;
      endpoint = *results.begin();
    }
    stream->ExpiresAfter(Ms(options.connect_timeout_ms));
    co_await stream->stream.async_connect(endpoint, net::redirect_error(kUseTask, ec));
    timed_out = stream->timed_out;
    if (ec) co_return nullptr;
    // To learn of the connect, Asio watched the socket for write readiness, and would go on
    // doing so: every ACK from the replica would then wake the reactor, and mark the socket
    // readable-perhaps, so the next read became a wasted syscall. Registered again, for reading.
    const auto native = stream->stream.release(ec);
    if (!ec) stream->stream.assign(endpoint.protocol(), native, ec);
    if (!ec) stream->stream.non_blocking(true, ec);  // for SendAtOnce
    if (ec) co_return nullptr;
    stream->stream.set_option(tcp::no_delay(true), ec);
    ec = {};
    co_return stream;
  }

  // Sends `req` to the lease's replica and relays its answer to the client. Returns the outcome
  // for the replica, and whether the client connection may stay open; `answered` tells whether
  // anything reached the client (after that, no retry).
  // With `hold_errors`, a 429 or 5xx answer is not relayed (`answered` stays false, `status` says
  // which): the route has managed endpoints to try instead.
  template <typename ClientConn>
  Task<Outcome> Relay(const Route& route, Balancer::Lease& lease, const Request& req,
                      std::string_view peer, ClientConn& client, FieldArena& response_fields,
                      bool& answered, bool& keep_client, int& status, bool hold_errors) {
    const ReplicaAddress& address = lease.address();
    auto& pool = IdlePool(address);  // a node of a map: stays valid across awaits
    beast::error_code ec;
    std::unique_ptr<Conn> up;
    bool reused = false;
    std::optional<http::response_parser<http::buffer_body, FieldAlloc>> parser;
    for (int fresh = 0; fresh < 2; ++fresh) {
      up.reset();
      reused = false;
      if (fresh == 0 && !pool.empty()) {
        up = std::move(pool.back());
        pool.pop_back();
        reused = true;
      } else {
        bool timed_out = false;
        up = co_await Connect(address, ec, timed_out);
        if (!up) co_return timed_out ? Outcome::kTimeout : Outcome::kConnectError;
      }
      up->buffer.clear();
      parser.reset();
      parser.emplace(std::piecewise_construct, std::make_tuple(),
                     std::make_tuple(response_fields.Reset()));
      parser->body_limit(boost::none);
      if (req.method() == http::verb::head) parser->skip(true);
      up->ExpiresAfter(Ms(options.response_header_timeout_ms));
      up->out.clear();
      RequestHead(req, peer, route.config.require_key, up->out);
      up->out += req.body();
      size_t sent = 0;
      if (SendAtOnce(*up, up->out, sent, ec)) {
        co_await YieldBeforeRead();
      } else if (!ec) {
        co_await net::async_write(up->stream,
                                  net::buffer(up->out.data() + sent, up->out.size() - sent),
                                  net::redirect_error(kUseTask, ec));
      }
      if (!ec) {
        co_await http::async_read_header(up->stream, up->buffer, *parser,
                                         net::redirect_error(kUseTask, ec));
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
    if (hold_errors && (status == 429 || server_error)) {  // the connection goes with `up`
      co_return server_error ? Outcome::kServerError : Outcome::kOk;
    }
    // A small answer of known length (most API answers) is read whole, straight behind its head,
    // and sent in one write; a stream, a chunked or a large answer is relayed piece by piece.
    if (p.is_done() ||
        (!p.chunked() && p.content_length() && *p.content_length() <= kWholeAnswerBytes)) {
      std::string& out = client.out;
      out.clear();
      if (p.chunked()) {  // an empty chunked body, read whole: sent with its length
        http::response_header<Fields> head = p.get().base();
        head.erase(http::field::transfer_encoding);
        head.set(http::field::content_length, "0");
        ResponseHead(head, out);
      } else {
        ResponseHead(p.get().base(), out);
      }
      const size_t head_size = out.size();
      const size_t length = p.is_done() ? 0 : static_cast<size_t>(*p.content_length());
      out.resize(head_size + length);
      p.get().body().data = out.data() + head_size;
      p.get().body().size = length;
      while (!p.is_done()) {
        co_await http::async_read_some(up->stream, up->buffer, p,
                                       net::redirect_error(kUseTask, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) break;
      }
      if (ec) {  // broken off before the client got anything: another replica may answer
        co_return up->timed_out ? Outcome::kTimeout : Outcome::kConnectError;
      }
      answered = true;
      const bool upstream_alive = p.get().keep_alive() && !p.need_eof();
      keep_client = keep_client && p.get().keep_alive();
      client.ExpiresNever();
      up->ExpiresNever();
      size_t sent = 0;
      bool whole = false;
      if constexpr (std::is_same_v<ClientConn, Conn>) {
        whole = SendAtOnce(client, out, sent, ec);
        client.yield_before_read = whole;
      }
      if (!ec && !whole) {
        co_await net::async_write(client.stream, net::buffer(out.data() + sent, out.size() - sent),
                                  net::redirect_error(kUseTask, ec));
      }
      if (upstream_alive && pool.size() < kIdleUpstreamPerReplica) pool.push_back(std::move(up));
      if (ec) {
        keep_client = false;
        co_return Outcome::kCancelled;
      }
      co_return server_error ? Outcome::kServerError : Outcome::kOk;
    }
    up->ExpiresNever();  // a stream may last as long as it likes
    answered = true;
    const Streamed streamed = co_await RelayStream(*up, p, client, keep_client);
    if (streamed == Streamed::kClientGone) co_return Outcome::kCancelled;
    if (streamed == Streamed::kUpstreamBroke) co_return Outcome::kConnectError;
    if (p.get().keep_alive() && !p.get().need_eof() && pool.size() < kIdleUpstreamPerReplica) {
      pool.push_back(std::move(up));
    }
    co_return server_error ? Outcome::kServerError : Outcome::kOk;
  }

  enum class Streamed { kDone, kUpstreamBroke, kClientGone };

  // Relays an answer whose head `p` has read from `up`, piece by piece as it arrives. When the
  // upstream breaks off mid-answer, an event stream gets an SSE error event and its proper end
  // (the client never sees a silent truncation, nor tokens from elsewhere); other answers are cut.
  template <typename Up, typename Parser, typename ClientConn>
  Task<Streamed> RelayStream(Up& up, Parser& p, ClientConn& client, bool& keep_client) {
    using Body = typename std::remove_reference_t<decltype(p.get())>::body_type;
    using HeadFields = typename std::remove_reference_t<decltype(p.get())>::fields_type;
    http::response_serializer<Body, HeadFields> sr{p.get()};
    client.ExpiresNever();
    beast::error_code ec;
    co_await http::async_write_header(client.stream, sr, net::redirect_error(kUseTask, ec));
    if (ec) {
      keep_client = false;
      co_return Streamed::kClientGone;  // the client went away; the upstream connection is dropped
    }
    const bool event_stream =
        p.chunked() && p.get()[http::field::content_type].starts_with("text/event-stream");
    std::array<char, 16384> buf;
    do {
      if (!p.is_done()) {
        p.get().body().data = buf.data();
        p.get().body().size = buf.size();
        co_await http::async_read_some(up.stream, up.buffer, p, net::redirect_error(kUseTask, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {  // the upstream broke off mid-answer: the client cannot get a whole one
          keep_client = false;
          if (event_stream) {
            co_await net::async_write(client.stream,
                                      http::make_chunk(net::buffer(kUpstreamBrokeOffEvent)),
                                      net::redirect_error(kUseTask, ec));
            if (!ec) {
              co_await net::async_write(client.stream, http::make_chunk_last(),
                                        net::redirect_error(kUseTask, ec));
            }
          }
          co_return Streamed::kUpstreamBroke;
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
      co_await http::async_write(client.stream, sr, net::redirect_error(kUseTask, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {  // the client went away: closing the upstream connection cancels the request
        keep_client = false;
        co_return Streamed::kClientGone;
      }
    } while (!p.is_done() && !sr.is_done());
    keep_client = keep_client && p.get().keep_alive();
    co_return Streamed::kDone;
  }

  // Tries the route's managed endpoints in order (those not cooling down) for a request no
  // replica answered; `answered` when one did.
  template <typename ClientConn>
  Task<void> Fallback(Route& route, const Request& req, ClientConn& client, bool& answered,
                      bool& keep_client, int& status) {
    for (auto& fb : route.fallbacks) {
      const auto now = std::chrono::steady_clock::now();
      if (now < fb->cooldown_until) continue;
      ++fb->requests;
      int64_t retry_after_ms = -1;
      if (fb->tls) {
        co_await CallManaged<TlsConn>(*fb, req, client, answered, keep_client, status,
                                      retry_after_ms);
      } else {
        co_await CallManaged<Conn>(*fb, req, client, answered, keep_client, status, retry_after_ms);
      }
      if (answered) {
        ++fb->answered;
        co_return;
      }
      ++fb->failures;
      const int64_t wait = retry_after_ms >= 0 ? retry_after_ms : fb->config.cooldown_ms;
      fb->cooldown_until = std::chrono::steady_clock::now() + Ms(wait);
    }
  }

  // One exchange with a managed endpoint over a new connection (plain or TLS). Not answered, with
  // `retry_after_ms` when it said so, on a connect error, a timeout before the answer's head, a
  // 429 or a 5xx.
  // A new connection to `url` (TLS with `tls` when Up is TlsConn: SNI and the host name verified),
  // expiring after `timeout_ms` until the caller says otherwise; null on an error.
  template <typename Up>
  Task<std::unique_ptr<Up>> OpenUpstream(const Url& url, ssl::context* tls, int64_t timeout_ms) {
    std::unique_ptr<Up> up;
    if constexpr (std::is_same_v<Up, TlsConn>) {
      up = std::make_unique<Up>(conns, io, *tls);
      if (!SSL_set_tlsext_host_name(up->stream.native_handle(), url.host.c_str()))
        co_return nullptr;
      up->stream.set_verify_callback(ssl::host_name_verification(url.host));
    } else {
      up = std::make_unique<Up>(conns, io);
    }
    up->ExpiresAfter(Ms(timeout_ms));
    beast::error_code ec;
    Resolver resolver(io);
    auto results = co_await resolver.async_resolve(url.host, std::to_string(url.port),
                                                   net::redirect_error(kUseTask, ec));
    if (ec) co_return nullptr;
    co_await net::async_connect(beast::get_lowest_layer(up->stream), results,
                                net::redirect_error(kUseTask, ec));
    if (ec) co_return nullptr;
    if constexpr (std::is_same_v<Up, TlsConn>) {
      co_await up->stream.async_handshake(ssl::stream_base::client,
                                          net::redirect_error(kUseTask, ec));
      if (ec) co_return nullptr;
    }
    co_return up;
  }

  // A vertex endpoint's access token, fetched again when it has less than a minute left: the
  // service account's signed JWT exchanged at its token_uri (RFC 7523). False when none.
  Task<bool> EnsureToken(FallbackState& fb) {
    if (!fb.access_token.empty() &&
        fb.token_expires - std::chrono::steady_clock::now() > std::chrono::seconds(60)) {
      co_return true;
    }
    const int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    auto assertion = JwtAssertion(fb.account, now_s);
    if (!assertion.ok()) co_return false;
    const std::string body = TokenRequestBody(*assertion);
    std::string answer;
    int code = 0;
    if (fb.token_tls) {
      code = co_await PostForm<TlsConn>(fb.token_url, fb.token_tls.get(), body,
                                        fb.config.timeout_ms, answer);
    } else {
      code = co_await PostForm<Conn>(fb.token_url, nullptr, body, fb.config.timeout_ms, answer);
    }
    if (code != 200) co_return false;
    auto token = ParseTokenAnswer(answer);
    if (!token.ok()) co_return false;
    fb.access_token = token->first;
    fb.token_expires = std::chrono::steady_clock::now() + std::chrono::seconds(token->second);
    co_return true;
  }

  // POSTs a form to `url` and reads the whole answer: its status (0 on an error).
  template <typename Up>
  Task<int> PostForm(const Url& url, ssl::context* tls, const std::string& body, int64_t timeout_ms,
                     std::string& answer) {
    auto up = co_await OpenUpstream<Up>(url, tls, timeout_ms);
    if (!up) co_return 0;
    up->out = fmt::format(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: awan-gateway\r\nContent-Type: "
        "application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        url.path.empty() ? "/" : url.path, HostHeader(url), body.size(), body);
    beast::error_code ec;
    co_await net::async_write(up->stream, net::buffer(up->out), net::redirect_error(kUseTask, ec));
    if (ec) co_return 0;
    http::response_parser<http::string_body> p;
    p.body_limit(1 << 20);
    co_await http::async_read(up->stream, up->buffer, p, net::redirect_error(kUseTask, ec));
    if (ec) co_return 0;
    answer = p.get().body();
    co_return static_cast<int>(p.get().result_int());
  }

  // One exchange with a managed endpoint over a new connection (plain or TLS). Not answered, with
  // `retry_after_ms` when it said so, on a connect error, a timeout before the answer's head, a
  // 429 or a 5xx (or, for vertex, no access token).
  template <typename Up, typename ClientConn>
  Task<void> CallManaged(FallbackState& fb, const Request& req, ClientConn& client, bool& answered,
                         bool& keep_client, int& status, int64_t& retry_after_ms) {
    if (fb.config.kind == "vertex" && !co_await EnsureToken(fb)) co_return;
    auto upstream = BuildUpstreamRequest(
        fb.config, fb.url, std::string_view(req.target().data(), req.target().size()), req.body(),
        std::chrono::system_clock::now(), fb.access_token);
    if (!upstream.ok()) co_return;
    // connect, send, and the answer's head within the endpoint's timeout
    std::unique_ptr<Up> up = co_await OpenUpstream<Up>(fb.url, fb.tls.get(), fb.config.timeout_ms);
    if (!up) co_return;
    beast::error_code ec;
    std::string& out = up->out;
    out = fmt::format(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: awan-gateway\r\nContent-Type: "
        "application/json\r\nAccept: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        upstream->target, HostHeader(fb.url),
        upstream->provider == "bedrock" && upstream->stream ? "application/vnd.amazon.eventstream"
                                                            : "application/json, text/event-stream",
        upstream->body.size());
    for (const auto& [name, value] : upstream->headers) out += name + ": " + value + "\r\n";
    out += "\r\n";
    out += upstream->body;
    co_await net::async_write(up->stream, net::buffer(out), net::redirect_error(kUseTask, ec));
    if (ec) co_return;
    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);
    co_await http::async_read_header(up->stream, up->buffer, p, net::redirect_error(kUseTask, ec));
    if (ec) co_return;
    const int code = static_cast<int>(p.get().result_int());
    if (code == 429 || code >= 500) {
      status = code;
      const auto header = p.get()[http::field::retry_after];
      if (auto ms = RetryAfterMs(std::string_view(header.data(), header.size()),
                                 std::chrono::system_clock::now())) {
        retry_after_ms = *ms;
      }
      co_return;
    }
    status = code;
    answered = true;
    up->ExpiresNever();
    if (upstream->translate) {
      co_await RelayTranslated(*up, p, client, keep_client, *upstream, code);
      co_return;
    }
    p.get().keep_alive(keep_client);  // towards the client: its own connection's choice
    p.get().set(http::field::server, "awan-gateway");
    co_await RelayStream(*up, p, client, keep_client);
  }

  // A Bedrock answer as OpenAI's (bedrock.h): a Converse body (or an error) read whole and
  // translated, or a ConverseStream event stream translated to SSE as its messages arrive.
  template <typename Up, typename Parser, typename ClientConn>
  Task<void> RelayTranslated(Up& up, Parser& p, ClientConn& client, bool& keep_client,
                             const UpstreamRequest& request, int code) {
    beast::error_code ec;
    std::array<char, 16384> buf;
    static std::atomic<uint64_t> next_id{1};
    const std::string id = fmt::format("chatcmpl-awan-{}", next_id++);
    const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
    // Reads the next piece of the answer's body into `piece`; false at its end or on an error.
    const auto read_piece = [&](std::string& piece) -> Task<bool> {
      piece.clear();
      if (p.is_done()) co_return false;
      p.get().body().data = buf.data();
      p.get().body().size = buf.size();
      co_await http::async_read_some(up.stream, up.buffer, p, net::redirect_error(kUseTask, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return false;
      piece.assign(buf.data(), buf.size() - p.get().body().size);
      co_return true;
    };
    std::string piece;
    if (!request.stream || code != 200) {
      std::string body;
      while (co_await read_piece(piece)) body += piece;
      http::response<http::string_body> res{static_cast<http::status>(ec ? 502 : code), 11};
      res.set(http::field::content_type, "application/json");
      res.set(http::field::server, "awan-gateway");
      absl::StatusOr<std::string> translated = absl::UnknownError("");
      if (!ec && code == 200) {
        translated = request.provider == "vertex"
                         ? GeminiToOpenAi(body, request.model, request.chat, id, created)
                         : ConverseToOpenAi(body, request.model, request.chat, id, created);
      }
      if (translated.ok()) {
        res.body() = *translated;
      } else {  // the provider's error as OpenAI's
        if (ec || code == 200) res.result(http::status::bad_gateway);
        const std::string label = request.provider == "vertex" ? "Vertex AI" : "Bedrock";
        res.body() = ProviderErrorToOpenAi(
            label, ec ? std::string() : body, res.result_int(),
            ec ? std::string("the answer broke off") : std::string(translated.status().message()));
      }
      res.keep_alive(keep_client);
      res.prepare_payload();
      beast::error_code wec;
      co_await http::async_write(client.stream, res, net::redirect_error(kUseTask, wec));
      if (wec) keep_client = false;
      co_return;
    }
    http::response<http::empty_body> head{http::status::ok, 11};
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    head.set(http::field::server, "awan-gateway");
    head.chunked(true);
    head.keep_alive(keep_client);
    http::response_serializer<http::empty_body> sr{head};
    client.ExpiresNever();
    beast::error_code wec;
    co_await http::async_write_header(client.stream, sr, net::redirect_error(kUseTask, wec));
    if (wec) {
      keep_client = false;
      co_return;
    }
    if (request.provider == "vertex") {  // SSE to SSE
      GeminiSseToOpenAi sse(request.model, request.chat, id, created, request.include_usage);
      for (bool more = true; more;) {
        more = co_await read_piece(piece);
        std::string out = sse.Feed(piece);
        if (!more) out += sse.Finish();  // [DONE], or the error event when it broke off
        if (out.empty()) continue;
        co_await net::async_write(client.stream, http::make_chunk(net::buffer(out)),
                                  net::redirect_error(kUseTask, wec));
        if (wec) {
          keep_client = false;
          co_return;
        }
      }
      if (ec) keep_client = false;
      co_await net::async_write(client.stream, http::make_chunk_last(),
                                net::redirect_error(kUseTask, wec));
      if (wec) keep_client = false;
      co_return;
    }
    EventStreamDecoder decoder;
    ConverseStreamToSse sse(request.model, request.chat, id, created, request.include_usage);
    std::vector<EventMessage> messages;
    bool broken = false;
    while (!sse.done()) {
      if (!co_await read_piece(piece)) {
        broken = true;  // the body ended (or broke) before Bedrock's last event
        break;
      }
      messages.clear();
      if (!decoder.Feed(piece, messages).ok()) {
        broken = true;
        break;
      }
      std::string out;
      for (const EventMessage& m : messages) out += sse.OnMessage(m);
      if (out.empty()) continue;
      co_await net::async_write(client.stream, http::make_chunk(net::buffer(out)),
                                net::redirect_error(kUseTask, wec));
      if (wec) {
        keep_client = false;
        co_return;
      }
    }
    if (broken) {
      co_await net::async_write(client.stream,
                                http::make_chunk(net::buffer(kUpstreamBrokeOffEvent)),
                                net::redirect_error(kUseTask, wec));
      keep_client = false;
    }
    if (!wec) {
      co_await net::async_write(client.stream, http::make_chunk_last(),
                                net::redirect_error(kUseTask, wec));
    }
    if (wec) keep_client = false;
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
  Task<void> Answer(ClientConn& client, http::status status, unsigned version, std::string text,
                    bool keep_alive, bool bearer = false) {
    http::response<http::string_body> res{status, version};
    if (bearer) res.set(http::field::www_authenticate, "Bearer");
    res.set(http::field::content_type, "text/plain");
    res.set(http::field::server, "awan-gateway");
    res.keep_alive(keep_alive);
    res.body() = text + "\n";
    res.prepare_payload();
    beast::error_code ec;
    co_await http::async_write(client.stream, res, net::redirect_error(kUseTask, ec));
  }

  Task<void> Session(Route& route, Socket socket) {
    beast::error_code peer_ec;
    socket.set_option(tcp::no_delay(true), peer_ec);
    const std::string peer = socket.remote_endpoint(peer_ec).address().to_string();
    if (!route.tls) {
      Conn client(conns, std::move(socket));
      client.stream.non_blocking(true, peer_ec);  // for SendAtOnce
      co_await Serve(route, client, peer);
      beast::error_code ignored;
      client.stream.shutdown(Socket::shutdown_both, ignored);
      co_return;
    }
    TlsConn client(conns, std::move(socket), *route.tls);
    client.ExpiresAfter(Ms(options.client_idle_timeout_ms));
    beast::error_code ec;
    co_await client.stream.async_handshake(ssl::stream_base::server,
                                           net::redirect_error(kUseTask, ec));
    if (ec) co_return;  // not TLS, or a certificate the client refused
    co_await Serve(route, client, peer);
    beast::error_code ignored;
    client.stream.lowest_layer().shutdown(Socket::shutdown_both, ignored);
  }

  // One client connection's requests, in turn (keep-alive).
  template <typename ClientConn>
  Task<void> Serve(Route& route, ClientConn& client, const std::string& peer) {
    beast::flat_buffer& buffer = client.buffer;
    FieldArena request_fields, response_fields;
    for (;;) {
      http::request_parser<http::string_body, FieldAlloc> parser(
          std::piecewise_construct, std::make_tuple(), std::make_tuple(request_fields.Reset()));
      parser.body_limit(kMaxRequestBody);
      client.ExpiresAfter(Ms(options.client_idle_timeout_ms));
      beast::error_code ec;
      if (client.yield_before_read) {
        client.yield_before_read = false;
        if (buffer.size() == 0) co_await YieldBeforeRead();
      }
      co_await http::async_read(client.stream, buffer, parser, net::redirect_error(kUseTask, ec));
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
      if (req.chunked()) req.prepare_payload();  // the body is whole here: sent with its length
      // LLM-aware policies route on the prompt: its tokens and prefix blocks (llm_request.h).
      LlmRequest llm;
      if (route.llm_aware && req.method() == http::verb::post) llm = ReadLlmRequest(req.body());
      const RequestInfo info{llm.tokens, llm.blocks};
      const bool fallback =
          !route.fallbacks.empty() &&
          FallbackEligible(std::string_view(req.method_string().data(), req.method_string().size()),
                           std::string_view(req.target().data(), req.target().size()));
      std::string failed_on;
      bool answered = false;
      int status = 0;
      const auto started = std::chrono::steady_clock::now();
      for (int attempt = 0; attempt < 2 && !answered; ++attempt) {
        if (attempt > 0) ++route.metrics.retries;
        auto lease = route.balancer->Acquire(failed_on, info);
        if (!lease && fallback) break;  // the managed endpoints take it
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
        const Outcome outcome = co_await Relay(route, *lease, req, peer, client, response_fields,
                                               answered, keep_client, status, fallback);
        route.balancer->Release(*lease, outcome);
        if (!answered) failed_on = id;  // the retry goes elsewhere
      }
      if (!answered && fallback) {
        co_await Fallback(route, req, client, answered, keep_client, status);
      }
      if (!answered) {
        // A named local (see above).
        std::string why = fmt::format("no replica of {} answered", route.config.name);
        if (fallback) {
          why = fmt::format("neither the replicas of {} nor its managed endpoints answered",
                            route.config.name);
        }
        co_await Answer(client, http::status::bad_gateway, version, why, keep_client);
        status = 502;
      }
      route.metrics.Record(status, std::chrono::steady_clock::now() - started);
      if (!keep_client) break;
    }
  }

  Task<void> Accept(Route& route) {
    for (;;) {
      beast::error_code ec;
      Socket socket = co_await route.acceptor->async_accept(net::redirect_error(kUseTask, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) continue;
      net::co_spawn(io, Session(route, std::move(socket)), net::detached);
    }
  }

  Task<void> Probe(Route& route, ReplicaAddress address) {
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
      co_await http::async_write(stream->stream, req, net::redirect_error(kUseTask, ec));
      if (!ec) {
        beast::flat_buffer buf;
        http::response<http::string_body> res;
        co_await http::async_read(stream->stream, buf, res, net::redirect_error(kUseTask, ec));
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
    route->llm_aware = config.policy == "least_tokens" || config.policy == "prefix_affinity" ||
                       config.policy == "llm_score" || config.count_tokens;
    route->scrape_metrics = config.policy == "llm_score" || config.read_metrics;
    route->balancer = std::make_unique<Balancer>(std::move(*policy), options.balancer);
    route->balancer->SetReplicas(config.replicas);
    route->replicas = config.replicas;
    route->keys = {config.key_hashes.begin(), config.key_hashes.end()};
    boost::system::error_code ec;
    for (const ManagedEndpoint& e : config.fallbacks) {
      if (absl::Status ok = CheckEndpoint(e); !ok.ok()) {
        return absl::InvalidArgumentError(fmt::format("route {}: fallback {}: {}", config.name,
                                                      e.name, std::string(ok.message())));
      }
      auto fb = std::make_unique<FallbackState>();
      fb->config = e;
      fb->url = *ParseUrl(EndpointUrl(e));
      if (fb->url.tls) {
        fb->tls = std::make_unique<ssl::context>(ssl::context::tls_client);
        fb->tls->set_verify_mode(ssl::verify_peer);
        if (e.ca_file.empty()) {
          fb->tls->set_default_verify_paths(ec);
        } else {
          fb->tls->load_verify_file(e.ca_file, ec);
        }
        if (ec) {
          return absl::InvalidArgumentError(
              fmt::format("route {}: fallback {}: certificates {}: {}", config.name, e.name,
                          e.ca_file.empty() ? "of the system" : e.ca_file, ec.message()));
        }
      }
      if (e.kind == "vertex") {
        fb->account = *ParseServiceAccount(e.service_account_json);
        auto token_url = ParseUrl(fb->account.token_uri);
        if (!token_url.ok()) {
          return absl::InvalidArgumentError(
              fmt::format("route {}: fallback {}: the key's token_uri: {}", config.name, e.name,
                          std::string(token_url.status().message())));
        }
        fb->token_url = *token_url;
        if (fb->token_url.tls) {
          fb->token_tls = std::make_unique<ssl::context>(ssl::context::tls_client);
          fb->token_tls->set_verify_mode(ssl::verify_peer);
          fb->token_tls->set_default_verify_paths(ec);
          ec = {};
        }
      }
      route->fallbacks.push_back(std::move(fb));
    }
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
    if (route.scrape_metrics) net::co_spawn(io, ScrapeMetrics(route), net::detached);
  }

  // Reads each replica's /metrics every metrics_interval_ms for the balancer (llm_score); one
  // connection per replica, kept alive, made again when it breaks. A replica that does not answer
  // in time is left alone: its last metrics go stale.
  Task<void> ScrapeMetrics(Route& route) {
    Timer timer(io);
    // Shared with the scrapes under way, which may outlive this loop.
    struct Scrapes {
      std::map<std::string, std::unique_ptr<Conn>> conns;
      std::map<std::string, bool> busy;
    };
    auto scrapes = std::make_shared<Scrapes>();
    while (!route.retired) {
      std::vector<ReplicaAddress> replicas;
      {
        std::lock_guard<std::mutex> lock(route.mu);
        replicas = route.replicas;
      }
      for (const ReplicaAddress& a : replicas) {
        if (scrapes->busy[a.id]) continue;
        scrapes->busy[a.id] = true;
        net::co_spawn(io, ScrapeOne(route, a, scrapes, scrapes->conns[a.id], scrapes->busy[a.id]),
                      net::detached);
      }
      timer.expires_after(Ms(options.metrics_interval_ms));
      beast::error_code ec;
      co_await timer.async_wait(net::redirect_error(kUseTask, ec));
      if (ec) co_return;
    }
  }

  // `conn` and `busy` live in `keep`.
  Task<void> ScrapeOne(Route& route, ReplicaAddress a, [[maybe_unused]] std::shared_ptr<void> keep,
                       std::unique_ptr<Conn>& conn, bool& busy) {
    beast::error_code ec;
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = conn != nullptr;
      if (!conn) {
        bool timed_out = false;
        conn = co_await Connect(a, ec, timed_out);
        if (!conn) break;
      }
      http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
      req.set(http::field::host, a.host);
      req.set(http::field::user_agent, "awan-gateway-metrics");
      conn->ExpiresAfter(Ms(std::max<int64_t>(options.metrics_interval_ms * 5, 500)));
      co_await http::async_write(conn->stream, req, net::redirect_error(kUseTask, ec));
      http::response<http::string_body> res;
      if (!ec) {
        co_await http::async_read(conn->stream, conn->buffer, res,
                                  net::redirect_error(kUseTask, ec));
      }
      if (ec) {
        conn.reset();
        if (reused) continue;  // a kept connection the replica closed: once more on a new one
        break;
      }
      conn->ExpiresNever();
      if (res.result() == http::status::ok) {
        if (auto m = ParseReplicaMetrics(res.body())) route.balancer->SetMetrics(a.id, *m);
      }
      if (!res.keep_alive()) conn.reset();
      break;
    }
    busy = false;
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
                        it->tls_keyfile == route->config.tls_keyfile &&
                        it->fallbacks == route->config.fallbacks &&
                        it->count_tokens == route->config.count_tokens &&
                        it->read_metrics == route->config.read_metrics;
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

  Task<void> AdminSession(Socket socket) {
    Conn stream(conns, std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      stream.ExpiresAfter(Ms(options.client_idle_timeout_ms));
      beast::error_code ec;
      co_await http::async_read(stream.stream, buffer, req, net::redirect_error(kUseTask, ec));
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
      co_await http::async_write(stream.stream, res, net::redirect_error(kUseTask, ec));
      if (ec || !req.keep_alive()) break;
    }
  }

  Task<void> AdminAccept() {
    for (;;) {
      beast::error_code ec;
      Socket socket = co_await admin->async_accept(net::redirect_error(kUseTask, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) continue;
      net::co_spawn(io, AdminSession(std::move(socket)), net::detached);
    }
  }

  // Closes the connections whose deadline passed, ten times a second.
  Task<void> Sweep() {
    Timer timer(io);
    for (;;) {
      timer.expires_after(Ms(100));
      beast::error_code ec;
      co_await timer.async_wait(net::redirect_error(kUseTask, ec));
      if (ec) co_return;
      const auto now = std::chrono::steady_clock::now();
      for (Deadline* c : conns) {
        if (c->deadline > now || c->timed_out) continue;
        c->timed_out = true;
        c->Close();
      }
    }
  }

  Task<void> HealthChecks(Route& route) {
    Timer timer(io);
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
      co_await timer.async_wait(net::redirect_error(kUseTask, ec));
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
    c.integrals = route->balancer->Integrals();
    for (const auto& r : c.replicas) {
      c.tokens_in_flight += r.tokens_in_flight;
      if (r.metrics) c.waiting += r.metrics->waiting;
    }
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
  family("awan_gateway_fallback_requests_total", "counter",
         "Requests sent to a route's managed endpoint, by how they ended (answered: it relayed "
         "an answer; failed: connect error, timeout, 429 or 5xx before the answer began).");
  for (const auto& route : impl_->routes) {
    for (const auto& fb : route->fallbacks) {
      for (const auto& [outcome, n] :
           {std::pair{"answered", fb->answered.load()}, std::pair{"failed", fb->failures.load()}}) {
        out += fmt::format(
            "awan_gateway_fallback_requests_total{{route=\"{}\",endpoint=\"{}\",kind=\"{}\","
            "outcome=\"{}\"}} {}\n",
            route->config.name, fb->config.name, fb->config.kind, outcome, n);
      }
    }
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

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

namespace awan::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using J = nlohmann::ordered_json;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};

Target ParseTarget(std::string_view target) {
  Target t;
  const size_t q = target.find('?');
  t.path = std::string(target.substr(0, q));
  if (q == std::string_view::npos) return t;
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    const size_t eq = pair.find('=');
    t.query[std::string(pair.substr(0, eq))] =
        eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return t;
}

Response Json(http::status status, const std::string& body, unsigned version) {
  Response res{status, version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, std::string("awan/") + kAwanVersion);
  res.body() = body + "\n";
  return res;
}

Response Error(http::status status, const std::string& message, unsigned version) {
  J j;
  j["error"] = {{"code", static_cast<int>(status)}, {"message", message}};
  return Json(status, DumpJson(j), version);
}

http::status StatusFor(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
      return http::status::bad_request;
    case absl::StatusCode::kNotFound:
      return http::status::not_found;
    case absl::StatusCode::kFailedPrecondition:
      return http::status::conflict;
    default:
      return http::status::internal_server_error;
  }
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

std::optional<int64_t> JobIdIn(const std::string& path, std::string& rest) {
  // /v1/jobs/{id}[/rest]
  constexpr std::string_view kPrefix = "/v1/jobs/";
  if (path.rfind(kPrefix, 0) != 0) return std::nullopt;
  std::string tail = path.substr(kPrefix.size());
  const size_t slash = tail.find('/');
  rest = slash == std::string::npos ? "" : tail.substr(slash + 1);
  auto id = ParseNumber(tail.substr(0, slash));
  if (!id || *id < 1 || *id != static_cast<double>(static_cast<int64_t>(*id))) return std::nullopt;
  return static_cast<int64_t>(*id);
}

}  // namespace

struct ApiServer::Impl {
  Impl(controller::JobController& c, store::Store& s, const catalog::Catalog& cat, ServerOptions o,
       const providers::Fleet* f)
      : controller(c), store(s), catalog(cat), options(std::move(o)), fleet(f) {}

  controller::JobController& controller;
  store::Store& store;
  const catalog::Catalog& catalog;
  ServerOptions options;
  const providers::Fleet* fleet;
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
    Response res = Error(status, message, 11);
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
    Response res =
        Error(http::status::payload_too_large,
              fmt::format("request body is larger than {} bytes", options.max_body_bytes), 11);
    res.keep_alive(false);
    res.prepare_payload();
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
      std::string rest;
      const auto id = JobIdIn(target.path, rest);
      if (Authorized(req) == 0 && id && rest == "logs" && req.method() == http::verb::get &&
          target.query.count("follow") != 0 && target.query.at("follow") != "0") {
        co_await StreamLogs(stream, *id, target, req.version());
        break;
      }
      Response res = Handle(req, target);
      res.keep_alive(keep);
      res.prepare_payload();
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

  Response Handle(const Request& req, const Target& target) {
    const unsigned v = req.version();
    const std::string& path = target.path;
    if (FindInvalidUtf8(req.target())) {
      return Error(http::status::bad_request,
                   "the request target is not valid UTF-8 (percent-encode other bytes)", v);
    }
    if (path == "/v1/health" && req.method() == http::verb::get) {
      return Json(http::status::ok, DumpJson(J{{"status", "ok"}, {"version", kAwanVersion}}), v);
    }
    if (const int auth = Authorized(req); auth != 0) {
      Response res = auth == 401
                         ? Error(http::status::unauthorized,
                                 "missing bearer token: send `Authorization: Bearer TOKEN` (the "
                                 "token is in $AWAN_HOME/token)",
                                 v)
                         : Error(http::status::forbidden, "wrong bearer token", v);
      if (auth == 401) res.set(http::field::www_authenticate, "Bearer");
      return res;
    }
    try {
      return Route(req, target);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: {}", std::string(req.method_string()), path, e.what());
      return Error(http::status::internal_server_error, e.what(), v);
    }
  }

  Response Route(const Request& req, const Target& target) {
    const unsigned v = req.version();
    const std::string& path = target.path;
    const http::verb method = req.method();
    if (path == "/v1/server" && method == http::verb::get) return ServerInfo(v);
    if (path == "/v1/jobs" && method == http::verb::post) return Launch(req);
    if (path == "/v1/jobs" && method == http::verb::get) return ListJobs(target, v);
    if (path == "/v1/catalog" && method == http::verb::get) return Catalog(target, v);
    if (path == "/v1/optimize" && method == http::verb::post) return Optimize(req);
    if (path == "/v1/providers" && method == http::verb::get) return Providers(v);
    if (path.rfind("/v1/sim/", 0) == 0) return Sim(req, target);
    std::string rest;
    if (const auto id = JobIdIn(path, rest)) {
      if (rest.empty() && method == http::verb::get) return GetJob(*id, v);
      if (rest == "events" && method == http::verb::get) return Events(*id, v);
      if (rest == "logs" && method == http::verb::get) return Logs(*id, target, v);
      if (rest == "cancel" && method == http::verb::post) return Cancel(*id, v);
    }
    if (path.rfind("/v1/jobs/", 0) == 0 && !JobIdIn(path, rest)) {
      return Error(http::status::bad_request, fmt::format("'{}' is not a job id", path.substr(9)),
                   v);
    }
    return Error(
        http::status::not_found,
        fmt::format("no endpoint {} {} (see docs/api.md)", std::string(req.method_string()), path),
        v);
  }

  // Parses a JSON request body; nullopt (and `error` set) when malformed.
  std::optional<J> Body(const Request& req, Response& error) {
    try {
      J j = J::parse(req.body());
      if (!j.is_object()) throw std::runtime_error("the body must be a JSON object");
      return j;
    } catch (const std::exception& e) {
      error = Error(http::status::bad_request, fmt::format("malformed JSON body: {}", e.what()),
                    req.version());
      return std::nullopt;
    }
  }

  static std::optional<std::string> Field(const J& body, const char* name) {
    if (!body.contains(name) || !body[name].is_string()) return std::nullopt;
    return body[name].get<std::string>();
  }

  Response ServerInfo(unsigned v) {
    J gpus = J::array();
    for (const auto& g : controller.machine().gpus)
      gpus.push_back({{"index", g.index}, {"name", g.name}});
    J j{{"url", fmt::format("http://{}:{}", options.host, port)},
        {"pid", static_cast<int64_t>(getpid())},
        {"store", store.Describe()},
        {"home", options.home},
        {"version", kAwanVersion},
        {"machine",
         {{"hostname", controller.machine().hostname},
          {"cpus", controller.machine().cpus},
          {"memory_gib", controller.machine().memory_gib},
          {"gpus", gpus}}}};
    const controller::SchedulerSummary sched = controller.scheduler_summary();
    j["scheduler"] = sched.enabled ? J{{"policy", sched.policy},
                                       {"fleet", sched.fleet_file},
                                       {"queued", sched.queued},
                                       {"running", sched.running},
                                       {"accelerators_in_use", sched.accelerators_in_use},
                                       {"accelerators_total", sched.accelerators_total}}
                                   : J(nullptr);
    return Json(http::status::ok, DumpJson(j), v);
  }

  Response Launch(const Request& req) {
    Response error;
    auto body = Body(req, error);
    if (!body) return error;
    auto yaml = Field(*body, "task_yaml");
    if (!yaml)
      return Error(http::status::bad_request, "body needs \"task_yaml\": the task file's text",
                   req.version());
    const std::string source = Field(*body, "source").value_or("<request>");
    const std::string base_dir = Field(*body, "base_dir").value_or(options.home);
    const bool retry = body->contains("retry_until_up") && (*body)["retry_until_up"].is_boolean() &&
                       (*body)["retry_until_up"].get<bool>();
    auto id = controller.Submit(*yaml, source, base_dir, retry);
    if (!id.ok())
      return Error(StatusFor(id.status()), std::string(id.status().message()), req.version());
    auto job = store.GetJob(*id);
    spdlog::info("job {} submitted from {}", *id, source);
    return Json(http::status::created, job.ok() ? JobJson(*job) : DumpJson(J{{"id", *id}}),
                req.version());
  }

  Response ListJobs(const Target& target, unsigned v) {
    store::JobQuery q;
    if (auto it = target.query.find("limit"); it != target.query.end()) {
      auto n = ParseNumber(it->second);
      if (!n || *n < 1 || *n > 1000)
        return Error(http::status::bad_request, "limit must be 1..1000", v);
      q.limit = static_cast<size_t>(*n);
    }
    if (auto it = target.query.find("before"); it != target.query.end()) {
      auto n = ParseNumber(it->second);
      if (!n || *n < 1) return Error(http::status::bad_request, "before must be a job id", v);
      q.before_id = static_cast<int64_t>(*n);
    }
    q.active_only = target.query.count("active") != 0 && target.query.at("active") != "0";
    auto jobs = store.ListJobs(q);
    if (!jobs.ok()) return Error(StatusFor(jobs.status()), std::string(jobs.status().message()), v);
    std::string out = "{\"jobs\":[";
    for (size_t i = 0; i < jobs->size(); ++i) out += (i ? "," : "") + JobJson((*jobs)[i]);
    out += "],\"next_before\":";
    out += jobs->size() == q.limit && !jobs->empty() ? std::to_string(jobs->back().id) : "null";
    out += "}";
    return Json(http::status::ok, out, v);
  }

  // The job object plus its nodes: [{"rank", "provider", "host"}].
  Response GetJob(int64_t id, unsigned v) {
    auto job = store.GetJob(id);
    if (!job.ok()) return Error(StatusFor(job.status()), std::string(job.status().message()), v);
    J j = J::parse(JobJson(*job));
    J nodes = J::array();
    if (auto list = store.ListNodes(id); list.ok()) {
      for (const auto& n : *list)
        nodes.push_back({{"rank", n.rank}, {"provider", n.provider}, {"host", n.host}});
    }
    j["nodes"] = nodes;
    return Json(http::status::ok, DumpJson(j), v);
  }

  Response Events(int64_t id, unsigned v) {
    auto events = store.ListEvents(id);
    if (!events.ok())
      return Error(StatusFor(events.status()), std::string(events.status().message()), v);
    J out = J::array();
    for (const auto& e : *events)
      out.push_back({{"time", IsoTime(e.time)}, {"type", e.type}, {"message", e.message}});
    return Json(http::status::ok, DumpJson(out), v);
  }

  // 202 with the job as it was when the request arrived (the loop may stop it right away).
  Response Cancel(int64_t id, unsigned v) {
    auto before = store.GetJob(id);
    if (!before.ok())
      return Error(StatusFor(before.status()), std::string(before.status().message()), v);
    absl::Status s = controller.Cancel(id);
    if (!s.ok()) return Error(StatusFor(s), std::string(s.message()), v);
    spdlog::info("job {}: cancel requested (was {})", id, store::JobStateName(before->state));
    return Json(http::status::accepted, JobJson(*before), v);
  }

  Response Logs(int64_t id, const Target& target, unsigned v) {
    auto job = store.GetJob(id);
    if (!job.ok()) return Error(StatusFor(job.status()), std::string(job.status().message()), v);
    uint64_t offset = 0;
    if (auto it = target.query.find("offset"); it != target.query.end()) {
      auto n = ParseNumber(it->second);
      if (!n || *n < 0) return Error(http::status::bad_request, "offset must be a byte offset", v);
      offset = static_cast<uint64_t>(*n);
    }
    std::string text = ReadLog(id, offset, 16 << 20);
    Response res{http::status::ok, v};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.body() = std::move(text);
    return res;
  }

  std::string ReadLog(int64_t id, uint64_t offset, size_t max) const {
    std::ifstream in(controller.LogPath(id), std::ios::binary);
    if (!in) return {};
    in.seekg(static_cast<std::streamoff>(offset));
    std::string data(max, '\0');
    in.read(data.data(), static_cast<std::streamsize>(max));
    data.resize(static_cast<size_t>(std::max<std::streamsize>(0, in.gcount())));
    return data;
  }

  net::awaitable<void> StreamLogs(beast::tcp_stream& stream, int64_t id, const Target& target,
                                  unsigned v) {
    boost::system::error_code ec;
    auto job = store.GetJob(id);
    if (!job.ok()) {
      Response res = Error(StatusFor(job.status()), std::string(job.status().message()), v);
      res.prepare_payload();
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
      std::string chunk = ReadLog(id, offset, 64 << 10);
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

  Response Providers(unsigned v) {
    J out = J::array();
    if (fleet != nullptr) {
      for (const auto& p : fleet->providers)
        out.push_back({{"name", p->name()}, {"kind", p->kind()}});
    }
    return Json(http::status::ok, DumpJson(out), v);
  }

  // The emulation controls: outage, restore, preempt, books. Only for `sim` providers.
  Response Sim(const Request& req, const Target& target) {
    const unsigned v = req.version();
    if (fleet == nullptr) return Error(http::status::not_found, "this server has no fleet", v);
    if (target.path == "/v1/sim/books" && req.method() == http::verb::get) {
      J out = J::array();
      for (const std::string& name : fleet->Names()) {
        const providers::SimProvider* sim = fleet->FindSim(name);
        if (sim == nullptr) continue;
        if (target.query.count("provider") && target.query.at("provider") != name) continue;
        for (const auto& u : sim->Books()) {
          out.push_back({{"provider", name},
                         {"region", u.region},
                         {"zone", u.zone.empty() ? J(nullptr) : J(u.zone)},
                         {"instance_type", u.instance_type},
                         {"used", u.used},
                         {"capacity", u.capacity}});
        }
      }
      return Json(http::status::ok, DumpJson(out), v);
    }
    if (req.method() != http::verb::post)
      return Error(http::status::not_found, "no such endpoint", v);
    Response error;
    auto body = Body(req, error);
    if (!body) return error;
    if (target.path == "/v1/sim/preempt") {
      auto node = Field(*body, "node");
      if (!node)
        return Error(http::status::bad_request,
                     "body needs \"node\": a node's host name (awan status JOB)", v);
      for (const std::string& name : fleet->Names()) {
        if (providers::SimProvider* sim = fleet->FindSim(name);
            sim != nullptr && sim->Preempt(*node)) {
          spdlog::info("sim: {} preempted {}", name, *node);
          return Json(http::status::accepted, DumpJson(J{{"provider", name}, {"node", *node}}), v);
        }
      }
      return Error(http::status::not_found, fmt::format("no emulated node '{}' is running", *node),
                   v);
    }
    auto provider = Field(*body, "provider");
    if (!provider) return Error(http::status::bad_request, "body needs \"provider\"", v);
    providers::SimProvider* sim = fleet->FindSim(*provider);
    if (sim == nullptr) {
      return Error(http::status::not_found,
                   fmt::format("'{}' is not an emulated (sim) provider of this fleet", *provider),
                   v);
    }
    const std::string region = Field(*body, "region").value_or("");
    if (target.path == "/v1/sim/outage") {
      int64_t until = 0;
      if (body->contains("for_seconds")) {
        const J& f = (*body)["for_seconds"];
        if (!f.is_number() || !(f.get<double>() > 0) || f.get<double>() > 365.0 * 86400) {
          return Error(http::status::bad_request,
                       "\"for_seconds\" must be a number of seconds, more than 0 and at most "
                       "31536000 (a year); leave it out for an outage until restored",
                       v);
        }
        until = controller_now() + static_cast<int64_t>(f.get<double>() * 1000);
      }
      sim->SetOutage(region, until);
      spdlog::warn("sim: outage of {}{}{}", *provider, region.empty() ? "" : "/" + region,
                   until == 0 ? " until restored" : "");
      return Json(http::status::accepted,
                  DumpJson(J{{"provider", *provider}, {"region", region}, {"until", until}}), v);
    }
    if (target.path == "/v1/sim/restore") {
      sim->Restore(region);
      spdlog::info("sim: {}{} restored", *provider, region.empty() ? "" : "/" + region);
      return Json(http::status::accepted, DumpJson(J{{"provider", *provider}, {"region", region}}),
                  v);
    }
    return Error(http::status::not_found, "no such endpoint (outage, restore, preempt, books)", v);
  }

  static int64_t controller_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  Response Catalog(const Target& target, unsigned v) {
    const std::string accelerator =
        target.query.count("accelerator") ? target.query.at("accelerator") : "";
    const std::string provider = target.query.count("provider") ? target.query.at("provider") : "";
    J out = J::array();
    for (const auto& o : catalog.offerings()) {
      if (!accelerator.empty() && !EqualsIgnoreCase(catalog.Name(o.accelerator), accelerator))
        continue;
      if (!provider.empty() && catalog.Name(o.provider) != provider) continue;
      out.push_back(
          {{"provider", catalog.Name(o.provider)},
           {"region", catalog.Name(o.region)},
           {"zone", o.zone == catalog::kNoSymbol ? J(nullptr) : J(catalog.Name(o.zone))},
           {"instance_type", catalog.Name(o.instance_type)},
           {"accelerator",
            o.accelerator == catalog::kNoSymbol ? J(nullptr) : J(catalog.Name(o.accelerator))},
           {"accelerator_count", o.accelerator_count},
           {"vcpus", o.vcpus},
           {"memory_gib", o.memory_gib},
           {"price", o.price > 0 ? J(o.price) : J(nullptr)},
           {"spot_price", o.spot_price > 0 ? J(o.spot_price) : J(nullptr)}});
    }
    return Json(http::status::ok, DumpJson(out), v);
  }

  Response Optimize(const Request& req) {
    Response error;
    auto body = Body(req, error);
    if (!body) return error;
    auto yaml = Field(*body, "task_yaml");
    if (!yaml) return Error(http::status::bad_request, "body needs \"task_yaml\"", req.version());
    auto task = spec::ParseTask(*yaml, Field(*body, "source").value_or("<request>"),
                                Field(*body, "base_dir").value_or(options.home));
    if (!task.ok())
      return Error(http::status::bad_request, std::string(task.status().message()), req.version());
    optimizer::OptimizeOptions o;
    if (Field(*body, "objective") == "time") o.objective = optimizer::Objective::kTime;
    if (body->contains("top") && (*body)["top"].is_number_unsigned())
      o.top = (*body)["top"].get<size_t>();
    if (body->contains("providers") && (*body)["providers"].is_array()) {
      for (const auto& p : (*body)["providers"]) {
        if (p.is_string()) o.providers.push_back(p.get<std::string>());
      }
    }
    auto result = optimizer::Optimize(*task, catalog, o);
    if (!result.ok())
      return Error(StatusFor(result.status()), std::string(result.status().message()),
                   req.version());
    J out;
    J list = J::array();
    for (const auto& p : result->candidates) {
      list.push_back({{"provider", p.provider},
                      {"region", p.region},
                      {"zone", p.zone.empty() ? J(nullptr) : J(p.zone)},
                      {"instance_type", p.instance_type},
                      {"accelerator", p.accelerator.empty() ? J(nullptr) : J(p.accelerator)},
                      {"accelerator_count", p.accelerator_count},
                      {"num_nodes", p.num_nodes},
                      {"spot", p.spot},
                      {"hourly_cost", p.hourly_cost}});
    }
    out["chosen"] = list.empty() ? J(nullptr) : list[0];
    out["candidates"] = list;
    out["feasible"] = result->feasible;
    if (list.empty()) out["infeasible_reason"] = result->infeasible_reason;
    return Json(http::status::ok, DumpJson(out), req.version());
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

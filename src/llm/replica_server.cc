// The emulated replica's server: Boost.Beast on one io_context thread, one coroutine per
// connection. The Engine runs in virtual seconds since Start, stepped by a timer set to its next
// event; each request waiting for tokens sleeps on its own timer, cancelled (woken) when the engine
// gives it a token or finishes it.
#include "awan/llm/replica_server.h"

#include <fmt/format.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cmath>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "awan/llm/openai_request.h"

namespace awan::llm {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using J = nlohmann::ordered_json;

// Filler text: output token k of request r is one of these words.
constexpr std::array<std::string_view, 16> kWords = {
    "the",    "model", "is", "emulated", "and",  "its",    "tokens", "follow",
    "timing", "of",    "a",  "prefill",  "then", "decode", "steps",  "."};

std::string Word(uint64_t request, int k) {
  return std::string(" ") + std::string(kWords[(request * 7 + static_cast<uint64_t>(k)) % 16]);
}

// OpenAI's error body.
std::string ErrorBody(std::string_view message, std::string_view type, int code) {
  J j;
  j["error"] = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}};
  return j.dump();
}

struct Pending {
  explicit Pending(net::io_context& io) : wake(io, Clock::time_point::max()) {}
  int tokens = 0;  // made so far
  bool finished = false;
  Completion done;
  net::steady_timer wake;  // cancelled when tokens or the end came
};

}  // namespace

struct ReplicaServer::Impl {
  explicit Impl(ReplicaServerOptions o) : options(std::move(o)), engine(options.timing) {}

  // Declared before `io`, so they outlive the coroutines that io destroys when it goes.
  ReplicaServerOptions options;
  bool stopping = false;  // set once the loop has stopped: coroutines being destroyed touch nothing
  Engine engine;
  Clock::time_point start = Clock::now();
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, Pending*> pending;
  int64_t prompt_tokens_total = 0, generation_tokens_total = 0;
  std::atomic<int64_t> completed{0};
  std::mutex fault_mu;
  Fault fault;  // guarded by fault_mu
  net::io_context io{1};
  std::optional<tcp::acceptor> acceptor;
  net::steady_timer step_timer{io};
  std::thread thread;

  double Now() const { return std::chrono::duration<double>(Clock::now() - start).count(); }

  // Runs the engine up to now, hands out tokens and endings, and sets the timer to its next step.
  void Advance() {
    std::vector<Completion> done;
    std::vector<uint64_t> tokens;
    engine.RunUntil(Now(), done, nullptr, &tokens);
    for (uint64_t id : tokens) {
      if (auto it = pending.find(id); it != pending.end()) {
        ++it->second->tokens;
        it->second->wake.cancel();
      }
    }
    for (const Completion& c : done) {
      if (auto it = pending.find(c.id); it != pending.end()) {
        it->second->finished = true;
        it->second->done = c;
        it->second->wake.cancel();
      }
    }
    Reschedule();
  }

  void Reschedule() {
    const double t = engine.NextEventTime();
    if (!std::isfinite(t)) {
      step_timer.cancel();
      return;
    }
    step_timer.expires_at(
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t)));
    step_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) Advance();
    });
  }

  Fault TakeFault() {
    std::lock_guard lock(fault_mu);
    Fault f = fault;
    if (fault.status != 0 && fault.count > 0 && --fault.count == 0) fault.status = 0;
    return f;
  }

  std::string MetricsText() const {
    const std::string label = fmt::format("{{model_name=\"{}\"}}", options.model);
    std::string out;
    const auto metric = [&](std::string_view name, std::string_view type, std::string_view help,
                            auto value) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{}{} {}\n", name, help, name, type, name,
                         label, value);
    };
    metric("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.",
           engine.running());
    metric("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.",
           engine.waiting());
    metric("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.",
           engine.kv_usage());
    metric("vllm:prefix_cache_queries_total", "counter",
           "Prefix cache queries, in terms of number of queried tokens.", engine.prefix_queries());
    metric("vllm:prefix_cache_hits_total", "counter",
           "Prefix cache hits, in terms of number of cached tokens.", engine.prefix_hits());
    metric("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.",
           prompt_tokens_total);
    metric("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
           generation_tokens_total);
    metric("vllm:request_success_total", "counter", "Count of successfully processed requests.",
           completed.load());
    return out;
  }

  net::awaitable<void> Write(beast::tcp_stream& stream, http::response<http::string_body> res,
                             bool keep, boost::system::error_code& ec) {
    res.set(http::field::server, "awan-llm-replica");
    res.keep_alive(keep);
    res.prepare_payload();
    co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
  }

  http::response<http::string_body> Answer(int status, std::string body,
                                           std::string_view type = "application/json") {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, type);
    res.body() = std::move(body);
    return res;
  }

  net::awaitable<void> Session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      co_await http::async_read(stream, buffer, parser,
                                net::redirect_error(net::use_awaitable, ec));
      if (ec == http::error::body_limit) {
        co_await Write(
            stream, Answer(413, ErrorBody("the body is too large", "invalid_request_error", 413)),
            false, ec);
        break;
      }
      if (ec) break;
      http::request<http::string_body> req = parser.release();
      const bool keep = req.keep_alive();
      const std::string path(req.target().substr(0, req.target().find('?')));
      if (req.method() == http::verb::get && path == "/health") {
        co_await Write(stream, Answer(200, ""), keep, ec);
      } else if (req.method() == http::verb::get && path == "/metrics") {
        co_await Write(stream, Answer(200, MetricsText(), "text/plain; version=0.0.4"), keep, ec);
      } else if (!Authorized(req)) {
        auto res =
            Answer(401, ErrorBody("Incorrect API key provided", "invalid_request_error", 401));
        co_await Write(stream, std::move(res), keep, ec);
      } else if (req.method() == http::verb::get && path == "/v1/models") {
        J models;
        models["object"] = "list";
        models["data"] = J::array(
            {J{{"id", options.model}, {"object", "model"}, {"created", 0}, {"owned_by", "awan"}}});
        co_await Write(stream, Answer(200, models.dump()), keep, ec);
      } else if (req.method() == http::verb::post &&
                 (path == "/v1/chat/completions" || path == "/v1/completions")) {
        const bool close = co_await Complete(stream, req, path == "/v1/chat/completions", keep, ec);
        if (close) break;
      } else {
        co_await Write(stream,
                       Answer(404, ErrorBody(fmt::format("no route {} {}",
                                                         std::string(req.method_string()), path),
                                             "not_found_error", 404)),
                       keep, ec);
      }
      if (ec || !keep) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  bool Authorized(const http::request<http::string_body>& req) const {
    if (options.api_key.empty()) return true;
    const auto it = req.find(http::field::authorization);
    return it != req.end() && it->value() == "Bearer " + options.api_key;
  }

  // One completion; true when the connection must close afterwards.
  net::awaitable<bool> Complete(beast::tcp_stream& stream,
                                const http::request<http::string_body>& req, bool chat, bool keep,
                                boost::system::error_code& ec) {
    const Fault f = TakeFault();
    if (f.delay_s > 0) {
      net::steady_timer delay(io, std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(f.delay_s)));
      co_await delay.async_wait(net::redirect_error(net::use_awaitable, ec));
      ec = {};
    }
    if (f.status != 0) {
      auto res = Answer(f.status,
                        ErrorBody(f.status == 429 ? "Rate limit reached (emulated)"
                                                  : "The server had an error (emulated)",
                                  f.status == 429 ? "rate_limit_error" : "server_error", f.status));
      if (!f.retry_after.empty()) res.set(http::field::retry_after, f.retry_after);
      co_await Write(stream, std::move(res), keep, ec);
      co_return false;
    }
    auto parsed = ParseCompletionRequest(req.body(), engine.model().block_size);
    if (parsed.ok() && parsed->chat != chat) {
      parsed = absl::InvalidArgumentError(chat ? "'messages' is required on /v1/chat/completions"
                                               : "'prompt' is required on /v1/completions");
    }
    if (parsed.ok() && !parsed->model.empty() && parsed->model != options.model) {
      co_await Write(
          stream,
          Answer(404, ErrorBody(fmt::format("The model `{}` does not exist.", parsed->model),
                                "NotFoundError", 404)),
          keep, ec);
      co_return false;
    }
    if (!parsed.ok()) {
      co_await Write(stream,
                     Answer(400, ErrorBody(std::string(parsed.status().message()),
                                           "invalid_request_error", 400)),
                     keep, ec);
      co_return false;
    }
    Advance();
    Request r;
    r.id = next_id++;
    r.arrival_s = engine.now();
    r.prompt_tokens = static_cast<int>(std::min<int64_t>(parsed->prompt_tokens, INT32_MAX));
    r.output_tokens = static_cast<int>(parsed->max_tokens);
    r.blocks = std::move(parsed->blocks);
    const uint64_t id = r.id;
    if (!engine.Submit(std::move(r))) {
      co_await Write(stream,
                     Answer(400, ErrorBody(fmt::format("the prompt ({} tokens) does not fit in "
                                                       "this replica's KV cache",
                                                       parsed->prompt_tokens),
                                           "invalid_request_error", 400)),
                     keep, ec);
      co_return false;
    }
    Reschedule();
    Pending p(io);
    pending.emplace(id, &p);
    struct Forget {
      Impl* impl;
      uint64_t id;
      Pending* p;
      ~Forget() {
        if (impl->stopping) return;
        impl->pending.erase(id);
        if (!p->finished && impl->engine.Cancel(id)) impl->Reschedule();
      }
    } forget{this, id, &p};
    const std::string object_id = fmt::format("{}-{}", chat ? "chatcmpl" : "cmpl", id);
    const auto created = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
    const auto usage = [&] {
      return J{{"prompt_tokens", p.done.prompt_tokens},
               {"completion_tokens", p.done.output_tokens},
               {"total_tokens", p.done.prompt_tokens + p.done.output_tokens},
               {"prompt_tokens_details", {{"cached_tokens", p.done.cached_tokens}}}};
    };
    const auto wait = [&]() -> net::awaitable<void> {
      boost::system::error_code ignored;
      p.wake.expires_at(Clock::time_point::max());
      co_await p.wake.async_wait(net::redirect_error(net::use_awaitable, ignored));
    };
    if (!parsed->stream) {
      while (!p.finished) co_await wait();
      std::string text;
      for (int k = 0; k < p.done.output_tokens; ++k) text += Word(id, k);
      J body;
      body["id"] = object_id;
      body["object"] = chat ? "chat.completion" : "text_completion";
      body["created"] = created;
      body["model"] = options.model;
      J choice{{"index", 0}};
      if (chat) {
        choice["message"] = {{"role", "assistant"}, {"content", text}};
      } else {
        choice["text"] = text;
        choice["logprobs"] = nullptr;
      }
      choice["finish_reason"] = "length";
      body["choices"] = J::array({choice});
      body["usage"] = usage();
      Finished(p);
      co_await Write(stream, Answer(200, body.dump()), keep, ec);
      co_return false;
    }
    // Streaming: server-sent events over a chunked response.
    http::response<http::empty_body> head{http::status::ok, 11};
    head.set(http::field::content_type, "text/event-stream");
    head.set(http::field::cache_control, "no-cache");
    head.set(http::field::server, "awan-llm-replica");
    head.chunked(true);
    head.keep_alive(keep);
    http::response_serializer<http::empty_body> sr{head};
    co_await http::async_write_header(stream, sr, net::redirect_error(net::use_awaitable, ec));
    if (ec) co_return true;
    const auto chunk = [&](const J& choice) {
      J c;
      c["id"] = object_id;
      c["object"] = chat ? "chat.completion.chunk" : "text_completion";
      c["created"] = created;
      c["model"] = options.model;
      c["choices"] = choice.is_null() ? J::array() : J::array({choice});
      return c;
    };
    const auto event = [](const J& j) { return "data: " + j.dump() + "\n\n"; };
    int sent = 0;
    for (;;) {
      std::string out;
      for (; sent < p.tokens; ++sent) {
        J choice{{"index", 0}};
        if (chat) {
          choice["delta"] = sent == 0 ? J{{"role", "assistant"}, {"content", Word(id, sent)}}
                                      : J{{"content", Word(id, sent)}};
        } else {
          choice["text"] = Word(id, sent);
          choice["logprobs"] = nullptr;
        }
        choice["finish_reason"] = nullptr;
        out += event(chunk(choice));
        if (f.break_after_tokens >= 0 && sent + 1 >= f.break_after_tokens) {
          co_await WriteChunk(stream, out, ec);
          stream.socket().close(ec);  // dies mid-answer
          co_return true;
        }
      }
      if (p.finished) {
        J last{{"index", 0}, {"finish_reason", "length"}};
        if (chat) {
          last["delta"] = J::object();
        } else {
          last["text"] = "";
          last["logprobs"] = nullptr;
        }
        out += event(chunk(last));
        if (parsed->include_usage) {
          J u = chunk(nullptr);
          u["usage"] = usage();
          out += event(u);
        }
        out += "data: [DONE]\n\n";
        Finished(p);
        co_await WriteChunk(stream, out, ec);
        if (!ec) {
          co_await net::async_write(stream, http::make_chunk_last(),
                                    net::redirect_error(net::use_awaitable, ec));
        }
        co_return ec.failed();
      }
      if (!out.empty()) {
        co_await WriteChunk(stream, out, ec);
        if (ec) co_return true;  // the client went away: Forget cancels the request
      }
      if (p.tokens == sent && !p.finished) co_await wait();
    }
  }

  net::awaitable<void> WriteChunk(beast::tcp_stream& stream, const std::string& data,
                                  boost::system::error_code& ec) {
    co_await net::async_write(stream, http::make_chunk(net::buffer(data)),
                              net::redirect_error(net::use_awaitable, ec));
  }

  void Finished(const Pending& p) {
    prompt_tokens_total += p.done.prompt_tokens - p.done.cached_tokens;
    generation_tokens_total += p.done.output_tokens;
    ++completed;
  }

  net::awaitable<void> Accept() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket =
          co_await acceptor->async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec == net::error::operation_aborted) co_return;
      if (ec) continue;
      net::co_spawn(io, Session(std::move(socket)), net::detached);
    }
  }
};

ReplicaServer::ReplicaServer(ReplicaServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

ReplicaServer::~ReplicaServer() { Stop(); }

absl::StatusOr<int> ReplicaServer::Start() {
  boost::system::error_code ec;
  const auto address = net::ip::make_address(impl_->options.host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not an IP address: {}", impl_->options.host, ec.message()));
  }
  tcp::acceptor acceptor(impl_->io);
  const tcp::endpoint endpoint(address, static_cast<uint16_t>(impl_->options.port));
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(fmt::format("cannot listen on {}:{}: {}", impl_->options.host,
                                              impl_->options.port, ec.message()));
  }
  const int port = acceptor.local_endpoint().port();
  impl_->acceptor.emplace(std::move(acceptor));
  impl_->start = Clock::now();
  net::co_spawn(impl_->io, impl_->Accept(), net::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
  return port;
}

void ReplicaServer::SetFault(const Fault& fault) {
  std::lock_guard lock(impl_->fault_mu);
  impl_->fault = fault;
}

int64_t ReplicaServer::completed() const { return impl_->completed; }

void ReplicaServer::Stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->io.stop();
  impl_->thread.join();
  impl_->stopping = true;
}

}  // namespace awan::llm

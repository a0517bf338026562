// One io_context thread; a coroutine per request, started at its arrival on a timer, over its own
// connection.
#include "awan/llm/live_replay.h"

#include <fmt/format.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "awan/gateway/managed.h"

namespace awan::llm {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Outcome {
  bool ok = false;
  Completion c;
};

// GET `url` (http only) and the body, or an error.
absl::StatusOr<std::string> Fetch(const std::string& url) {
  auto u = gateway::ParseUrl(url);
  if (!u.ok()) return u.status();
  if (u->tls) return absl::InvalidArgumentError(fmt::format("{}: https is not supported", url));
  try {
    net::io_context io;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(resolver.resolve(u->host, std::to_string(u->port)));
    http::request<http::empty_body> req{http::verb::get, u->path.empty() ? "/" : u->path, 11};
    req.set(http::field::host, gateway::HostHeader(*u));
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    if (res.result() != http::status::ok) {
      return absl::UnavailableError(fmt::format("{}: HTTP {}", url, res.result_int()));
    }
    return res.body();
  } catch (const std::exception& e) {
    return absl::UnavailableError(fmt::format("{}: {}", url, e.what()));
  }
}

// Each replica's tokens processed so far.
absl::StatusOr<std::vector<double>> ReadReplicaTokens(const std::vector<std::string>& urls) {
  std::vector<double> out;
  for (const std::string& url : urls) {
    auto text = Fetch(url);
    if (!text.ok()) return text.status();
    auto tokens = ReplicaTokensProcessed(*text);
    if (!tokens) {
      return absl::InvalidArgumentError(
          fmt::format("{}: no vllm:prompt_tokens_total or generation_tokens_total in it", url));
    }
    out.push_back(*tokens);
  }
  return out;
}

}  // namespace

std::optional<double> ReplicaTokensProcessed(std::string_view text) {
  std::optional<double> total;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    for (std::string_view name : {"vllm:prompt_tokens_total", "vllm:generation_tokens_total",
                                  "sglang:prompt_tokens_total", "sglang:generation_tokens_total"}) {
      if (line.substr(0, name.size()) != name) continue;
      const char next = line.size() > name.size() ? line[name.size()] : '\0';
      if (next != ' ' && next != '{') continue;
      const size_t space = line.rfind(' ');
      if (space == std::string_view::npos) continue;
      char* stop = nullptr;
      const std::string number(line.substr(space + 1));
      const double v = std::strtod(number.c_str(), &stop);
      if (stop != number.c_str() && std::isfinite(v)) total = total.value_or(0) + v;
    }
  }
  return total;
}

absl::StatusOr<LiveReplayResult> ReplayLive(const std::vector<TraceRequest>& trace,
                                            const LiveReplayOptions& options,
                                            const std::function<void(size_t)>& progress) {
  auto url = gateway::ParseUrl(options.url);
  if (!url.ok()) return url.status();
  if (url->tls) return absl::InvalidArgumentError("--url: https is not supported by replay yet");
  std::vector<double> before;
  if (!options.replica_metrics.empty()) {
    auto read = ReadReplicaTokens(options.replica_metrics);
    if (!read.ok()) return read.status();
    before = std::move(*read);
  }
  net::io_context io;
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints = resolver.resolve(url->host, std::to_string(url->port), ec);
  if (ec) {
    return absl::UnavailableError(fmt::format("cannot resolve {}: {}", url->host, ec.message()));
  }
  const std::string target = url->path + "/v1/completions";
  std::vector<Outcome> outcomes(trace.size());
  size_t finished = 0;
  const Clock::time_point start = Clock::now();
  const auto seconds = [&](Clock::time_point t) {
    return std::chrono::duration<double>(t - start).count();
  };
  const auto one = [&](size_t n) -> net::awaitable<void> {
    const TraceRequest& t = trace[n];
    Outcome& o = outcomes[n];
    net::steady_timer at(io,
                         start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(t.arrival_s / options.speed)));
    boost::system::error_code e;
    co_await at.async_wait(net::redirect_error(net::use_awaitable, e));
    o.c.id = n;
    o.c.arrival_s = seconds(Clock::now());
    o.c.prompt_tokens = t.prompt_tokens;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(options.timeout_s)));
    co_await stream.async_connect(endpoints, net::redirect_error(net::use_awaitable, e));
    if (!e) {
      std::string prompt;  // names the blocks, for routers that match prompt text
      for (uint64_t b : t.blocks) prompt += fmt::format("b{:x} ", b);
      nlohmann::json body{{"prompt", prompt},     {"input_length", std::max(1, t.prompt_tokens)},
                          {"hash_ids", t.blocks}, {"max_tokens", std::max(1, t.output_tokens)},
                          {"stream", true},       {"stream_options", {{"include_usage", true}}}};
      if (!options.model.empty()) body["model"] = options.model;
      http::request<http::string_body> req{http::verb::post, target, 11};
      req.set(http::field::host, gateway::HostHeader(*url));
      req.set(http::field::content_type, "application/json");
      if (!options.api_key.empty())
        req.set(http::field::authorization, "Bearer " + options.api_key);
      req.body() = body.dump();
      req.prepare_payload();
      co_await http::async_write(stream, req, net::redirect_error(net::use_awaitable, e));
    }
    http::response_parser<http::buffer_body> p;
    p.body_limit(boost::none);
    beast::flat_buffer buffer;
    if (!e) {
      co_await http::async_read_header(stream, buffer, p,
                                       net::redirect_error(net::use_awaitable, e));
    }
    std::string text;
    std::array<char, 8192> buf;
    bool first = true;
    while (!e && !p.is_done()) {
      p.get().body().data = buf.data();
      p.get().body().size = buf.size();
      co_await http::async_read_some(stream, buffer, p, net::redirect_error(net::use_awaitable, e));
      if (e == http::error::need_buffer) e = {};
      const size_t got = buf.size() - p.get().body().size;
      if (got > 0 && first) {
        o.c.first_token_s = seconds(Clock::now());
        first = false;
      }
      text.append(buf.data(), got);
    }
    o.c.finish_s = seconds(Clock::now());
    ++finished;
    if (e || p.get().result() != http::status::ok || first ||
        text.find("data: [DONE]") == std::string::npos) {
      co_return;
    }
    // The usage chunk: the last event before [DONE] that has "usage".
    const size_t usage = text.rfind("\"usage\"");
    const size_t begin = usage == std::string::npos ? usage : text.rfind("data: ", usage);
    if (begin != std::string::npos) {
      const size_t end = text.find("\n\n", begin);
      const auto j = nlohmann::json::parse(text.substr(begin + 6, end - begin - 6), nullptr, false);
      if (j.is_object() && j.contains("usage") && j["usage"].is_object()) {
        const auto& u = j["usage"];
        o.c.prompt_tokens = u.value("prompt_tokens", t.prompt_tokens);
        o.c.output_tokens = u.value("completion_tokens", t.output_tokens);
        if (u.contains("prompt_tokens_details") && u["prompt_tokens_details"].is_object()) {
          o.c.cached_tokens = u["prompt_tokens_details"].value("cached_tokens", 0);
        }
      }
    }
    if (o.c.output_tokens == 0) o.c.output_tokens = t.output_tokens;
    o.ok = true;
  };
  for (size_t n = 0; n < trace.size(); ++n) net::co_spawn(io, one(n), net::detached);
  net::steady_timer tick(io);
  std::function<void()> report = [&] {
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([&](boost::system::error_code e) {
      if (e || finished == trace.size()) return;
      if (progress) progress(finished);
      report();
    });
  };
  report();
  io.run();
  LiveReplayResult out;
  std::vector<Completion> done;
  int64_t queries = 0, hits = 0;
  for (const Outcome& o : outcomes) {
    if (!o.ok) {
      ++out.failed;
      continue;
    }
    done.push_back(o.c);
    queries += o.c.prompt_tokens;
    hits += o.c.cached_tokens;
  }
  std::vector<double> load;
  if (!options.replica_metrics.empty()) {
    auto after = ReadReplicaTokens(options.replica_metrics);
    if (!after.ok()) return after.status();
    for (size_t i = 0; i < after->size(); ++i) load.push_back((*after)[i] - before[i]);
  }
  out.result = Summarize(options.label, done, 0, queries, hits, load, options.figures);
  return out;
}

}  // namespace awan::llm

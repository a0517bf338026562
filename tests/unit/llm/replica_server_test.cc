// The emulated LLM replica's server on a loopback port (issue 12): OpenAI's completion and chat
// answers, SSE streams with [DONE] and usage, vLLM's metric names, its prefix cache seen through
// usage.cached_tokens, keys, mistakes, and the faults tests of the gateway inject.
#include "awan/llm/replica_server.h"

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace awan::llm {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct Reply {
  int status = 0;
  std::string body;
  std::string content_type, retry_after;
};

Reply Call(int port, http::verb verb, const std::string& target, const std::string& body,
           const std::string& key = "") {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(
      net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.set(http::field::content_type, "application/json");
  if (!key.empty()) req.set(http::field::authorization, "Bearer " + key);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  Reply r;
  r.status = res.result_int();
  r.body = res.body();
  r.content_type = std::string(res[http::field::content_type]);
  r.retry_after = std::string(res[http::field::retry_after]);
  return r;
}

Reply Post(int port, const std::string& target, const std::string& body,
           const std::string& key = "") {
  return Call(port, http::verb::post, target, body, key);
}

// The `data:` payloads of an SSE body, in order.
std::vector<std::string> Events(const std::string& body) {
  std::vector<std::string> out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    out.push_back(body.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

ReplicaServerOptions Fast() {
  ReplicaServerOptions o;
  o.model = "tiny";
  o.timing.prefill_s_per_token = 0.0001;
  o.timing.decode_s_per_step = 0.001;
  o.timing.decode_s_per_request = 0;
  o.timing.block_size = 4;
  o.timing.cache_blocks = 1024;
  return o;
}

TEST(ReplicaServerTest, ChatCompletionWithUsageAndTheCachedPrefixOnTheSecondAsk) {
  ReplicaServer server(Fast());
  auto port = server.Start();
  ASSERT_TRUE(port.ok()) << port.status();
  // 10 words: "user: " + 9 words of content; 2 full blocks of 4.
  const std::string body = R"({"model": "tiny", "max_tokens": 5, "messages": [{"role": "user",
      "content": "one two three four five six seven eight nine"}]})";
  Reply r = Post(*port, "/v1/chat/completions", body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "tiny");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 10);
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);
  EXPECT_EQ(j["usage"]["total_tokens"], 15);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
  // Five words of filler, each a token.
  const std::string text = j["choices"][0]["message"]["content"];
  EXPECT_EQ(std::count(text.begin(), text.end(), ' '), 5);
  // The same prompt again: its two full blocks (8 tokens) are cached.
  j = nlohmann::json::parse(Post(*port, "/v1/chat/completions", body).body);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
  EXPECT_EQ(server.completed(), 2);
  // Its metrics, under vLLM's names: 20 prompt tokens asked, 8 found cached.
  const Reply m = Call(*port, http::verb::get, "/metrics", "");
  EXPECT_NE(m.body.find("vllm:prefix_cache_queries_total{model_name=\"tiny\"} 20\n"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("vllm:prefix_cache_hits_total{model_name=\"tiny\"} 8\n"),
            std::string::npos);
  EXPECT_NE(m.body.find("vllm:num_requests_running{model_name=\"tiny\"} 0\n"), std::string::npos);
  EXPECT_NE(m.body.find("vllm:num_requests_waiting{model_name=\"tiny\"} 0\n"), std::string::npos);
  EXPECT_NE(m.body.find("vllm:kv_cache_usage_perc{model_name=\"tiny\"} 0\n"), std::string::npos);
  EXPECT_NE(m.body.find("vllm:generation_tokens_total{model_name=\"tiny\"} 10\n"),
            std::string::npos);
}

TEST(ReplicaServerTest, StreamsAChunkATokenThenUsageThenDone) {
  ReplicaServer server(Fast());
  auto port = server.Start();
  ASSERT_TRUE(port.ok());
  const Reply r = Post(*port, "/v1/chat/completions",
                       R"({"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4,
                           "stream": true, "stream_options": {"include_usage": true}})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/event-stream");
  const auto events = Events(r.body);
  // 4 token chunks, the finish chunk, the usage chunk, [DONE].
  ASSERT_EQ(events.size(), 7u) << r.body;
  auto first = nlohmann::json::parse(events[0]);
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  for (int i = 1; i < 4; ++i) {
    auto c = nlohmann::json::parse(events[static_cast<size_t>(i)]);
    EXPECT_TRUE(c["choices"][0]["delta"]["content"].is_string());
    EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
    EXPECT_EQ(c["id"], first["id"]);
  }
  auto last = nlohmann::json::parse(events[4]);
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  auto usage = nlohmann::json::parse(events[5]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 4);
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(events[6], "[DONE]");
  // Without include_usage there is no usage chunk; /v1/completions streams text chunks.
  const auto plain = Events(
      Post(*port, "/v1/completions", R"({"prompt": "hello", "max_tokens": 2, "stream": true})")
          .body);
  ASSERT_EQ(plain.size(), 4u);
  EXPECT_EQ(nlohmann::json::parse(plain[0])["object"], "text_completion");
  EXPECT_TRUE(nlohmann::json::parse(plain[0])["choices"][0]["text"].is_string());
  EXPECT_EQ(plain[3], "[DONE]");
}

TEST(ReplicaServerTest, MistakesKeysAndModels) {
  ReplicaServerOptions o = Fast();
  o.api_key = "sk-test";
  ReplicaServer server(o);
  auto port = server.Start();
  ASSERT_TRUE(port.ok());
  const std::string ok_body = R"({"prompt": "x", "max_tokens": 1})";
  EXPECT_EQ(Post(*port, "/v1/completions", ok_body).status, 401);
  EXPECT_EQ(Post(*port, "/v1/completions", ok_body, "sk-wrong").status, 401);
  EXPECT_EQ(Post(*port, "/v1/completions", ok_body, "sk-test").status, 200);
  Reply bad = Post(*port, "/v1/completions", "{\"prompt\": \"\xff\"}", "sk-test");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad.body)["error"]["message"],
            "the body is not JSON (or not UTF-8)");
  bad = Post(*port, "/v1/chat/completions", ok_body, "sk-test");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad.body)["error"]["message"],
            "'messages' is required on /v1/chat/completions");
  EXPECT_EQ(
      Post(*port, "/v1/completions", R"({"model": "other", "prompt": "x"})", "sk-test").status,
      404);
  // /health and /metrics need no key (probes and scrapers); /v1/models does.
  EXPECT_EQ(Call(*port, http::verb::get, "/health", "").status, 200);
  EXPECT_EQ(Call(*port, http::verb::get, "/v1/models", "").status, 401);
  const auto models =
      nlohmann::json::parse(Call(*port, http::verb::get, "/v1/models", "", "sk-test").body);
  EXPECT_EQ(models["data"][0]["id"], "tiny");
}

TEST(ReplicaServerTest, InjectedFaults) {
  ReplicaServer server(Fast());
  auto port = server.Start();
  ASSERT_TRUE(port.ok());
  Fault f;
  f.status = 429;
  f.retry_after = "7";
  f.count = 2;
  server.SetFault(f);
  const std::string body = R"({"prompt": "x", "max_tokens": 3})";
  for (int i = 0; i < 2; ++i) {
    const Reply r = Post(*port, "/v1/completions", body);
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.retry_after, "7");
    EXPECT_EQ(nlohmann::json::parse(r.body)["error"]["type"], "rate_limit_error");
  }
  EXPECT_EQ(Post(*port, "/v1/completions", body).status, 200);  // the count ran out
  // A replica that dies mid-stream: the client sees the connection end before [DONE].
  Fault brk;
  brk.break_after_tokens = 1;
  server.SetFault(brk);
  EXPECT_THROW(
      Post(*port, "/v1/completions", R"({"prompt": "x", "max_tokens": 50, "stream": true})"),
      boost::system::system_error);
}

}  // namespace
}  // namespace awan::llm

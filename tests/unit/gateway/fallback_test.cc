// Managed endpoints behind a route (issue 12): a completion no replica answers — none ready, or
// each failed before its answer began (429, 5xx, connect error) — goes to the route's managed
// endpoints in order, skipping one cooling down after a failure (Retry-After honoured); a stream
// that broke after tokens were sent ends with an SSE error event, never a silent switch. The
// replicas and the `openai` endpoint are emulated LLM replicas (llm/replica_server.h) — the test
// double of both vLLM and OpenAI's API; the `azure_openai` endpoint is a recording server.
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "awan/gateway/bedrock.h"
#include "awan/gateway/gateway.h"
#include "awan/gateway/managed.h"
#include "awan/gateway/sigv4.h"
#include "awan/gateway/vertex.h"
#include "awan/llm/replica_server.h"

namespace awan::gateway {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using ::testing::HasSubstr;

struct Reply {
  int status = 0;
  std::string body;
};

Reply Post(int port, const std::string& target, const std::string& body) {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, "gateway");
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  beast::error_code ec;
  http::read(stream, buffer, res, ec);
  if (ec) return {0, ec.message()};
  return {static_cast<int>(res.result_int()), res.body()};
}

// A server that records each request and answers with the next scripted answer (one a
// connection), as a stand-in for an API whose requests a test checks field by field.
class RecordingServer {
 public:
  struct Answer {
    int status = 200;
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  using Handler = std::function<Answer(const http::request<http::string_body>&)>;
  explicit RecordingServer(std::vector<Answer> answers)
      : RecordingServer([answers, n = size_t{0}](const auto&) mutable {
          return answers[std::min(n++, answers.size() - 1)];
        }) {}
  explicit RecordingServer(Handler handler)
      : acceptor_(io_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
        handler_(std::move(handler)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { Run(); });
  }
  ~RecordingServer() {
    stop_ = true;
    beast::error_code ec;
    net::io_context io;
    tcp::socket wake(io);  // a blocking accept() is not woken by close(): connect to end it
    wake.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)),
                 ec);
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<http::request<http::string_body>> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Run() {
    for (;;) {
      beast::error_code ec;
      tcp::socket socket(io_);
      acceptor_.accept(socket, ec);
      if (ec || stop_) return;
      beast::flat_buffer buffer;
      http::request<http::string_body> req;
      http::read(socket, buffer, req, ec);
      if (ec) continue;
      {
        std::lock_guard lock(mu_);
        requests_.push_back(req);
      }
      const Answer a = handler_(req);
      http::response<http::string_body> res{static_cast<http::status>(a.status), 11};
      res.set(http::field::content_type, "application/json");
      for (const auto& [k, v] : a.headers) res.set(k, v);
      res.body() = a.body;
      res.prepare_payload();
      http::write(socket, res, ec);
      socket.shutdown(tcp::socket::shutdown_both, ec);
    }
  }
  net::io_context io_;
  tcp::acceptor acceptor_;
  int port_ = 0;
  Handler handler_;
  std::mutex mu_;
  std::vector<http::request<http::string_body>> requests_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

llm::ReplicaServerOptions Emulated(std::string model, std::string key = "") {
  llm::ReplicaServerOptions o;
  o.model = std::move(model);
  o.api_key = std::move(key);
  o.timing.prefill_s_per_token = 0.0001;
  o.timing.decode_s_per_step = 0.001;
  return o;
}

ManagedEndpoint OpenAi(int port, std::string key, std::string model = "gpt-4o-mini") {
  ManagedEndpoint e;
  e.name = "openai-" + std::to_string(port);
  e.kind = "openai";
  e.base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
  e.model = std::move(model);
  e.api_key = std::move(key);
  return e;
}

struct FallbackFixture : ::testing::Test {
  // A route over `replicas` (emulated replicas' ports; 1: a closed port, never ready) with
  // `fallbacks`; waits until the open replicas are ready.
  void StartRoute(const std::vector<int>& replicas, std::vector<ManagedEndpoint> fallbacks) {
    GatewayOptions o;
    o.health_interval_ms = 50;
    RouteConfig route;
    route.name = "llm";
    route.policy = "least_load";
    route.readiness_path = "/health";
    for (size_t i = 0; i < replicas.size(); ++i) {
      route.replicas.push_back({"r" + std::to_string(i), "127.0.0.1", replicas[i]});
    }
    route.fallbacks = std::move(fallbacks);
    gateway = std::make_unique<Gateway>(o);
    auto ports = gateway->Start({route});
    ASSERT_TRUE(ports.ok()) << ports.status();
    port = ports->at(0);
    for (int i = 0; i < 200; ++i) {
      int ready = 0;
      for (const auto& s : gateway->Snapshot("llm")) ready += s.ready ? 1 : 0;
      if (ready == static_cast<int>(std::count_if(replicas.begin(), replicas.end(),
                                                  [](int p) { return p != 1; }))) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "replicas never ready";
  }
  std::unique_ptr<Gateway> gateway;
  int port = 0;
};

const std::string kChat =
    R"({"model": "llama", "max_tokens": 3, "messages": [{"role": "user", "content": "hi"}]})";

TEST_F(FallbackFixture, NoReplicaReadyGoesToTheOpenAiEndpointWithItsKeyAndModel) {
  llm::ReplicaServer openai(Emulated("gpt-4o-mini", "sk-fallback"));
  auto openai_port = openai.Start();
  ASSERT_TRUE(openai_port.ok());
  StartRoute({1}, {OpenAi(*openai_port, "sk-fallback")});
  const Reply r = Post(port, "/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200) << r.body;
  // The endpoint's model asked for (the client's "llama" would be a 404 there), its key sent.
  EXPECT_EQ(nlohmann::json::parse(r.body)["model"], "gpt-4o-mini");
  EXPECT_EQ(openai.completed(), 1);
  // Not a completion: no fallback.
  EXPECT_EQ(Post(port, "/v1/embeddings", "{}").status, 503);
  EXPECT_THAT(
      gateway->MetricsText(),
      HasSubstr(fmt::format("awan_gateway_fallback_requests_total{{route=\"llm\","
                            "endpoint=\"openai-{}\",kind=\"openai\",outcome=\"answered\"}} 1",
                            *openai_port)));
}

TEST_F(FallbackFixture, AFullReplicaSends429AndTheStreamComesFromTheEndpoint) {
  llm::ReplicaServer replica(Emulated("llama")), openai(Emulated("gpt-4o-mini", "sk"));
  auto replica_port = replica.Start();
  auto openai_port = openai.Start();
  ASSERT_TRUE(replica_port.ok() && openai_port.ok());
  llm::Fault full;
  full.status = 429;
  replica.SetFault(full);
  StartRoute({*replica_port}, {OpenAi(*openai_port, "sk")});
  const Reply r = Post(port, "/v1/chat/completions",
                       R"({"max_tokens": 4, "stream": true,
                           "messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("\"model\":\"gpt-4o-mini\""));
  EXPECT_THAT(r.body, HasSubstr("data: [DONE]"));
  EXPECT_EQ(openai.completed(), 1);
  // Once the replica has room, it answers again.
  replica.SetFault({});
  EXPECT_THAT(Post(port, "/v1/chat/completions", kChat).body, HasSubstr("\"model\":\"llama\""));
  EXPECT_EQ(openai.completed(), 1);
}

TEST_F(FallbackFixture, EndpointsInOrderWithCooldownAfter429And5xxAndTimeouts) {
  // First: 429 with Retry-After: 30 (skipped for 30 s after). Second: slower than its timeout.
  // Third: answers.
  RecordingServer limited(
      {{429, R"({"error": {"message": "slow down"}})", {{"Retry-After", "30"}}}});
  llm::ReplicaServer slow(Emulated("m")), good(Emulated("m"));
  auto slow_port = slow.Start();
  auto good_port = good.Start();
  ASSERT_TRUE(slow_port.ok() && good_port.ok());
  llm::Fault delay;
  delay.delay_s = 2;
  slow.SetFault(delay);
  ManagedEndpoint first = OpenAi(limited.port(), "k1", "m");
  ManagedEndpoint second = OpenAi(*slow_port, "", "m");
  second.timeout_ms = 200;
  second.cooldown_ms = 60000;
  ManagedEndpoint third = OpenAi(*good_port, "", "m");
  StartRoute({1}, {first, second, third});
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(Post(port, "/v1/chat/completions", kChat).status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  EXPECT_EQ(Post(port, "/v1/chat/completions", kChat).status, 200);
  EXPECT_EQ(good.completed(), 2);
  // The first and second were asked once each: both cooling down for the second request.
  EXPECT_EQ(limited.requests().size(), 1u);
  const std::string metrics = gateway->MetricsText();
  EXPECT_THAT(metrics, HasSubstr(fmt::format("endpoint=\"openai-{}\",kind=\"openai\","
                                             "outcome=\"failed\"}} 1",
                                             limited.port())));
  EXPECT_THAT(metrics, HasSubstr(fmt::format("endpoint=\"openai-{}\",kind=\"openai\","
                                             "outcome=\"failed\"}} 1",
                                             *slow_port)));
}

TEST_F(FallbackFixture, AfterTokensWereSentAFailureIsAnSseErrorNotASwitch) {
  llm::ReplicaServer replica(Emulated("llama")), openai(Emulated("gpt-4o-mini"));
  auto replica_port = replica.Start();
  auto openai_port = openai.Start();
  ASSERT_TRUE(replica_port.ok() && openai_port.ok());
  llm::Fault dies;
  dies.break_after_tokens = 2;
  replica.SetFault(dies);
  StartRoute({*replica_port}, {OpenAi(*openai_port, "")});
  const Reply r = Post(port, "/v1/chat/completions",
                       R"({"max_tokens": 50, "stream": true,
                           "messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;                     // the stream ended properly...
  EXPECT_THAT(r.body, HasSubstr("\"model\":\"llama\""));  // ...with the replica's tokens
  EXPECT_THAT(r.body, HasSubstr("data: {\"error\": {\"message\": \"the upstream broke off"));
  EXPECT_THAT(r.body, ::testing::Not(HasSubstr("[DONE]")));
  EXPECT_EQ(openai.completed(), 0);  // and nothing from elsewhere
}

TEST_F(FallbackFixture, AzureOpenAiIsAskedAtItsDeploymentWithItsApiKey) {
  RecordingServer azure({{200,
                          R"({"id": "chatcmpl-9", "object": "chat.completion",
      "model": "gpt-4o", "choices": [{"index": 0, "message": {"role": "assistant",
      "content": "hello"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 2,
      "completion_tokens": 1, "total_tokens": 3}})",
                          {}}});
  ManagedEndpoint e;
  e.name = "azure";
  e.kind = "azure_openai";
  e.base_url = "http://127.0.0.1:" + std::to_string(azure.port()) + "/";
  e.deployment = "gpt4o-prod";
  e.api_version = "2024-10-21";
  e.api_key = "azure-secret";
  StartRoute({1}, {e});
  const Reply r = Post(port, "/v1/chat/completions", kChat);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(nlohmann::json::parse(r.body)["choices"][0]["message"]["content"], "hello");
  const auto requests = azure.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target(),
            "/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21");
  EXPECT_EQ(requests[0]["api-key"], "azure-secret");
  EXPECT_EQ(requests[0].count(http::field::authorization), 0u);
  EXPECT_EQ(nlohmann::json::parse(requests[0].body()), nlohmann::json::parse(kChat));
}

TEST_F(FallbackFixture, AllFailingIs502) {
  RecordingServer broken({{503, "{}", {}}});
  StartRoute({1}, {OpenAi(broken.port(), "")});
  const Reply r = Post(port, "/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 502);
  EXPECT_THAT(r.body, HasSubstr("neither the replicas of llm nor its managed endpoints answered"));
}

// llm_score on a real route: the gateway reads each emulated replica's /metrics (vLLM's names)
// ten times a second, and sends new requests away from the one with a long queue.
TEST(LlmScoreRouteTest, TheGatewayScrapesReplicaMetricsAndAvoidsTheBusyOne) {
  llm::ReplicaServerOptions o = Emulated("m");
  o.timing.decode_s_per_step = 0.005;
  o.timing.max_batch = 8;
  llm::ReplicaServer busy(o), idle(o);
  auto busy_port = busy.Start();
  auto idle_port = idle.Start();
  ASSERT_TRUE(busy_port.ok() && idle_port.ok());
  // 24 long requests straight to `busy` (not through the gateway): 8 running, 16 waiting.
  net::io_context io;
  std::vector<std::unique_ptr<beast::tcp_stream>> direct;
  for (int i = 0; i < 24; ++i) {
    auto s = std::make_unique<beast::tcp_stream>(io);
    s->connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(*busy_port)));
    http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
    req.set(http::field::host, "x");
    req.body() = R"({"prompt": "long", "max_tokens": 2000})";
    req.prepare_payload();
    http::write(*s, req);
    direct.push_back(std::move(s));
  }
  GatewayOptions go;
  go.health_interval_ms = 50;
  RouteConfig route;
  route.name = "llm";
  route.policy = "llm_score";
  route.readiness_path = "/health";
  route.replicas = {{"busy", "127.0.0.1", *busy_port}, {"idle", "127.0.0.1", *idle_port}};
  Gateway gateway(go);
  auto ports = gateway.Start({route});
  ASSERT_TRUE(ports.ok()) << ports.status();
  for (int i = 0; i < 200; ++i) {
    int ready = 0;
    for (const auto& st : gateway.Snapshot("llm")) ready += st.ready ? 1 : 0;
    if (ready == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // a few scrapes
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(
        Post(ports->at(0), "/v1/completions", R"({"prompt": "short", "max_tokens": 2})").status,
        200);
  }
  EXPECT_EQ(idle.completed(), 10);
  EXPECT_EQ(busy.completed(), 0);
  gateway.Stop();
  direct.clear();
}

// Amazon Bedrock on loopback: a double that checks each request's SigV4 signature as Bedrock
// would (recomputed over the request it received, with the secret it knows) and answers Converse's
// JSON or ConverseStream's event stream (Bedrock Runtime API, 2023-09-30).
class BedrockDouble {
 public:
  static constexpr const char* kKeyId = "AKIDEXAMPLE";
  static constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  BedrockDouble() : server_([this](const auto& req) { return Handle(req); }) {}
  int port() const { return server_.port(); }
  std::vector<http::request<http::string_body>> requests() { return server_.requests(); }

 private:
  RecordingServer::Answer Handle(const http::request<http::string_body>& req) {
    SigV4Request r;
    r.method = std::string(req.method_string());
    r.path = std::string(req.target());
    r.headers = {{"host", std::string(req[http::field::host])},
                 {"x-amz-date", std::string(req["x-amz-date"])}};
    r.payload = req.body();
    const SigV4 expected =
        SignV4(r, {kKeyId, kSecret, ""}, "us-east-1", "bedrock", std::string(req["x-amz-date"]));
    if (req[http::field::authorization] != expected.authorization) {
      return {
          403,
          R"({"message": "The request signature we calculated does not match the signature you provided."})",
          {}};
    }
    if (r.path.ends_with("/converse")) {
      return {
          200,
          R"({"output": {"message": {"role": "assistant", "content": [{"text": "Hello from Bedrock"}]}},
          "stopReason": "end_turn", "usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16},
          "metrics": {"latencyMs": 120}})",
          {}};
    }
    const auto event = [](std::string type, std::string payload) {
      return EncodeEventMessage({{{":event-type", type},
                                  {":content-type", "application/json"},
                                  {":message-type", "event"}},
                                 std::move(payload)});
    };
    std::string body =
        event("messageStart", R"({"role": "assistant"})") +
        event("contentBlockDelta", R"({"contentBlockIndex": 0, "delta": {"text": "Hello"}})") +
        event("contentBlockDelta", R"({"contentBlockIndex": 0, "delta": {"text": " there"}})") +
        event("contentBlockStop", R"({"contentBlockIndex": 0})") +
        event("messageStop", R"({"stopReason": "max_tokens"})") +
        event(
            "metadata",
            R"({"usage": {"inputTokens": 12, "outputTokens": 2, "totalTokens": 14}, "metrics": {"latencyMs": 80}})");
    return {200, body, {{"Content-Type", "application/vnd.amazon.eventstream"}}};
  }
  RecordingServer server_;
};

ManagedEndpoint Bedrock(int port, std::string secret = BedrockDouble::kSecret) {
  ManagedEndpoint e;
  e.name = "bedrock";
  e.kind = "bedrock";
  e.base_url = "http://127.0.0.1:" + std::to_string(port);
  e.region = "us-east-1";
  e.model = "anthropic.claude-3-haiku-20240307-v1:0";
  e.aws_access_key_id = BedrockDouble::kKeyId;
  e.aws_secret_access_key = std::move(secret);
  return e;
}

TEST_F(FallbackFixture, BedrockConverseIsSignedAndTranslated) {
  BedrockDouble bedrock;
  StartRoute({1}, {Bedrock(bedrock.port())});
  const Reply r = Post(port, "/v1/chat/completions",
                       R"({"max_tokens": 64, "temperature": 0.5, "messages": [
                           {"role": "system", "content": "Be brief."},
                           {"role": "user", "content": "Hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "anthropic.claude-3-haiku-20240307-v1:0");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello from Bedrock");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"],
            nlohmann::json::parse(
                R"({"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16})"));
  const auto requests = bedrock.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target(), "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse");
  EXPECT_EQ(nlohmann::json::parse(requests[0].body()),
            nlohmann::json::parse(R"({"messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                "system": [{"text": "Be brief."}],
                "inferenceConfig": {"maxTokens": 64, "temperature": 0.5}})"));
}

TEST_F(FallbackFixture, BedrockConverseStreamBecomesSse) {
  BedrockDouble bedrock;
  StartRoute({1}, {Bedrock(bedrock.port())});
  const Reply r = Post(port, "/v1/chat/completions",
                       R"({"stream": true, "stream_options": {"include_usage": true},
                           "messages": [{"role": "user", "content": "Hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<nlohmann::json> events;
  size_t at = 0;
  std::string last;
  while ((at = r.body.find("data: ", at)) != std::string::npos) {
    const size_t end = r.body.find("\n\n", at);
    last = r.body.substr(at + 6, end - at - 6);
    if (last != "[DONE]") events.push_back(nlohmann::json::parse(last));
    at = end;
  }
  EXPECT_EQ(last, "[DONE]");
  ASSERT_EQ(events.size(), 5u) << r.body;  // role, "Hello", " there", finish, usage
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events[1]["choices"][0]["delta"]["content"], "Hello");
  EXPECT_EQ(events[2]["choices"][0]["delta"]["content"], " there");
  EXPECT_EQ(events[3]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(events[4]["usage"]["completion_tokens"], 2);
  EXPECT_EQ(events[1]["object"], "chat.completion.chunk");
  EXPECT_EQ(bedrock.requests().at(0).target(),
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
}

TEST_F(FallbackFixture, ABadBedrockSignatureIsRefusedAndReportedInOpenAisShape) {
  BedrockDouble bedrock;
  StartRoute({1}, {Bedrock(bedrock.port(), "wrong-secret")});
  const Reply r = Post(port, "/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 403);
  EXPECT_THAT(nlohmann::json::parse(r.body)["error"]["message"].get<std::string>(),
              HasSubstr("Bedrock: The request signature we calculated does not match"));
}

TEST(BedrockTest, EventStreamFramesAndCrcs) {
  // A frame's two CRC-32s are checked, and a frame split anywhere (here: byte by byte) is read
  // whole.
  EventMessage m{{{":event-type", "contentBlockDelta"}, {":message-type", "event"}},
                 R"({"delta": {"text": "hi"}})"};
  const std::string frame = EncodeEventMessage(m) + EncodeEventMessage(m);
  EventStreamDecoder decoder;
  std::vector<EventMessage> out;
  for (char c : frame) ASSERT_TRUE(decoder.Feed(std::string_view(&c, 1), out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].headers, m.headers);
  EXPECT_EQ(out[1].payload, m.payload);
  std::string corrupt = EncodeEventMessage(m);
  corrupt[corrupt.size() - 6] ^= 1;  // a payload byte
  EventStreamDecoder fresh;
  out.clear();
  EXPECT_EQ(fresh.Feed(corrupt, out).message(), "event stream: message CRC mismatch");
  // 12 bytes of prelude + headers + payload + 4: total length first, big-endian.
  EXPECT_EQ(static_cast<unsigned char>(frame[3]), EncodeEventMessage(m).size());
}

TEST(BedrockTest, RequestsAndAnswersTranslate) {
  auto converse = OpenAiToConverse(R"({"messages": [{"role": "user", "content": "a"},
      {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}],
      "max_completion_tokens": 5, "stop": "END", "top_p": 0.9})");
  ASSERT_TRUE(converse.ok());
  EXPECT_EQ(nlohmann::json::parse(*converse), nlohmann::json::parse(R"({"messages": [
                {"role": "user", "content": [{"text": "a"}, {"text": "b"}]},
                {"role": "assistant", "content": [{"text": "c"}]}],
                "inferenceConfig": {"maxTokens": 5, "topP": 0.9, "stopSequences": ["END"]}})"));
  EXPECT_EQ(
      OpenAiToConverse(R"({"messages": [{"role": "tool", "content": "x"}]})").status().message(),
      "'messages[].role' 'tool' has no Bedrock equivalent (system, user, assistant)");
  auto answer = ConverseToOpenAi(R"({"output": {"message": {"content": [{"text": "x"}]}},
      "stopReason": "max_tokens"})",
                                 "m", /*chat=*/false, "cmpl-1", 7);
  ASSERT_TRUE(answer.ok());
  const auto j = nlohmann::json::parse(*answer);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "x");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  ConverseStreamToSse sse("m", true, "id", 7, false);
  const std::string error =
      sse.OnMessage({{{":message-type", "exception"}, {":exception-type", "throttlingException"}},
                     R"({"message": "Too many requests"})"});
  EXPECT_THAT(error, HasSubstr("Bedrock: throttlingException: Too many requests"));
  EXPECT_TRUE(sse.done());
}

// Google Vertex AI on loopback: a token endpoint that verifies the service account's RS256 JWT
// with the account's public key (as Google's OAuth server would) and issues access tokens, and a
// Vertex double that accepts only an issued token and answers generateContent's JSON or
// streamGenerateContent's SSE (Vertex AI REST v1).
std::string FromBase64Url(std::string_view in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) break;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

class VertexDouble {
 public:
  explicit VertexDouble(int64_t expires_in = 3600)
      : key_(EVP_RSA_gen(2048), EVP_PKEY_free),
        expires_in_(expires_in),
        oauth_([this](const auto& req) { return Token(req); }),
        vertex_([this](const auto& req) { return Answer(req); }) {}
  int port() const { return vertex_.port(); }
  int tokens_issued() const { return issued_; }
  // The key file Google issues for a service account, its token_uri on loopback.
  std::string KeyJson() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return nlohmann::json{{"type", "service_account"},
                          {"project_id", "lab"},
                          {"private_key_id", "k1"},
                          {"private_key", std::string(data, static_cast<size_t>(n))},
                          {"client_email", "router@lab.iam.gserviceaccount.com"},
                          {"token_uri", fmt::format("http://127.0.0.1:{}/token", oauth_.port())}}
        .dump();
  }

 private:
  RecordingServer::Answer Token(const http::request<http::string_body>& req) {
    const std::string body = req.body();
    const std::string prefix =
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=";
    if (!body.starts_with(prefix)) return {400, R"({"error": "unsupported_grant_type"})", {}};
    const std::string jwt = body.substr(prefix.size());
    const size_t dot = jwt.rfind('.');
    const std::string signed_part = jwt.substr(0, dot),
                      signature = FromBase64Url(jwt.substr(dot + 1));
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    const bool valid =
        EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
        EVP_DigestVerify(
            ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
            reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
    const auto claims = nlohmann::json::parse(
        FromBase64Url(signed_part.substr(signed_part.find('.') + 1)), nullptr, false);
    if (!valid || claims.is_discarded() || claims["iss"] != "router@lab.iam.gserviceaccount.com" ||
        claims["scope"] != "https://www.googleapis.com/auth/cloud-platform" ||
        claims["aud"] != fmt::format("http://127.0.0.1:{}/token", oauth_.port())) {
      return {400, R"({"error": "invalid_grant"})", {}};
    }
    const int n = ++issued_;
    return {200,
            fmt::format(
                R"({{"access_token": "ya29.token-{}", "expires_in": {}, "token_type": "Bearer"}})",
                n, expires_in_),
            {}};
  }
  RecordingServer::Answer Answer(const http::request<http::string_body>& req) {
    if (req[http::field::authorization] != fmt::format("Bearer ya29.token-{}", issued_.load())) {
      return {
          401,
          R"({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}})",
          {}};
    }
    const std::string base =
        "/v1/projects/lab/locations/us-central1/publishers/google/models/gemini-2.0-flash";
    if (req.target() == base + ":generateContent") {
      return {
          200,
          R"({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello from Gemini"}]},
          "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3,
          "totalTokenCount": 8}})",
          {}};
    }
    if (req.target() == base + ":streamGenerateContent?alt=sse") {
      return {200,
              "data: {\"candidates\": [{\"content\": {\"role\": \"model\", \"parts\": [{\"text\": "
              "\"Hel\"}]}}]}\r\n\r\n"
              "data: {\"candidates\": [{\"content\": {\"role\": \"model\", \"parts\": [{\"text\": "
              "\"lo\"}]}}]}\r\n\r\n"
              "data: {\"candidates\": [{\"content\": {\"role\": \"model\", \"parts\": [{\"text\": "
              "\"!\"}]}, "
              "\"finishReason\": \"MAX_TOKENS\"}], \"usageMetadata\": {\"promptTokenCount\": 5, "
              "\"candidatesTokenCount\": 3, \"totalTokenCount\": 8}}\r\n\r\n",
              {{"Content-Type", "text/event-stream"}}};
    }
    return {404, R"({"error": {"code": 404, "message": "not found"}})", {}};
  }
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key_;
  int64_t expires_in_;
  std::atomic<int> issued_{0};
  RecordingServer oauth_, vertex_;
};

ManagedEndpoint Vertex(const VertexDouble& v) {
  ManagedEndpoint e;
  e.name = "vertex";
  e.kind = "vertex";
  e.base_url = "http://127.0.0.1:" + std::to_string(v.port());
  e.project = "lab";
  e.region = "us-central1";
  e.model = "gemini-2.0-flash";
  e.service_account_json = v.KeyJson();
  return e;
}

TEST_F(FallbackFixture, VertexGetsATokenFromTheServiceAccountKeyAndKeepsIt) {
  VertexDouble vertex;
  StartRoute({1}, {Vertex(vertex)});
  for (int i = 0; i < 2; ++i) {
    const Reply r = Post(port, "/v1/chat/completions", kChat);
    ASSERT_EQ(r.status, 200) << r.body;
    const auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["model"], "gemini-2.0-flash");
    EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello from Gemini");
    EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
    EXPECT_EQ(j["usage"]["total_tokens"], 8);
  }
  EXPECT_EQ(vertex.tokens_issued(), 1);  // an hour's token: kept
}

TEST_F(FallbackFixture, VertexTokensAreRefreshedBeforeTheyExpire) {
  VertexDouble vertex(/*expires_in=*/30);  // within the minute of margin: fetched again each time
  StartRoute({1}, {Vertex(vertex)});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Post(port, "/v1/chat/completions", kChat).status, 200);
  EXPECT_EQ(vertex.tokens_issued(), 3);
}

TEST_F(FallbackFixture, VertexStreamsBecomeOpenAiSse) {
  VertexDouble vertex;
  StartRoute({1}, {Vertex(vertex)});
  const Reply r = Post(port, "/v1/completions",
                       R"({"prompt": "Say hello", "stream": true,
                           "stream_options": {"include_usage": true}})");
  ASSERT_EQ(r.status, 200) << r.body;
  std::vector<std::string> data;
  size_t at = 0;
  while ((at = r.body.find("data: ", at)) != std::string::npos) {
    const size_t end = r.body.find("\n\n", at);
    data.push_back(r.body.substr(at + 6, end - at - 6));
    at = end;
  }
  ASSERT_EQ(data.size(), 6u) << r.body;  // "Hel", "lo", "!", finish, usage, [DONE]
  std::string text;
  for (int i = 0; i < 3; ++i) {
    const auto j = nlohmann::json::parse(data[static_cast<size_t>(i)]);
    EXPECT_EQ(j["object"], "text_completion");
    text += j["choices"][0]["text"].get<std::string>();
  }
  EXPECT_EQ(text, "Hello!");
  EXPECT_EQ(nlohmann::json::parse(data[3])["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(nlohmann::json::parse(data[4])["usage"]["completion_tokens"], 3);
  EXPECT_EQ(data[5], "[DONE]");
}

TEST(VertexTest, RequestsTranslateAndTheJwtIsWellFormed) {
  auto gemini = OpenAiToGemini(R"({"messages": [{"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
      {"role": "user", "content": "Bye"}], "max_tokens": 9, "stop": ["x"]})");
  ASSERT_TRUE(gemini.ok());
  EXPECT_EQ(nlohmann::json::parse(*gemini), nlohmann::json::parse(R"({
      "contents": [{"role": "user", "parts": [{"text": "Hi"}]},
                   {"role": "model", "parts": [{"text": "Hello"}]},
                   {"role": "user", "parts": [{"text": "Bye"}]}],
      "systemInstruction": {"parts": [{"text": "Be brief."}]},
      "generationConfig": {"maxOutputTokens": 9, "stopSequences": ["x"]}})"));
  VertexDouble v;
  auto sa = ParseServiceAccount(v.KeyJson());
  ASSERT_TRUE(sa.ok());
  auto jwt = JwtAssertion(*sa, 1700000000);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  const std::string header = FromBase64Url(jwt->substr(0, jwt->find('.')));
  EXPECT_EQ(nlohmann::json::parse(header),
            nlohmann::json::parse(R"({"alg": "RS256", "typ": "JWT", "kid": "k1"})"));
  const size_t second = jwt->find('.', jwt->find('.') + 1);
  const auto claims = nlohmann::json::parse(
      FromBase64Url(jwt->substr(jwt->find('.') + 1, second - jwt->find('.') - 1)));
  EXPECT_EQ(claims["iat"], 1700000000);
  EXPECT_EQ(claims["exp"], 1700003600);
  EXPECT_EQ(ParseServiceAccount("{}").status().message(),
            "the service-account key needs client_email and private_key (a key file from `gcloud "
            "iam service-accounts keys create`)");
  auto token = ParseTokenAnswer(R"({"access_token": "ya29.x", "expires_in": 3599})");
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->first, "ya29.x");
  EXPECT_EQ(token->second, 3599);
}

TEST(ManagedTest, UrlsRetryAfterAndSettings) {
  auto u = ParseUrl("https://api.openai.com/v1/");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "api.openai.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->path, "/v1");
  u = ParseUrl("http://[::1]:8080");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->path, "");
  EXPECT_EQ(ParseUrl("ftp://x").status().message(), "'ftp://x' is not an http:// or https:// URL");
  EXPECT_EQ(ParseUrl("http://x:99999").status().message(),
            "'http://x:99999': the port must be a number from 1 to 65535");

  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // 2015-10-21 07:28:00 UTC
  EXPECT_EQ(RetryAfterMs("7", now), 7000);
  EXPECT_EQ(RetryAfterMs(" 120 ", now), 120000);
  EXPECT_EQ(RetryAfterMs("Wed, 21 Oct 2015 07:28:30 GMT", now), 30000);
  EXPECT_EQ(RetryAfterMs("Wed, 21 Oct 2015 07:27:00 GMT", now), 0);  // past: now
  EXPECT_EQ(RetryAfterMs("999999999", now), 3600000);                // at most an hour
  EXPECT_EQ(RetryAfterMs("soon", now), std::nullopt);
  EXPECT_EQ(RetryAfterMs("", now), std::nullopt);

  ManagedEndpoint e;
  e.kind = "bedrockish";
  e.base_url = "http://x";
  EXPECT_THAT(std::string(CheckEndpoint(e).message()),
              HasSubstr("kind 'bedrockish' is not one of"));
  e.kind = "azure_openai";
  EXPECT_THAT(std::string(CheckEndpoint(e).message()),
              HasSubstr("needs deployment and api_version"));
  e.kind = "openai";
  EXPECT_TRUE(CheckEndpoint(e).ok());
}

}  // namespace
}  // namespace awan::gateway

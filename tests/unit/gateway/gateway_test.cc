// The gateway's relay on loopback, in front of test-double replicas (support/http_backend.h):
// readiness gating, a replica killed under load (retried elsewhere: no failed request), streams
// relayed as they are sent, a client that goes away cancelling its upstream request.
#include "awan/gateway/gateway.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "awan/common/secrets.h"
#include "awan/gateway/llm_request.h"
#include "support/http_backend.h"

namespace awan::gateway {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using awan::testing::HttpBackend;
using ::testing::HasSubstr;

// A keep-alive client of the gateway.
class Client {
 public:
  explicit Client(int port) : stream_(io_) {
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  }
  // The status and body, or status 0 when the connection failed.
  std::pair<int, std::string> Get(const std::string& target) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, "gateway");
    beast::error_code ec;
    http::write(stream_, req, ec);
    if (ec) return {0, ec.message()};
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res, ec);
    if (ec) return {0, ec.message()};
    return {res.result_int(), res.body()};
  }
  beast::tcp_stream& stream() { return stream_; }
  beast::flat_buffer& buffer() { return buffer_; }

 private:
  net::io_context io_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
};

ReplicaAddress Address(const HttpBackend& b) { return {b.name(), "127.0.0.1", b.port()}; }

struct GatewayFixture : ::testing::Test {
  void StartGateway(std::vector<ReplicaAddress> replicas, std::string policy = "round_robin") {
    GatewayOptions o;
    o.health_interval_ms = 100;
    o.health_timeout_ms = 500;
    RouteConfig route;
    route.name = "echo";
    route.policy = std::move(policy);
    route.readiness_path = "/health";
    route.replicas = std::move(replicas);
    gateway = std::make_unique<Gateway>(o);
    auto ports = gateway->Start({route});
    ASSERT_TRUE(ports.ok()) << ports.status();
    port = ports->at(0);
  }
  // Waits until the replica's readiness is `ready` (probes run every 100 ms).
  bool WaitReady(const std::string& id, bool ready) {
    for (int i = 0; i < 100; ++i) {
      for (const auto& s : gateway->Snapshot("echo")) {
        if (s.id == id && s.ready == ready) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::unique_ptr<Gateway> gateway;
  int port = 0;
};

TEST_F(GatewayFixture, OnlyReadyReplicasTakeTrafficAndNoneReadyIs503) {
  HttpBackend a("a"), b("b");
  a.SetHealthy(false);
  b.SetHealthy(false);
  StartGateway({Address(a), Address(b)});
  Client client(port);
  EXPECT_EQ(client.Get("/who").first, 503);  // nobody passed its readiness probe
  a.SetHealthy(true);
  ASSERT_TRUE(WaitReady("a", true));
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(client.Get("/who"), (std::pair<int, std::string>{200, "a"}));
  b.SetHealthy(true);
  ASSERT_TRUE(WaitReady("b", true));
  std::map<std::string, int> seen;
  for (int i = 0; i < 6; ++i) ++seen[client.Get("/who").second];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 3}, {"b", 3}}));
  EXPECT_EQ(client.Get("/fail").first, 500);  // a replica's answer is passed through
  // 14 answers: the 503, twelve 200s, the 500 (counted just after it was sent: wait for it).
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = gateway->MetricsText();
    if (metrics.find("_count{route=\"echo\"} 14") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_THAT(metrics, HasSubstr("awan_gateway_request_duration_seconds_count{route=\"echo\"} 14"));
  EXPECT_THAT(
      metrics,
      HasSubstr("awan_gateway_request_duration_seconds_bucket{route=\"echo\",le=\"+Inf\"} 14"));
  EXPECT_THAT(metrics, HasSubstr("awan_gateway_responses_total{route=\"echo\",code=\"2xx\"} 12"));
  EXPECT_THAT(metrics, HasSubstr("awan_gateway_responses_total{route=\"echo\",code=\"5xx\"} 2"));
  EXPECT_THAT(metrics, HasSubstr("awan_gateway_replica_ready{route=\"echo\",replica=\"b\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("# TYPE awan_gateway_request_duration_seconds histogram"));
}

TEST_F(GatewayFixture, AReplicaKilledUnderLoadFailsNoRequest) {
  HttpBackend a("a"), b("b"), c("c");
  StartGateway({Address(a), Address(b), Address(c)}, "least_load");
  for (const char* id : {"a", "b", "c"}) ASSERT_TRUE(WaitReady(id, true));
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      Client client(port);
      while (!stop) {
        const auto [status, body] = client.Get("/slow?ms=5");
        (status == 200 ? ok : failed)++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  b.Stop();  // killed with requests in flight
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 50);
  EXPECT_TRUE(WaitReady("b", false));  // the probe found it gone
  // A lease ends just after its answer reached the client: wait for the last ones.
  int64_t in_flight = -1;
  for (int i = 0; i < 100 && in_flight != 0; ++i) {
    in_flight = 0;
    for (const auto& s : gateway->Snapshot("echo")) in_flight += s.in_flight;
    if (in_flight != 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(in_flight, 0);
}

// A replica that closes kept-alive connections while they sit idle (its keep-alive timeout) is
// not failing: the request goes out again on a fresh connection to the same replica.
TEST_F(GatewayFixture, AnIdleConnectionTheReplicaClosedIsNotAFailure) {
  HttpBackend a("a");
  StartGateway({Address(a)});
  ASSERT_TRUE(WaitReady("a", true));
  Client client(port);
  for (int round = 0; round < 4; ++round) {
    EXPECT_EQ(client.Get("/who"), (std::pair<int, std::string>{200, "a"})) << round;
    a.CloseConnections();  // the gateway's pooled connection (and the probe's) are closed
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(gateway->Snapshot("echo")[0].failures, 0);
  EXPECT_EQ(gateway->Snapshot("echo")[0].ejections, 0);
}

TEST_F(GatewayFixture, StreamsAreRelayedAsSentAndADisconnectCancelsUpstream) {
  HttpBackend a("a");
  StartGateway({Address(a)});
  ASSERT_TRUE(WaitReady("a", true));
  {
    Client client(port);
    http::request<http::empty_body> req{http::verb::get, "/stream?n=5&ms=300", 11};
    http::write(client.stream(), req);
    http::response_parser<http::buffer_body> p;
    http::read_header(client.stream(), client.buffer(), p);
    EXPECT_EQ(p.get()[http::field::content_type], "text/event-stream");
    const auto started = std::chrono::steady_clock::now();
    std::string got;
    std::array<char, 256> buf;
    while (got.find("data: 0") == std::string::npos) {
      p.get().body().data = buf.data();
      p.get().body().size = buf.size();
      beast::error_code ec;
      http::read_some(client.stream(), client.buffer(), p, ec);
      ASSERT_TRUE(!ec || ec == http::error::need_buffer) << ec.message();
      got.append(buf.data(), buf.size() - p.get().body().size);
    }
    // The first event arrives on its own, long before the stream's end (5 × 300 ms).
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000));
    EXPECT_FALSE(p.is_done());
  }  // the client goes away mid-stream
  for (int i = 0; i < 100 && a.cancelled_streams() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(a.cancelled_streams(), 1);
  for (int i = 0; i < 100 && gateway->Snapshot("echo")[0].in_flight != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(gateway->Snapshot("echo")[0].in_flight, 0);
  // A whole stream, through a fresh client.
  Client whole(port);
  const auto [status, body] = whole.Get("/stream?n=3&ms=10");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
}

// Raw HTTP/1.x over one connection: what the gateway sends back for `request`.
std::string Exchange(tcp::socket& socket, const std::string& request, beast::flat_buffer& buffer,
                     http::response<http::string_body>& res, bool head = false) {
  net::write(socket, net::buffer(request));
  http::response_parser<http::string_body> parser;
  parser.skip(head);
  beast::error_code ec;
  http::read(socket, buffer, parser, ec);
  if (ec) return ec.message();
  res = parser.release();
  return "";
}

// What the replica gets: the client's fields, X-Forwarded-For with the client's address appended;
// Authorization passed on where the gateway does not check keys, left out where it does. Bodies
// (chunked ones too), HEAD and HTTP/1.0 pass through.
TEST_F(GatewayFixture, RequestsReachTheReplicaWithTheirFieldsAndBodies) {
  HttpBackend a("a");
  StartGateway({Address(a)});
  ASSERT_TRUE(WaitReady("a", true));
  net::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  ASSERT_EQ(Exchange(socket,
                     "GET /headers HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer own-check\r\n"
                     "X-Forwarded-For: 10.0.0.1\r\nX-Trace: 7\r\n\r\n",
                     buffer, res),
            "");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_THAT(res.body(), HasSubstr("X-Forwarded-For: 10.0.0.1, 127.0.0.1\n"));
  EXPECT_THAT(res.body(), HasSubstr("X-Trace: 7\n"));
  EXPECT_THAT(res.body(), HasSubstr("Authorization: Bearer own-check\n"));
  ASSERT_EQ(Exchange(socket,
                     "POST /echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                     buffer, res),
            "");
  EXPECT_EQ(res.body(), "hello world");
  ASSERT_EQ(Exchange(socket, "HEAD /who HTTP/1.1\r\nHost: gw\r\n\r\n", buffer, res, true), "");
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_EQ(res[http::field::content_length], "1");
  EXPECT_EQ(res.body(), "");
  ASSERT_EQ(Exchange(socket, "GET /who HTTP/1.1\r\nHost: gw\r\n\r\n", buffer, res), "");
  EXPECT_EQ(res.body(), "a");  // the connection is still in step after the HEAD
  ASSERT_EQ(Exchange(socket, "GET /who HTTP/1.0\r\n\r\n", buffer, res), "");
  EXPECT_EQ(res.version(), 10);
  EXPECT_EQ(res.body(), "a");
  beast::error_code ec;
  std::array<char, 16> rest;
  socket.read_some(net::buffer(rest), ec);  // HTTP/1.0 without keep-alive: closed after it
  EXPECT_EQ(ec, net::error::eof);

  // A route that checks keys keeps the key from the replica.
  Gateway keyed;
  RouteConfig route;
  route.name = "keyed";
  route.readiness_path = "/health";
  route.replicas = {Address(a)};
  route.require_key = true;
  route.key_hashes = {Sha256Hex("k-1")};
  auto ports = keyed.Start({route});
  ASSERT_TRUE(ports.ok()) << ports.status();
  tcp::socket second(io);
  second.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(ports->at(0))));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(
        Exchange(second, "GET /headers HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer k-1\r\n\r\n",
                 buffer, res),
        "");
    if (res.result_int() != 503) break;  // not yet probed ready
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(res.result_int(), 200);
  EXPECT_THAT(res.body(), HasSubstr("X-Forwarded-For: 127.0.0.1\n"));
  EXPECT_THAT(res.body(), ::testing::Not(HasSubstr("Authorization")));
}

TEST(LlmRequestTest, PromptsAndMessagesGiveTokensAndPrefixBlocks) {
  std::string words;
  for (int i = 0; i < 40; ++i) words += "w" + std::to_string(i) + " ";
  const LlmRequest completion =
      ReadLlmRequest(R"({"prompt": ")" + words + R"(", "max_tokens": 10})");
  EXPECT_EQ(completion.tokens, 40 + 10);
  EXPECT_EQ(completion.blocks.size(), 2u);  // 40 tokens: two full 16-token blocks
  const LlmRequest chat =
      ReadLlmRequest(R"({"messages": [{"role": "system", "content": ")" + words +
                     R"("}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}]})");
  EXPECT_EQ(chat.tokens, 1 + 40 + 1 + 1 + 256);  // "system:", the words, "user:", "hi"; 256 out
  const LlmRequest longer =
      ReadLlmRequest(R"({"messages": [{"role": "system", "content": ")" + words +
                     R"("}, {"role": "user", "content": "something else entirely"}]})");
  ASSERT_GE(chat.blocks.size(), 2u);
  EXPECT_EQ(chat.blocks[0], longer.blocks[0]);  // the shared system prompt: the same first block
  EXPECT_EQ(ReadLlmRequest("not json").tokens, 0);
  EXPECT_EQ(ReadLlmRequest(R"({"input": "an embeddings request"})").tokens, 0);
}

// A route with prefix_affinity reads each POSTed prompt: requests of one conversation go where it
// went before, new conversations spread.
TEST_F(GatewayFixture, PrefixAffinityRoutesAConversationToOneReplica) {
  HttpBackend a("a"), b("b");
  StartGateway({Address(a), Address(b)}, "prefix_affinity");
  ASSERT_TRUE(WaitReady("a", true));
  ASSERT_TRUE(WaitReady("b", true));
  Client client(port);
  const auto post = [&](const std::string& prompt) {
    http::request<http::string_body> req{http::verb::post, "/who", 11};
    req.set(http::field::host, "gateway");
    req.set(http::field::content_type, "application/json");
    req.body() = R"({"prompt": ")" + prompt + R"(", "max_tokens": 4})";
    req.prepare_payload();
    http::write(client.stream(), req);
    http::response<http::string_body> res;
    http::read(client.stream(), client.buffer(), res);
    return res.body();
  };
  std::map<std::string, std::set<std::string>> homes;  // conversation → replicas it went to
  for (int turn = 0; turn < 4; ++turn) {
    for (int conv = 0; conv < 6; ++conv) {
      std::string prompt;
      for (int t = 0; t <= turn; ++t) {
        for (int w = 0; w < 40; ++w) prompt += fmt::format("c{}t{}w{} ", conv, t, w);
      }
      homes[std::to_string(conv)].insert(post(prompt));
    }
  }
  std::map<std::string, int> per_replica;
  for (const auto& [conv, replicas] : homes) {
    EXPECT_EQ(replicas.size(), 1u) << "conversation " << conv << " went to several replicas";
    ++per_replica[*replicas.begin()];
  }
  EXPECT_EQ(per_replica.size(), 2u);  // the conversations spread over both
  // The last lease is released just after its answer was sent: wait for it.
  const auto busy = [&] {
    int64_t n = 0;
    for (const auto& st : gateway->Snapshot("echo")) n += st.in_flight;
    return n;
  };
  for (int i = 0; i < 100 && busy() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  for (const auto& st : gateway->Snapshot("echo")) EXPECT_EQ(st.in_flight, 0) << st.id;
}

TEST_F(GatewayFixture, UnknownPolicyOrAddressIsAClearError) {
  Gateway g;
  RouteConfig r;
  r.name = "x";
  r.policy = "fastest";
  EXPECT_THAT(g.Start({r}).status().message(), HasSubstr("unknown load-balancing policy"));
  Gateway h;
  r.policy = "round_robin";
  r.host = "not-an-ip";
  EXPECT_THAT(h.Start({r}).status().message(), HasSubstr("'not-an-ip' is not an IP address"));
}

}  // namespace
}  // namespace awan::gateway

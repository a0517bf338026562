#include "support/load.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>

namespace awan::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

LoadGenerator::LoadGenerator(int port, int clients, std::string target, int pause_ms)
    : port_(port), target_(std::move(target)), pause_ms_(pause_ms) {
  for (int i = 0; i < clients; ++i) threads_.emplace_back([this, i] { Run(i); });
}

LoadGenerator::~LoadGenerator() { Stop(); }

void LoadGenerator::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void LoadGenerator::Run(int) {
  net::io_context io;
  std::unique_ptr<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  while (!stop_) {
    beast::error_code ec;
    if (!stream) {
      stream = std::make_unique<beast::tcp_stream>(io);
      stream->expires_after(std::chrono::seconds(10));
      stream->socket().connect(
          tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port_)), ec);
      buffer.clear();
    }
    std::string failure;
    if (!ec) {
      http::request<http::empty_body> req{http::verb::get, target_, 11};
      req.set(http::field::host, "service");
      http::write(*stream, req, ec);
      http::response<http::string_body> res;
      if (!ec) http::read(*stream, buffer, res, ec);
      if (!ec && res.result_int() == 200) {
        ++ok_;
        std::string body = res.body();
        body = body.substr(0, body.find('\n'));
        std::lock_guard<std::mutex> lock(mu_);
        answers_.emplace_back(Clock::now(), std::move(body));
      } else if (!ec) {
        failure = std::to_string(res.result_int());
        if (!res.keep_alive()) stream.reset();
      }
    }
    if (ec) {
      failure = ec.message();
      stream.reset();
    }
    if (!failure.empty()) {
      ++failed_;
      std::lock_guard<std::mutex> lock(mu_);
      failures_.emplace_back(Clock::now(), failure);
    }
    if (pause_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms_));
  }
}

std::map<std::string, int64_t> LoadGenerator::bodies() const {
  return bodies_since(Clock::time_point::min());
}

std::map<std::string, int64_t> LoadGenerator::bodies_since(Clock::time_point t) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, int64_t> out;
  for (const auto& [when, body] : answers_) {
    if (when >= t) ++out[body];
  }
  return out;
}

std::vector<std::pair<LoadGenerator::Clock::time_point, std::string>> LoadGenerator::failures()
    const {
  std::lock_guard<std::mutex> lock(mu_);
  return failures_;
}

}  // namespace awan::testing

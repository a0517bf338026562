#include "support/http_backend.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <future>
#include <list>
#include <map>
#include <thread>

namespace awan::testing {
namespace {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

int QueryInt(std::string_view target, std::string_view key, int fallback) {
  const size_t at = target.find(std::string(key) + "=");
  if (at == std::string_view::npos) return fallback;
  return std::atoi(std::string(target.substr(at + key.size() + 1)).c_str());
}
}  // namespace

struct HttpBackend::Impl {
  net::io_context io{1};
  tcp::acceptor acceptor{io};
  std::list<beast::tcp_stream*> open;  // io thread only
  std::thread thread;
  HttpBackend* self = nullptr;

  net::awaitable<void> Session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    auto me = open.insert(open.end(), &stream);
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      beast::error_code ec;
      co_await http::async_read(stream, buffer, req, net::redirect_error(net::use_awaitable, ec));
      if (ec) break;
      ++self->requests_;
      const std::string target(req.target());
      const std::string path = target.substr(0, target.find('?'));
      if (path == "/drop") break;
      if (path == "/stream") {
        http::response<http::empty_body> head{http::status::ok, req.version()};
        head.set(http::field::content_type, "text/event-stream");
        head.chunked(true);
        http::response_serializer<http::empty_body> sr{head};
        co_await http::async_write_header(stream, sr, net::redirect_error(net::use_awaitable, ec));
        const int n = QueryInt(target, "n", 3), ms = QueryInt(target, "ms", 10);
        net::steady_timer timer(io);
        for (int i = 0; i < n && !ec; ++i) {
          timer.expires_after(std::chrono::milliseconds(ms));
          co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
          const std::string event = "data: " + std::to_string(i) + "\n\n";
          co_await net::async_write(stream, http::make_chunk(net::buffer(event)),
                                    net::redirect_error(net::use_awaitable, ec));
        }
        if (ec) {
          ++self->cancelled_;
          break;
        }
        co_await net::async_write(stream, http::make_chunk_last(),
                                  net::redirect_error(net::use_awaitable, ec));
        if (ec) break;
        continue;
      }
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.keep_alive(req.keep_alive());
      if (path == "/health") {
        res.result(self->healthy_ ? http::status::ok : http::status::service_unavailable);
      } else if (path == "/fail") {
        res.result(http::status::internal_server_error);
      } else if (path == "/headers") {  // the request's fields as "name: value" lines
        std::string text;
        for (const auto& f : req) {
          text += std::string(f.name_string()) + ": " + std::string(f.value()) + "\n";
        }
        res.body() = text;
      } else if (path == "/echo") {  // the request's body
        res.body() = req.body();
      } else if (path == "/slow") {
        net::steady_timer timer(io, std::chrono::milliseconds(QueryInt(target, "ms", 100)));
        co_await timer.async_wait(net::redirect_error(net::use_awaitable, ec));
      }
      if (path != "/headers" && path != "/echo") res.body() = self->name_;
      res.prepare_payload();
      co_await http::async_write(stream, res, net::redirect_error(net::use_awaitable, ec));
      if (ec || !req.keep_alive()) break;
    }
    open.erase(me);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  net::awaitable<void> Accept() {
    for (;;) {
      beast::error_code ec;
      tcp::socket s = co_await acceptor.async_accept(net::redirect_error(net::use_awaitable, ec));
      if (ec) co_return;
      net::co_spawn(io, Session(std::move(s)), net::detached);
    }
  }
};

HttpBackend::HttpBackend(std::string name) : name_(std::move(name)), impl_(new Impl) {
  impl_->self = this;
  tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  port_ = impl_->acceptor.local_endpoint().port();
  net::co_spawn(impl_->io, impl_->Accept(), net::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

HttpBackend::~HttpBackend() { Stop(); }

void HttpBackend::CloseConnections() {
  std::promise<void> done;
  net::post(impl_->io, [this, &done] {
    beast::error_code ec;
    for (beast::tcp_stream* s : impl_->open) s->socket().shutdown(tcp::socket::shutdown_both, ec);
    done.set_value();
  });
  done.get_future().wait();
}

void HttpBackend::Stop() {
  if (!impl_->thread.joinable()) return;
  net::post(impl_->io, [this] {
    beast::error_code ec;
    impl_->acceptor.close(ec);
    for (beast::tcp_stream* s : impl_->open) s->socket().close(ec);
  });
  // Let the closes happen, then stop the loop.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  impl_->io.stop();
  impl_->thread.join();
}

}  // namespace awan::testing

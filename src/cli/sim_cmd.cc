// `awan sim outage|restore|preempt|books`: the emulated clouds' controls, through the server.
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "awan/client/client.h"
#include "awan/common/json_dump.h"
#include "awan/common/text.h"
#include "awan/server/api.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {
namespace {

using J = nlohmann::ordered_json;

constexpr double kMaxOutageSeconds = 365.0 * 86400;

// "30s", "10m", "2h", "1d", or plain seconds; more than zero, at most a year.
std::optional<double> Seconds(const std::string& text) {
  auto v = ParseDuration(text);
  if (!v || *v <= 0 || *v > kMaxOutageSeconds) return std::nullopt;
  return v;
}

int Post(const std::string& target, const J& body,
         const std::function<void(const server::SimAnswer&)>& done) {
  auto c = client::ConnectOrStart(client::AwanHome());
  if (!c.ok()) {
    std::cerr << "awan: " << c.status().message() << "\n";
    return kExitFailed;
  }
  auto r = c->Call("POST", target, DumpJson(body));
  if (!r.ok()) {
    std::cerr << "awan: " << r.status().message() << "\n";
    return kExitFailed;
  }
  if (r->status != 202) {
    std::cerr << "awan: "
              << server::DecodeErrorMessage(r->body).value_or(fmt::format("HTTP {}", r->status))
              << "\n";
    return r->status == 400 ? kExitBadInput : kExitFailed;
  }
  auto answer = server::DecodeSimAnswer(r->body);
  if (!answer.ok()) {
    std::cerr << "awan: " << answer.status().message() << "\n";
    return kExitFailed;
  }
  done(*answer);
  return kExitOk;
}

std::pair<std::string, std::string> Split(const std::string& where) {
  const size_t slash = where.find('/');
  if (slash == std::string::npos) return {where, ""};
  return {where.substr(0, slash), where.substr(slash + 1)};
}

}  // namespace

int RunSimOutage(const std::string& where, const std::string& duration) {
  const auto [provider, region] = Split(where);
  J body{{"provider", provider}, {"region", region}};
  if (!duration.empty()) {
    auto s = Seconds(duration);
    if (!s) {
      std::cerr << fmt::format(
          "awan: --for '{}' is not a duration of more than 0 s and at most 365d; write e.g. 30s, "
          "10m, 2h\n",
          duration);
      return kExitBadInput;
    }
    body["for_seconds"] = *s;
  }
  return Post("/v1/sim/outage", body, [&](const server::SimAnswer&) {
    std::cout << fmt::format("{}{} is down{} (emulated outage); `awan sim restore {}` ends it.\n",
                             provider, region.empty() ? "" : "/" + region,
                             duration.empty() ? "" : " for " + duration, where);
  });
}

int RunSimRestore(const std::string& where) {
  const auto [provider, region] = Split(where);
  return Post("/v1/sim/restore", J{{"provider", provider}, {"region", region}},
              [&](const server::SimAnswer&) {
                std::cout << fmt::format("{}{} is up again.\n", provider,
                                         region.empty() ? "" : "/" + region);
              });
}

int RunSimPreempt(const std::string& given, int64_t job) {
  if (given.empty() == (job <= 0)) {
    std::cerr << "awan: name the node to preempt (a host, as `awan status JOB` shows) or give "
                 "--job JOB, not both\n";
    return kExitBadInput;
  }
  std::string node = given;
  if (job > 0) {
    auto c = client::ConnectOrStart(client::AwanHome());
    if (!c.ok()) {
      std::cerr << "awan: " << c.status().message() << "\n";
      return kExitFailed;
    }
    auto r = c->Call("GET", fmt::format("/v1/jobs/{}", job));
    if (!r.ok() || r->status != 200) {
      std::cerr << fmt::format("awan: no job {}\n", job);
      return kExitFailed;
    }
    const J j = J::parse(r->body, nullptr, false);
    if (!j.is_object() || !j.contains("nodes") || j["nodes"].empty() ||
        j.value("state", "") != "RUNNING") {
      std::cerr << fmt::format("awan: job {} has no running node to preempt (it is {})\n", job,
                               j.is_object() ? j.value("state", "?") : "?");
      return kExitFailed;
    }
    node = j["nodes"][0].value("host", "");
  }
  return Post("/v1/sim/preempt", J{{"node", node}}, [&](const server::SimAnswer& r) {
    std::cout << fmt::format(
        "{} preempted {}; its job is queued again and failover places it anew.\n", r.provider,
        node);
  });
}

int RunSimBooks(const std::string& provider, bool json) {
  auto c = client::ConnectOrStart(client::AwanHome());
  if (!c.ok()) {
    std::cerr << "awan: " << c.status().message() << "\n";
    return kExitFailed;
  }
  auto r =
      c->Call("GET", provider.empty() ? "/v1/sim/books" : "/v1/sim/books?provider=" + provider);
  if (!r.ok() || r->status != 200) {
    std::cerr << "awan: cannot read the books\n";
    return kExitFailed;
  }
  auto books = server::DecodeSimBooks(r->body);
  if (!books.ok()) {
    std::cerr << "awan: " << books.status().message() << "\n";
    return kExitFailed;
  }
  if (json) {
    std::cout << DumpJson(J::parse(server::SimBooksJson(*books)), 2) << "\n";
    return kExitOk;
  }
  Table t;
  t.Column("PROVIDER");
  t.Column("REGION");
  t.Column("ZONE");
  t.Column("INSTANCE_TYPE");
  t.Column("USED", Table::Align::kRight);
  t.Column("CAPACITY", Table::Align::kRight);
  int64_t used = 0;
  for (const server::SimBookRow& b : *books) {
    used += b.used;
    if (b.used == 0 && books->size() > 40) continue;  // long books: show what is held
    t.Row({b.provider, b.region, b.zone.empty() ? "-" : b.zone, b.instance_type,
           std::to_string(b.used), std::to_string(b.capacity)});
  }
  if (t.rows() > 0) std::cout << t.Render();
  std::cout << fmt::format(
      "{} emulated node(s) held{}.\n", used,
      books->size() > 40 ? " (rows with nothing held are left out; --json lists all)" : "");
  return kExitOk;
}

}  // namespace awan::cli

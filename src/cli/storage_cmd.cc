// `awan storage ls|delete`: the buckets of the server's stores (docs/storage.md).
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "awan/client/client.h"
#include "awan/common/json_dump.h"
#include "awan/server/api.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {
namespace {

using J = nlohmann::ordered_json;

std::string Bytes(int64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace

int RunStorageLs(bool json) {
  auto c = client::ConnectOrStart(client::AwanHome());
  if (!c.ok()) {
    std::cerr << "awan: " << c.status().message() << "\n";
    return kExitFailed;
  }
  auto r = c->Call("GET", "/v1/storage");
  if (!r.ok() || r->status != 200) {
    std::cerr << "awan: cannot list the buckets"
              << (r.ok() ? ": " + server::DecodeErrorMessage(r->body).value_or("") : "") << "\n";
    return kExitFailed;
  }
  const J body = J::parse(r->body, nullptr, false);
  if (json) {
    std::cout << DumpJson(body, 2) << "\n";
    return kExitOk;
  }
  if (!body.is_object() || body["buckets"].empty()) {
    std::cout << "No buckets yet. A task makes one with file_mounts: {/ckpt: {name: my-ckpt}} "
                 "(docs/storage.md).\n";
    return kExitOk;
  }
  Table t;
  t.Column("STORE");
  t.Column("NAME");
  t.Column("OBJECTS", Table::Align::kRight);
  t.Column("SIZE", Table::Align::kRight);
  t.Column("LOCATION");
  for (const J& b : body["buckets"]) {
    t.Row({b.value("store", ""), b.value("name", ""), std::to_string(b.value("objects", 0)),
           Bytes(b.value("bytes", int64_t{0})), b.value("location", "")});
  }
  std::cout << t.Render();
  return kExitOk;
}

int RunStorageDelete(const std::string& name, const std::string& store) {
  auto c = client::ConnectOrStart(client::AwanHome());
  if (!c.ok()) {
    std::cerr << "awan: " << c.status().message() << "\n";
    return kExitFailed;
  }
  auto r = c->Call("DELETE", fmt::format("/v1/storage/{}/{}", store, name));
  if (!r.ok()) {
    std::cerr << "awan: " << r.status().message() << "\n";
    return kExitFailed;
  }
  if (r->status != 200) {
    std::cerr << "awan: "
              << server::DecodeErrorMessage(r->body).value_or(fmt::format("HTTP {}", r->status))
              << "\n";
    return r->status == 400 ? kExitBadInput : kExitFailed;
  }
  std::cout << fmt::format("Bucket {} deleted from the {} store.\n", name, store);
  return kExitOk;
}

}  // namespace awan::cli

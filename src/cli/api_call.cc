#include "api_call.h"

#include <fmt/format.h>

#include <iostream>

#include "awan/server/api.h"
#include "commands.h"

namespace awan::cli {

absl::StatusOr<client::ApiClient> Client() {
  auto c = client::ConnectOrStart(client::AwanHome());
  if (!c.ok()) std::cerr << "awan: " << c.status().message() << "\n";
  return c;
}

std::string ErrorMessage(const client::HttpResponse& r) {
  return server::DecodeErrorMessage(r.body).value_or(fmt::format("HTTP {}: {}", r.status, r.body));
}

int Fail(const client::HttpResponse& r) {
  std::cerr << "awan: " << ErrorMessage(r) << "\n";
  return r.status == 400 || r.status == 413 ? kExitBadInput : kExitFailed;
}

}  // namespace awan::cli

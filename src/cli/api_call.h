// What the commands that talk to the server share: the client (starting a server when none runs)
// and how an error answer is told to the user. Internal to the CLI.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "awan/client/client.h"

namespace awan::cli {

// A client for AWAN_HOME's server, started if needed; prints why on stderr when there is none.
absl::StatusOr<client::ApiClient> Client();
// The server's error message from a JSON error body, or the raw body.
std::string ErrorMessage(const client::HttpResponse& r);
// Prints the error; the exit code for it: 2 for bad input (400, 413), 1 otherwise.
int Fail(const client::HttpResponse& r);

}  // namespace awan::cli

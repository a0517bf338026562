// Secrets: random keys and their SHA-256, for services' API keys (only the hash is stored and sent
// to gateways; the key is shown once). OpenSSL's EVP digest and RAND_bytes.
#pragma once

#include <string>
#include <string_view>

namespace awan {

// "awan-sk-" and 64 hex digits of 32 random bytes; "" if the system has no randomness to give.
std::string NewApiKey();
// Lower-case hex SHA-256 of `text`.
std::string Sha256Hex(std::string_view text);

}  // namespace awan

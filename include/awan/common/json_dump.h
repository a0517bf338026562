// Serialising nlohmann JSON without throwing: bytes that are not UTF-8 (a file name, a log line)
// become U+FFFD instead of a type_error that would abort the CLI or turn an answer into a 500.
// Header-only and template, so it includes no JSON header itself.
#pragma once

#include <string>

namespace awan {

template <typename Json>
std::string DumpJson(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

}  // namespace awan

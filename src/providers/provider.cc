#include "awan/providers/provider.h"

#include <fmt/format.h>

#include <array>

namespace awan::providers {
namespace {

constexpr std::array<std::string_view, 6> kNames = {
    "capacity_unavailable", "quota_exceeded", "auth_failed",
    "invalid_request",      "transient",      "provider_down"};

}  // namespace

std::string_view ErrorKindName(ErrorKind kind) { return kNames[static_cast<size_t>(kind)]; }

std::optional<ErrorKind> ParseErrorKind(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<ErrorKind>(i);
  }
  return std::nullopt;
}

std::string_view NodeEventName(NodeEvent::Kind kind) {
  switch (kind) {
    case NodeEvent::Kind::kPreempted:
      return "preempted";
    case NodeEvent::Kind::kLost:
      return "lost";
    case NodeEvent::Kind::kOutage:
      return "outage";
    case NodeEvent::Kind::kEvicted:
      return "evicted";
  }
  return "lost";
}

std::optional<std::string> Provider::WhyNotImage(const std::string& image_id) const {
  return fmt::format("{}: runs no {} yet", name(),
                     image_id.rfind("docker:", 0) == 0 ? "container images (image_id: docker:…)"
                                                       : "custom images (image_id)");
}

}  // namespace awan::providers

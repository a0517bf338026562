// RETURN_IF_ERROR / ASSIGN_OR_RETURN for absl::Status and absl::StatusOr, as abseil's own
// (internal) macros read: an error returns from the calling function at once, with the status
// unchanged.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define AWAN_STATUS_CONCAT_INNER(a, b) a##b
#define AWAN_STATUS_CONCAT(a, b) AWAN_STATUS_CONCAT_INNER(a, b)

// RETURN_IF_ERROR(expr): `expr` is an absl::Status (or a StatusOr, whose status is taken).
#define RETURN_IF_ERROR(expr)                                                     \
  do {                                                                            \
    if (auto awan_status_ = ::awan::internal::ToStatus(expr); !awan_status_.ok()) \
      return awan_status_;                                                        \
  } while (false)

// ASSIGN_OR_RETURN(lhs, expr): `expr` is an absl::StatusOr<T>; on success its value is moved into
// `lhs` (a declaration such as `auto x` or an existing variable).
#define ASSIGN_OR_RETURN(lhs, expr) \
  AWAN_ASSIGN_OR_RETURN_IMPL(AWAN_STATUS_CONCAT(awan_statusor_, __LINE__), lhs, expr)
#define AWAN_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(*tmp)

namespace awan::internal {
inline absl::Status ToStatus(absl::Status s) { return s; }
template <typename T>
absl::Status ToStatus(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace awan::internal

// The little a SQL database must do for SqlStore: run one statement with positional parameters
// ($1, $2, ... in order of appearance) and return rows of nullable text. Two implementations:
// SQLite (sqlite_backend.cc) and PostgreSQL through libpqxx (postgres_backend.cc). Not thread-safe;
// SqlStore serialises calls. Internal to the store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"

namespace awan::store {

using SqlValue = std::variant<std::nullptr_t, int64_t, std::string>;
using SqlRow = std::vector<std::optional<std::string>>;

enum class Dialect { kSqlite, kPostgres };

class SqlBackend {
 public:
  virtual ~SqlBackend() = default;
  virtual Dialect dialect() const = 0;
  virtual std::string Describe() const = 0;
  // Runs one statement; rows for a query, empty otherwise.
  virtual absl::StatusOr<std::vector<SqlRow>> Exec(const std::string& sql,
                                                   const std::vector<SqlValue>& params = {}) = 0;
  // Runs several statements without parameters (migrations).
  virtual absl::Status ExecScript(const std::string& sql) = 0;
  virtual absl::Status Begin() = 0;
  virtual absl::Status Commit() = 0;
  virtual void Rollback() = 0;
};

absl::StatusOr<std::unique_ptr<SqlBackend>> OpenSqlite(const std::string& path);
absl::StatusOr<std::unique_ptr<SqlBackend>> OpenPostgres(const std::string& url);

}  // namespace awan::store

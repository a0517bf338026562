// SQLite backend: WAL journal, a busy timeout for the rare second process (a CLI reading while the
// server writes), foreign keys on.
#include <fmt/format.h>
#include <sqlite3.h>

#include "sql_backend.h"

namespace awan::store {
namespace {

class SqliteBackend final : public SqlBackend {
 public:
  SqliteBackend(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteBackend() override { sqlite3_close_v2(db_); }

  Dialect dialect() const override { return Dialect::kSqlite; }
  std::string Describe() const override { return "sqlite:" + path_; }

  absl::StatusOr<std::vector<SqlRow>> Exec(const std::string& sql,
                                           const std::vector<SqlValue>& params) override {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) !=
        SQLITE_OK) {
      return Error("prepare");
    }
    for (size_t i = 0; i < params.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      int rc = SQLITE_OK;
      if (const auto* n = std::get_if<int64_t>(&params[i])) {
        rc = sqlite3_bind_int64(stmt, index, *n);
      } else if (const auto* s = std::get_if<std::string>(&params[i])) {
        rc = sqlite3_bind_text(stmt, index, s->data(), static_cast<int>(s->size()),
                               SQLITE_TRANSIENT);
      } else {
        rc = sqlite3_bind_null(stmt, index);
      }
      if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt);
        return Error("bind");
      }
    }
    std::vector<SqlRow> rows;
    while (true) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        sqlite3_finalize(stmt);
        return Error("step");
      }
      SqlRow row(static_cast<size_t>(sqlite3_column_count(stmt)));
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) continue;
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
        row[static_cast<size_t>(c)] =
            std::string(text, static_cast<size_t>(sqlite3_column_bytes(stmt, c)));
      }
      rows.push_back(std::move(row));
    }
    sqlite3_finalize(stmt);
    return rows;
  }

  absl::Status ExecScript(const std::string& sql) override {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message != nullptr ? message : "unknown error";
      sqlite3_free(message);
      return absl::InternalError(fmt::format("{}: {}", Describe(), text));
    }
    return absl::OkStatus();
  }

  absl::Status Begin() override { return ExecScript("BEGIN IMMEDIATE"); }
  absl::Status Commit() override { return ExecScript("COMMIT"); }
  void Rollback() override { (void)ExecScript("ROLLBACK"); }

 private:
  absl::Status Error(const char* what) const {
    return absl::InternalError(
        fmt::format("{}: sqlite {} failed: {}", Describe(), what, sqlite3_errmsg(db_)));
  }

  sqlite3* db_;
  std::string path_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqlBackend>> OpenSqlite(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return absl::UnavailableError(fmt::format("sqlite:{}: cannot open: {}", path, message));
  }
  auto backend = std::make_unique<SqliteBackend>(db, path);
  sqlite3_busy_timeout(db, 5000);
  const auto corrupt = [&](const std::string& detail) {
    return absl::DataLossError(fmt::format(
        "sqlite:{}: the store is corrupt ({}); awan will not run over it. Restore it from a "
        "backup, "
        "or move it aside (its jobs are then forgotten) and move $AWAN_HOME/jobs aside with it",
        path, detail));
  };
  if (absl::Status s = backend->ExecScript(
          "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
      !s.ok()) {
    const int code = sqlite3_errcode(db) & 0xff;
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return corrupt(sqlite3_errmsg(db));
    return s;
  }
  // A damaged file is said at once, not found later by the query that trips over it.
  sqlite3_stmt* check = nullptr;
  std::string verdict = "quick_check could not run";
  if (sqlite3_prepare_v2(db, "PRAGMA quick_check(5)", -1, &check, nullptr) == SQLITE_OK) {
    verdict.clear();
    while (sqlite3_step(check) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(check, 0));
      verdict += (verdict.empty() ? "" : "; ") + std::string(text != nullptr ? text : "");
    }
    if (verdict.empty()) verdict = sqlite3_errmsg(db);
  }
  sqlite3_finalize(check);
  if (verdict != "ok") return corrupt("quick_check: " + verdict);
  return backend;
}

}  // namespace awan::store

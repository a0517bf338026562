// PostgreSQL backend through libpqxx: one connection, parameters passed as text.
#include <fmt/format.h>

#include <pqxx/pqxx>

#include "sql_backend.h"

namespace awan::store {
namespace {

// The URL without its password, for messages.
std::string Redact(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos) return url;
  const size_t colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + url.substr(at);
}

class PostgresBackend final : public SqlBackend {
 public:
  PostgresBackend(std::unique_ptr<pqxx::connection> conn, std::string url)
      : conn_(std::move(conn)), url_(Redact(url)) {}

  Dialect dialect() const override { return Dialect::kPostgres; }
  std::string Describe() const override { return url_; }

  absl::StatusOr<std::vector<SqlRow>> Exec(const std::string& sql,
                                           const std::vector<SqlValue>& params) override {
    try {
      pqxx::result result;
      if (tx_) {
        result = Run(*tx_, sql, params);
      } else {
        pqxx::work work(*conn_);
        result = Run(work, sql, params);
        work.commit();
      }
      std::vector<SqlRow> rows;
      rows.reserve(result.size());
      for (const auto& r : result) {
        SqlRow row(static_cast<size_t>(r.size()));
        for (int c = 0; c < static_cast<int>(r.size()); ++c) {
          if (!r[c].is_null()) row[static_cast<size_t>(c)] = r[c].c_str();
        }
        rows.push_back(std::move(row));
      }
      return rows;
    } catch (const std::exception& e) {
      return absl::InternalError(fmt::format("{}: {}", url_, e.what()));
    }
  }

  absl::Status ExecScript(const std::string& sql) override {
    try {
      if (tx_) {
        tx_->exec(sql);
      } else {
        pqxx::work work(*conn_);
        work.exec(sql);
        work.commit();
      }
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return absl::InternalError(fmt::format("{}: {}", url_, e.what()));
    }
  }

  absl::Status Begin() override {
    try {
      tx_ = std::make_unique<pqxx::work>(*conn_);
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return absl::UnavailableError(fmt::format("{}: {}", url_, e.what()));
    }
  }
  absl::Status Commit() override {
    try {
      tx_->commit();
      tx_.reset();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      tx_.reset();
      return absl::InternalError(fmt::format("{}: {}", url_, e.what()));
    }
  }
  void Rollback() override {
    if (!tx_) return;
    try {
      tx_->abort();
    } catch (const std::exception&) {
    }
    tx_.reset();
  }

 private:
  static pqxx::result Run(pqxx::work& work, const std::string& sql,
                          const std::vector<SqlValue>& params) {
    // libpqxx 6 takes dynamic parameters as a container; a null const char* is SQL NULL.
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      if (const auto* n = std::get_if<int64_t>(&params[i])) {
        text[i] = std::to_string(*n);
        values[i] = text[i].c_str();
      } else if (const auto* s = std::get_if<std::string>(&params[i])) {
        values[i] = s->c_str();
      }
    }
    return work.exec_params(sql, pqxx::prepare::make_dynamic_params(values));
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pqxx::work> tx_;
  std::string url_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<SqlBackend>> OpenPostgres(const std::string& url) {
  try {
    auto conn = std::make_unique<pqxx::connection>(url);
    return std::unique_ptr<SqlBackend>(new PostgresBackend(std::move(conn), url));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        fmt::format("{}: cannot connect to PostgreSQL: {}", Redact(url), e.what()));
  }
}

}  // namespace awan::store

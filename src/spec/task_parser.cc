// Task YAML → Task. The walk collects every error (file:line:col: field: message) instead of
// stopping at the first, so `awan check` shows all problems of a file at once. yaml-cpp exceptions
// are caught here and never leave this file.
#include "awan/spec/task_parser.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "awan/common/json_dump.h"
#include "awan/common/text.h"
#include "fields.h"
#include "service_parser.h"

namespace awan::spec {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kTopLevelFields = {
    "name",  "workdir", "num_nodes",   "resources",  "envs",   "secrets",
    "setup", "run",     "file_mounts", "scheduling", "service"};
const std::vector<std::string> kSchedulingFields = {"team", "priority", "preemptible",
                                                    "estimated_duration"};
// SkyPilot fields that awan does not support yet: named as such rather than "unknown".
const std::set<std::string> kSkyPilotTopLevelOnly = {
    "config",      "volumes", "inputs", "outputs", "event_callback", "file_mounts_mapping",
    "experimental"};
const std::vector<std::string> kResourceFields = {
    "accelerators",  "any_of",          "ordered",
    "cpus",          "memory",          "infra",
    "cloud",         "region",          "zone",
    "instance_type", "use_spot",        "disk_size",
    "ports",         "max_hourly_cost", "accelerator_flops",
    "job_recovery",  "disk_tier",       "network_tier",
    "image_id"};
const std::set<std::string> kSkyPilotResourceOnly = {
    "labels", "autostop", "accelerator_args", "priority", "volumes", "_docker_login_config"};

// One accelerator choice: name and per-node count.
struct AcceleratorChoice {
  std::string name;
  int count = 0;
  int line = 0;
};

class Walker : public FieldReader {
 public:
  Walker(std::string_view source, std::string base_dir)
      : FieldReader(source), base_dir_(std::move(base_dir)) {}

  absl::StatusOr<Task> Walk(const YAML::Node& root) {
    Task task;
    task.source = std::string(source_);
    if (!root || root.IsNull()) {
      errors_.push_back(fmt::format(
          "{}: the task file is empty; a task needs at least `run:` (see examples/tasks/)",
          source_));
      return Fail();
    }
    if (!root.IsMap()) {
      Error(root, "(top level)",
            "a task must be a YAML mapping of fields such as name, resources, run");
      return Fail();
    }
    std::optional<YAML::Mark> service_at;  // a `service:` section read without errors
    YAML::Node file_mounts(YAML::NodeType::Undefined);
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string key = it->first.Scalar();
      const YAML::Node value = it->second;  // a copy: yaml-cpp iterators yield temporaries
      if (key == "name") {
        if (auto s = String(value, "name")) task.name = *s;
      } else if (key == "workdir") {
        if (value.IsMap()) {
          WalkGitWorkdir(value, task);
        } else if (auto s = String(value, "workdir")) {
          task.workdir = LocalPath(value, "workdir", *s, true);
        }
      } else if (key == "num_nodes") {
        if (auto n = PositiveInt(value, "num_nodes")) task.num_nodes = *n;
      } else if (key == "resources") {
        WalkResources(value, task);
      } else if (key == "envs") {
        WalkEnvs(value, "envs", task.envs);
      } else if (key == "secrets") {
        WalkEnvs(value, "secrets", task.secrets);
      } else if (key == "setup") {
        if (auto s = String(value, "setup")) task.setup = *s;
      } else if (key == "run") {
        if (auto s = String(value, "run")) task.run = *s;
      } else if (key == "file_mounts") {
        file_mounts = value;  // read after the loop: its paths may name the task's envs
      } else if (key == "scheduling") {
        WalkScheduling(value, task.scheduling);
      } else if (key == "service") {
        const size_t errors_before = errors_.size();
        task.service.emplace();
        WalkService(
            *this, it->first, value,
            [this](const YAML::Node& n, std::string_view field, const std::string& raw) {
              return LocalPath(n, field, raw, false);
            },
            *task.service);
        if (errors_.size() == errors_before) service_at = it->first.Mark();
      } else {
        UnknownField(it->first, "", key, kTopLevelFields, kSkyPilotTopLevelOnly);
      }
    }
    if (file_mounts.IsDefined()) WalkFileMounts(file_mounts, task);
    for (const auto& [name, value] : task.secrets) {
      if (std::any_of(task.envs.begin(), task.envs.end(),
                      [&](const auto& e) { return e.first == name; })) {
        errors_.push_back(fmt::format(
            "{}: secrets.{}: is in envs too; keep it in one of them (secrets are never shown)",
            source_, name));
      }
    }
    if (task.resources.empty()) task.resources.push_back(Resources{});
    for (const Resources& r : task.resources) {
      if (r.job_recovery != task.resources.front().job_recovery) {
        errors_.push_back(fmt::format(
            "{}:{}: resources.job_recovery: must be the same for every alternative (give it once, "
            "beside any_of/ordered)",
            source_, r.line));
        break;
      }
    }
    if (service_at) CheckService(*this, *service_at, task);
    if (!errors_.empty()) return Fail();
    return task;
  }

  // A local path of the file, resolved against its folder (an error recorded when missing).
  std::string ResolvePath(const YAML::Node& node, std::string_view field, const std::string& raw) {
    return LocalPath(node, field, raw, false);
  }

 private:
  // "8", 8 or "8+".
  std::optional<Quantity> QuantityField(const YAML::Node& node, std::string_view field,
                                        std::string_view unit_hint, double max) {
    if (!node.IsScalar()) {
      Error(node, field, fmt::format("must be a number or 'N+' (at least N), e.g. {}", unit_hint));
      return std::nullopt;
    }
    std::string text = node.Scalar();
    Quantity q;
    if (!text.empty() && text.back() == '+') {
      q.at_least = true;
      text.pop_back();
    }
    auto v = ParseNumber(text);
    if (!v || *v <= 0) {
      Error(node, field,
            fmt::format("'{}' is not a positive number or 'N+' (at least N); write e.g. {}",
                        node.Scalar(), unit_hint));
      return std::nullopt;
    }
    if (*v > max) {
      Error(node, field, fmt::format("{} is more than any machine has (at most {:g})", text, max));
      return std::nullopt;
    }
    q.value = *v;
    return q;
  }

  std::string LocalPath(const YAML::Node& node, std::string_view field, const std::string& raw,
                        bool must_be_dir) {
    static constexpr std::array<std::string_view, 7> kRemote = {
        "s3://", "gs://", "r2://", "cos://", "oci://", "https://", "http://"};
    for (std::string_view scheme : kRemote) {
      if (raw.rfind(scheme, 0) == 0) {
        Error(node, field,
              fmt::format("'{}' is a remote URL; only local paths are supported here (a git "
                          "repository is workdir: {{url, ref}}; a bucket is a file_mounts entry, "
                          "docs/storage.md)",
                          raw));
        return {};
      }
    }
    fs::path p = raw;
    if (!raw.empty() && raw[0] == '~') {
      const char* home = std::getenv("HOME");
      p = fs::path(home != nullptr ? home : "") / raw.substr(raw.size() > 1 ? 2 : 1);
    } else if (p.is_relative()) {
      p = fs::path(base_dir_) / p;
    }
    std::error_code ec;
    fs::path abs = fs::weakly_canonical(p, ec);
    if (ec) abs = p;
    if (!fs::exists(abs, ec)) {
      Error(node, field,
            fmt::format("local path '{}' does not exist (relative paths are read from the folder "
                        "the command runs in, as SkyPilot does: {})",
                        raw, base_dir_.empty() ? "." : base_dir_));
      return {};
    }
    if (must_be_dir && !fs::is_directory(abs, ec)) {
      Error(node, field, fmt::format("'{}' must be a folder", raw));
      return {};
    }
    return abs.string();
  }

  void WalkScheduling(const YAML::Node& node, Scheduling& out) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Error(node, "scheduling",
            "must be a mapping, e.g. {team: research, priority: 10, preemptible: true}");
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.Scalar();
      const YAML::Node value = it->second;
      const std::string field = "scheduling." + key;
      if (key == "team") {
        if (auto s = String(value, field)) out.team = *s;
      } else if (key == "priority") {
        auto v = Number(value, field, "10");
        if (v && (*v != std::floor(*v) || std::abs(*v) > 1e6)) {
          Error(value, field,
                fmt::format("must be a whole number between -1000000 and 1000000, not {}",
                            value.Scalar()));
        } else if (v) {
          out.priority = static_cast<int>(*v);
        }
      } else if (key == "preemptible") {
        if (auto b = Bool(value, field)) out.preemptible = *b;
      } else if (key == "estimated_duration") {
        auto d = value.IsScalar() ? ParseDuration(value.Scalar()) : std::nullopt;
        if (!d || *d <= 0 || *d > kMaxDurationS) {
          Error(value, field,
                "must be a positive duration of at most 3650d, such as 90m, 4h, 2d or seconds "
                "(3600)");
        } else {
          out.estimated_duration_s = static_cast<int64_t>(std::ceil(*d));
        }
      } else {
        UnknownField(it->first, "scheduling", key, kSchedulingFields, {});
      }
    }
  }

  // envs and secrets: NAME: value (null: given at launch).
  void WalkEnvs(const YAML::Node& node, const std::string& what,
                std::vector<std::pair<std::string, std::optional<std::string>>>& out) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Error(node, what, "must be a mapping of NAME: value");
      return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string name = it->first.Scalar();
      const std::string field = what + "." + name;
      bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name[0]));
      for (char c : name)
        valid = valid && (std::isalnum(static_cast<unsigned char>(c)) || c == '_');
      if (!valid) {
        Error(it->first, field,
              "is not a valid environment variable name (letters, digits and _, not starting "
              "with a digit)");
        continue;
      }
      if (it->second.IsNull()) {
        out.emplace_back(name, std::nullopt);
      } else if (it->second.IsScalar()) {
        out.emplace_back(name, it->second.Scalar());
      } else {
        Error(it->second, field, "must be a string or number, not a list or mapping");
      }
    }
  }

  // workdir: {url: https://github.com/org/repo.git, ref: v1.2}. A url that is not remote is a local
  // repository's path (relative paths as everywhere else).
  void WalkGitWorkdir(const YAML::Node& node, Task& task) {
    Task::GitWorkdir git;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.Scalar();
      const std::string f = "workdir." + key;
      if (key == "url") {
        if (auto s = String(it->second, f)) git.url = *s;
      } else if (key == "ref") {
        if (auto s = String(it->second, f)) git.ref = *s;
      } else {
        UnknownField(it->first, "workdir", key, {"url", "ref"}, {});
      }
    }
    if (git.url.empty()) {
      Error(node, "workdir.url",
            "is required: the git repository to clone, e.g. https://github.com/org/repo.git");
      return;
    }
    if (!git.ref.empty() &&
        (git.ref.front() == '-' || git.ref.find_first_of(" \t\n") != std::string::npos)) {
      Error(node["ref"], "workdir.ref",
            fmt::format("'{}' is not a branch, tag or commit", git.ref));
      return;
    }
    const bool remote = git.url.find("://") != std::string::npos || git.url.rfind("git@", 0) == 0;
    if (git.url.front() == '-') {
      Error(node["url"], "workdir.url", fmt::format("'{}' is not a repository URL", git.url));
      return;
    }
    if (!remote) {
      git.url = LocalPath(node["url"], "workdir.url", git.url, true);
      if (git.url.empty()) return;
    }
    task.workdir_git = git;
  }

  // `$VAR` and `${VAR}` in a file_mounts path or name, from the task's envs (as SkyPilot does).
  std::optional<std::string> Substitute(const YAML::Node& at, std::string_view field,
                                        const std::string& text, const Task& task) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
      if (text[i] != '$') {
        out += text[i++];
        continue;
      }
      const bool braced = i + 1 < text.size() && text[i + 1] == '{';
      size_t start = i + (braced ? 2 : 1), end = start;
      while (end < text.size() &&
             (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
        ++end;
      }
      if (end == start || (braced && (end >= text.size() || text[end] != '}'))) {
        Error(at, field,
              fmt::format("'{}': a '$' must start a variable such as $NAME or ${{NAME}}", text));
        return std::nullopt;
      }
      const std::string name = text.substr(start, end - start);
      const auto env = std::find_if(task.envs.begin(), task.envs.end(),
                                    [&](const auto& e) { return e.first == name; });
      if (env == task.envs.end() || !env->second) {
        Error(at, field,
              fmt::format("'{}' uses ${} but the task's envs give it no value; add it to envs",
                          text, name));
        return std::nullopt;
      }
      out += *env->second;
      i = end + (braced ? 1 : 0);
    }
    return out;
  }

  static bool IsRemoteUrl(const std::string& s) { return s.find("://") != std::string::npos; }

  // s3://bucket/sub → store s3, bucket, prefix sub. False (an error recorded) for other schemes.
  bool BucketUrl(const YAML::Node& at, std::string_view field, const std::string& url,
                 StorageMount& m) {
    static const std::vector<std::pair<std::string, std::string>> kSchemes = {
        {"s3://", "s3"}, {"gs://", "gcs"}, {"r2://", "r2"}, {"local://", "local"}};
    for (const auto& [scheme, store] : kSchemes) {
      if (url.rfind(scheme, 0) != 0) continue;
      std::string rest = url.substr(scheme.size());
      const size_t slash = rest.find('/');
      m.store = store;
      m.name = rest.substr(0, slash);
      m.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
      while (!m.prefix.empty() && m.prefix.back() == '/') m.prefix.pop_back();
      return BucketName(at, field, m.name);
    }
    Error(at, field,
          fmt::format("'{}': awan reaches buckets as s3://, gs://, r2:// or local:// URLs (or give "
                      "name and store); this scheme is not supported",
                      url));
    return false;
  }

  // S3's bucket naming rules (GCS's and R2's are alike): 3-63 of a-z 0-9 . -, alphanumeric ends.
  bool BucketName(const YAML::Node& at, std::string_view field, const std::string& name) {
    bool ok = name.size() >= 3 && name.size() <= 63;
    for (char c : name) {
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
    }
    ok = ok && std::isalnum(static_cast<unsigned char>(name.front())) &&
         std::isalnum(static_cast<unsigned char>(name.back()));
    if (!ok) {
      Error(at, field,
            fmt::format("'{}' is not a bucket name: 3-63 lower-case letters, digits, '-' and '.', "
                        "starting and ending with a letter or digit",
                        name));
    }
    return ok;
  }

  void WalkFileMounts(const YAML::Node& node, Task& task) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Error(
          node, "file_mounts",
          "must be a mapping of NODE_PATH: LOCAL_PATH, bucket URL or {name, source, store, mode}");
      return;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string field = "file_mounts." + it->first.Scalar();
      auto path = Substitute(it->first, field, it->first.Scalar(), task);
      if (!path) continue;
      if (path->empty()) {
        Error(it->first, field, "the path on the nodes is empty");
        continue;
      }
      if (!seen.insert(*path).second) {
        Error(it->first, field, "is given twice");
        continue;
      }
      const YAML::Node value = it->second;
      if (value.IsScalar()) {
        auto text = Substitute(value, field, value.Scalar(), task);
        if (!text) continue;
        if (IsRemoteUrl(*text)) {  // a bucket copied onto the nodes, as SkyPilot does
          StorageMount m;
          m.path = *path;
          m.mode = StorageMode::kCopy;
          m.line = value.Mark().line + 1;
          if (BucketUrl(value, field, *text, m)) task.storage_mounts.push_back(std::move(m));
          continue;
        }
        std::string local = LocalPath(value, field, *text, false);
        if (!local.empty()) task.file_mounts.emplace_back(*path, local);
        continue;
      }
      if (!value.IsMap()) {
        Error(value, field,
              "must be a local path, a bucket URL (s3://bucket/path) or a mapping {name, source, "
              "store, mode, persistent}");
        continue;
      }
      if (path->front() != '/' && path->rfind("~/", 0) != 0) {
        Error(it->first, field,
              "a bucket is attached at an absolute path (or ~/...), e.g. /checkpoints");
        continue;
      }
      StorageMount m;
      m.path = *path;
      m.line = value.Mark().line + 1;
      const size_t errors_before = errors_.size();
      std::string store_given;
      YAML::Node store_node;  // a copy: yaml-cpp iterators yield temporaries
      for (auto f = value.begin(); f != value.end(); ++f) {
        const std::string key = f->first.Scalar();
        const YAML::Node v = f->second;
        const std::string sub = field + "." + key;
        if (key == "name") {
          auto s = String(v, sub);
          if (!s) continue;
          auto name = Substitute(v, sub, *s, task);
          if (name && BucketName(v, sub, *name)) m.name = *name;
        } else if (key == "source") {
          auto s = String(v, sub);
          if (!s) continue;
          auto source = Substitute(v, sub, *s, task);
          if (!source || source->empty()) continue;
          if (IsRemoteUrl(*source)) {
            StorageMount from_url;
            if (!BucketUrl(v, sub, *source, from_url)) continue;
            if (!m.name.empty() && m.name != from_url.name) {
              Error(v, sub,
                    fmt::format("names bucket '{}' but name is '{}'; give one of them",
                                from_url.name, m.name));
              continue;
            }
            m.name = from_url.name;
            m.prefix = from_url.prefix;
            if (m.store.empty()) m.store = from_url.store;
            source_url_store_ = from_url.store;
          } else {
            m.source = LocalPath(v, sub, *source, true);
          }
        } else if (key == "store") {
          auto s = String(v, sub);
          if (!s) continue;
          const std::string store = ToLower(*s);
          static const std::set<std::string> kStores = {"s3", "gcs", "azure", "r2", "local"};
          if (kStores.count(store) == 0) {
            Error(v, sub,
                  fmt::format("'{}' is not a store awan reaches; use s3 (any S3-compatible "
                              "endpoint), gcs, azure, r2 or local",
                              *s));
            continue;
          }
          store_given = store;
          store_node = f->second;
        } else if (key == "mode") {
          auto s = String(v, sub);
          if (!s) continue;
          const std::string mode = ToUpper(*s);
          if (mode == "MOUNT") {
            m.mode = StorageMode::kMount;
          } else if (mode == "COPY") {
            m.mode = StorageMode::kCopy;
          } else if (mode == "MOUNT_CACHED") {
            m.mode = StorageMode::kMountCached;
          } else {
            Error(v, sub, fmt::format("'{}' is not a mode; use MOUNT, COPY or MOUNT_CACHED", *s));
          }
        } else if (key == "persistent") {
          if (auto b = Bool(v, sub)) m.persistent = *b;
        } else {
          UnknownField(f->first, field, key, {"name", "source", "store", "mode", "persistent"},
                       {"_bucket_sub_path", "_force_delete", "config"});
        }
      }
      if (errors_.size() != errors_before) continue;
      if (!store_given.empty()) {
        if (!source_url_store_.empty() && source_url_store_ != store_given) {
          Error(store_node, field + ".store",
                fmt::format("is {} but the source is a {} URL; give one of them", store_given,
                            source_url_store_));
          source_url_store_.clear();
          continue;
        }
        m.store = store_given;
      }
      source_url_store_.clear();
      if (m.name.empty()) {
        Error(value, field,
              "needs the bucket: give name (and source: a local folder to upload, if any), or "
              "source as a bucket URL such as s3://my-bucket");
        continue;
      }
      task.storage_mounts.push_back(std::move(m));
    }
  }

  // Parses "H100", "H100:8", "tpu-v6e-8".
  std::optional<AcceleratorChoice> AcceleratorString(const YAML::Node& node, std::string_view field,
                                                     const std::string& text) {
    AcceleratorChoice choice;
    choice.line = node.Mark().line + 1;
    size_t colon = text.rfind(':');
    std::string name = text.substr(0, colon);
    std::string count = colon == std::string::npos ? "1" : text.substr(colon + 1);
    while (!name.empty() && name.back() == ' ') name.pop_back();
    while (!count.empty() && count.front() == ' ') count.erase(0, 1);
    auto n = ParseNumber(count);
    if (name.empty() || !n) {
      Error(node, field,
            fmt::format("'{}' is not an accelerator; write NAME or NAME:COUNT, e.g. H100:8", text));
      return std::nullopt;
    }
    if (*n < 1 || *n != std::floor(*n) || *n > kMaxAcceleratorsPerNode) {
      Error(node, field,
            fmt::format(
                "count in '{}' must be a whole number of at least 1 and at most {} (fractional "
                "accelerators are not supported)",
                text, kMaxAcceleratorsPerNode));
      return std::nullopt;
    }
    // Names SkyPilot users write for what the catalog names otherwise.
    static const std::vector<std::pair<std::string_view, std::string_view>> kAliases = {
        {"A100-40GB", "A100"}, {"V100-16GB", "V100"}, {"H100-80GB", "H100"}};
    for (const auto& [alias, canonical] : kAliases) {
      if (EqualsIgnoreCase(name, alias)) name = std::string(canonical);
    }
    choice.name = name;
    choice.count = static_cast<int>(*n);
    return choice;
  }

  // accelerators: H100:8 | {H100: 8} | {A100: 8, H100: 8} (a set: any of them) | [A100:8, H100:8]
  std::vector<AcceleratorChoice> Accelerators(const YAML::Node& node, std::string_view field) {
    std::vector<AcceleratorChoice> out;
    if (node.IsNull()) return out;
    const size_t errors_before = errors_.size();
    if (node.IsScalar()) {
      if (auto c = AcceleratorString(node, field, node.Scalar())) out.push_back(*c);
    } else if (node.IsMap()) {
      for (auto it = node.begin(); it != node.end(); ++it) {
        std::string text = it->first.Scalar();
        if (!it->second.IsNull()) {
          if (!it->second.IsScalar()) {
            Error(it->second, field, "the count must be a number, e.g. {H100: 8}");
            continue;
          }
          text += ":" + it->second.Scalar();
        }
        if (auto c = AcceleratorString(it->first, field, text)) out.push_back(*c);
      }
    } else if (node.IsSequence()) {
      for (const YAML::Node& item : node) {
        if (!item.IsScalar()) {
          Error(item, field, "list items must be strings such as H100:8");
          continue;
        }
        if (auto c = AcceleratorString(item, field, item.Scalar())) out.push_back(*c);
      }
    }
    if (out.empty() && errors_.size() == errors_before) {
      Error(node, field, "is empty; write e.g. H100:8, or remove the field for a CPU-only task");
    }
    return out;
  }

  // Applies the fields of one resources mapping onto `r`. Returns the accelerator choices it names
  // (empty if it names none). `field` is the path for messages ("resources",
  // "resources.any_of[1]").
  std::vector<AcceleratorChoice> ApplyResourceFields(const YAML::Node& node,
                                                     const std::string& field, Resources& r,
                                                     bool allow_lists, YAML::Node* any_of,
                                                     YAML::Node* ordered,
                                                     bool* accelerators_ordered = nullptr) {
    std::vector<AcceleratorChoice> accelerators;
    bool has_infra = false, has_cloud = false, any_region = false;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.Scalar();
      const YAML::Node v = it->second;
      const std::string f = field + "." + key;
      if (key == "accelerators") {
        accelerators = Accelerators(v, f);
        if (accelerators_ordered != nullptr) *accelerators_ordered = v.IsSequence();
      } else if (key == "any_of" || key == "ordered") {
        if (!allow_lists) {
          Error(it->first, f, "cannot be nested inside any_of/ordered");
        } else if (key == "any_of") {
          *any_of = it->second;
        } else {
          *ordered = it->second;
        }
      } else if (key == "cpus") {
        if (v.IsNull()) continue;
        r.cpus = QuantityField(v, f, "8 or '8+'", spec::kMaxCpus);
      } else if (key == "memory") {
        if (v.IsNull()) continue;
        r.memory_gib = QuantityField(v, f, "64 or '64+' (GiB)", spec::kMaxMemoryGib);
      } else if (key == "infra") {
        has_infra = true;
        auto s = String(v, f);
        if (!s || s->empty()) continue;
        std::vector<std::string> parts;
        std::stringstream ss(*s);
        std::string part;
        while (std::getline(ss, part, '/')) parts.push_back(part);
        if (parts.empty() || parts.size() > 3 ||
            std::any_of(parts.begin(), parts.end(), [](auto& p) { return p.empty(); })) {
          Error(v, f, fmt::format("'{}' is not PROVIDER[/REGION[/ZONE]], e.g. aws/us-east-1", *s));
          continue;
        }
        // `*` anywhere is "any" (gcp/*/us-central1-a: that zone, whichever region holds it).
        r.provider = parts[0] == "*" ? "" : ToLower(parts[0]);
        if (parts.size() > 1) r.region = parts[1] == "*" ? "" : parts[1];
        if (parts.size() > 2) r.zone = parts[2] == "*" ? "" : parts[2];
        any_region = parts.size() > 1 && parts[1] == "*";
      } else if (key == "cloud") {
        has_cloud = true;
        if (auto s = String(v, f)) r.provider = ToLower(*s);
      } else if (key == "region") {
        if (auto s = String(v, f)) r.region = *s;
      } else if (key == "zone") {
        if (auto s = String(v, f)) r.zone = *s;
      } else if (key == "instance_type") {
        if (auto s = String(v, f)) r.instance_type = *s;
      } else if (key == "use_spot") {
        if (auto b = Bool(v, f)) r.use_spot = *b;
      } else if (key == "disk_size") {
        if (auto n = PositiveInt(v, f)) r.disk_size_gib = *n;
      } else if (key == "ports") {
        r.ports = Ports(v, f);
      } else if (key == "max_hourly_cost") {
        auto n = Number(v, f, "120.5 (USD per hour, all nodes)");
        if (n && (*n <= 0 || *n > 1e7)) {
          Error(v, f, "must be greater than 0 and at most 10000000 (USD per hour)");
        } else if (n) {
          r.max_hourly_cost = *n;
        }
      } else if (key == "image_id") {
        if (v.IsMap()) {
          Error(v, f, "per-region image ids are not supported; give one image, e.g. docker:IMAGE");
        } else if (auto t = String(v, f); t && !t->empty()) {
          if (t->rfind("docker:", 0) == 0 && t->size() == 7) {
            Error(v, f, "names no image; write docker:IMAGE[:TAG], e.g. docker:ubuntu:22.04");
          } else {
            r.image_id = *t;
          }
        }
      } else if (key == "disk_tier" || key == "network_tier") {
        auto t = String(v, f);
        if (!t || t->empty()) continue;
        const std::string tier = ToLower(*t);
        static const std::set<std::string> kDisk = {"low", "medium", "high", "ultra", "best"};
        static const std::set<std::string> kNetwork = {"standard", "best"};
        const bool disk = key == "disk_tier";
        if ((disk ? kDisk : kNetwork).count(tier) == 0) {
          Error(v, f,
                fmt::format("'{}' is not a {}; use {}", *t, key,
                            disk ? "low, medium, high, ultra or best" : "standard or best"));
        } else {
          (disk ? r.disk_tier : r.network_tier) = tier;
        }
      } else if (key == "job_recovery" || key == "spot_recovery") {
        r.job_recovery = JobRecoveryField(v, f);
      } else if (key == "accelerator_flops") {
        auto n = Number(v, f, "3.1e21 (total FLOPs of the job)");
        if (n && (*n <= 0 || *n > 1e30)) {
          Error(v, f, "must be greater than 0 and at most 1e30");
        } else if (n) {
          r.accelerator_flops = *n;
        }
      } else {
        UnknownField(it->first, field, key, kResourceFields, kSkyPilotResourceOnly);
      }
    }
    if (has_infra && has_cloud) {
      Error(node, field,
            "give either `infra` or `cloud`, not both (`infra: aws/us-east-1` is the newer form)");
    }
    if (!r.zone.empty() && r.region.empty() && !any_region) {
      Error(node, field + ".zone",
            "a zone needs its region too (e.g. infra: aws/us-east-1/us-east-1a)");
    }
    return accelerators;
  }

  // job_recovery: EAGER_NEXT_REGION | {strategy, max_restarts_on_errors, recover_on_exit_codes}.
  std::optional<JobRecovery> JobRecoveryField(const YAML::Node& node, const std::string& field) {
    if (node.IsNull()) return std::nullopt;
    JobRecovery out;
    const auto strategy = [&](const YAML::Node& n, const std::string& f) {
      if (n.IsNull()) return true;  // SkyPilot's default
      if (!n.IsScalar()) {
        Error(n, f, "must be FAILOVER or EAGER_NEXT_REGION");
        return false;
      }
      const std::string name = ToUpper(n.Scalar());
      if (name == "FAILOVER") {
        out.strategy = RecoveryStrategy::kFailover;
      } else if (name == "EAGER_NEXT_REGION") {
        out.strategy = RecoveryStrategy::kEagerNextRegion;
      } else {
        Error(n, f,
              fmt::format("'{}' is not a recovery strategy; write FAILOVER (the same region "
                          "first) or EAGER_NEXT_REGION (another region at once)",
                          n.Scalar()));
        return false;
      }
      return true;
    };
    if (node.IsScalar()) {
      if (ToUpper(node.Scalar()) == "NONE") return std::nullopt;
      if (!strategy(node, field)) return std::nullopt;
      return out;
    }
    if (!node.IsMap()) {
      Error(node, field,
            "must be a strategy name or a mapping, e.g. {strategy: FAILOVER, "
            "max_restarts_on_errors: 3, recover_on_exit_codes: [33]}");
      return std::nullopt;
    }
    const size_t errors_before = errors_.size();
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string key = it->first.Scalar();
      const YAML::Node v = it->second;
      const std::string f = field + "." + key;
      if (key == "strategy") {
        strategy(v, f);
      } else if (key == "max_restarts_on_errors") {
        if (auto n = WholeNumber(v, f, 0, 1000)) out.max_restarts_on_errors = static_cast<int>(*n);
      } else if (key == "recover_on_exit_codes") {
        const auto code = [&](const YAML::Node& c) {
          if (auto n = WholeNumber(c, f, 0, 255)) {
            out.recover_on_exit_codes.push_back(static_cast<int>(*n));
          }
        };
        if (v.IsSequence()) {
          for (const YAML::Node& c : v) code(c);
        } else if (!v.IsNull()) {
          code(v);
        }
      } else {
        UnknownField(it->first, field, key,
                     {"strategy", "max_restarts_on_errors", "recover_on_exit_codes"}, {});
      }
    }
    if (errors_.size() != errors_before) return std::nullopt;
    return out;
  }

  std::vector<PortRange> Ports(const YAML::Node& node, std::string_view field) {
    std::vector<PortRange> out;
    auto one = [&](const YAML::Node& item) {
      if (!item.IsScalar()) {
        Error(item, field, "each port must be a number or a range such as 8000-8010");
        return;
      }
      std::string text = item.Scalar();
      size_t dash = text.find('-');
      auto a = ParseNumber(text.substr(0, dash));
      auto b = dash == std::string::npos ? a : ParseNumber(text.substr(dash + 1));
      if (!a || !b || *a < 1 || *b > 65535 || *a > *b || *a != std::floor(*a) ||
          *b != std::floor(*b)) {
        Error(item, field,
              fmt::format("'{}' is not a port (1-65535) or a range such as 8000-8010", text));
        return;
      }
      out.push_back({static_cast<int>(*a), static_cast<int>(*b)});
    };
    if (node.IsSequence()) {
      for (const YAML::Node& item : node) one(item);
    } else if (!node.IsNull()) {
      one(node);
    }
    return out;
  }

  void Expand(const Resources& r, const std::vector<AcceleratorChoice>& accelerators,
              std::vector<Resources>& out) {
    if (accelerators.empty()) {
      out.push_back(r);
      return;
    }
    for (const AcceleratorChoice& a : accelerators) {
      Resources copy = r;
      copy.accelerator = a.name;
      copy.accelerator_count = a.count;
      copy.line = a.line;
      out.push_back(std::move(copy));
    }
  }

  void WalkResources(const YAML::Node& node, Task& task) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      Error(node, "resources", "must be a mapping, e.g. {accelerators: H100:8}");
      return;
    }
    Resources base;
    base.line = node.Mark().line + 1;
    // Invalid (undefined) nodes until the mapping names the field.
    YAML::Node any_of(YAML::NodeType::Undefined);
    YAML::Node ordered(YAML::NodeType::Undefined);
    bool accelerators_ordered = false;
    std::vector<AcceleratorChoice> base_accelerators = ApplyResourceFields(
        node, "resources", base, true, &any_of, &ordered, &accelerators_ordered);
    const bool has_any_of = any_of.IsDefined(), has_ordered = ordered.IsDefined();
    if (has_any_of && has_ordered) {
      Error(node, "resources", "give either `any_of` or `ordered`, not both");
      return;
    }
    if (!has_any_of && !has_ordered) {
      // As in SkyPilot: a list of accelerators is an order of preference, a set is any of them.
      if (accelerators_ordered && base_accelerators.size() > 1)
        task.order = ResourceOrder::kOrdered;
      Expand(base, base_accelerators, task.resources);
      return;
    }
    const YAML::Node list = has_any_of ? any_of : ordered;
    const std::string list_field = has_any_of ? "resources.any_of" : "resources.ordered";
    task.order = has_any_of ? ResourceOrder::kAnyOf : ResourceOrder::kOrdered;
    if (!list.IsSequence() || list.size() == 0) {
      Error(list, list_field,
            "must be a non-empty list of resource mappings, e.g. - accelerators: H100:8");
      return;
    }
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node item = list[i];
      const std::string f = fmt::format("{}[{}]", list_field, i);
      if (!item.IsMap()) {
        Error(item, f, "must be a mapping of resource fields, e.g. {accelerators: H100:8}");
        continue;
      }
      Resources r = base;  // fields outside the list are defaults for every alternative
      r.line = item.Mark().line + 1;
      std::vector<AcceleratorChoice> accelerators =
          ApplyResourceFields(item, f, r, false, nullptr, nullptr);
      if (accelerators.empty()) accelerators = base_accelerators;
      Expand(r, accelerators, task.resources);
    }
  }

  std::string base_dir_;
  std::string source_url_store_;  // the store of the URL a file_mounts source named
};

void AddResourcesJson(const Resources& r, nlohmann::ordered_json& j) {
  auto quantity = [](const Quantity& q) {
    return fmt::format("{}{}", q.value, q.at_least ? "+" : "");
  };
  if (!r.provider.empty()) j["provider"] = r.provider;
  if (!r.region.empty()) j["region"] = r.region;
  if (!r.zone.empty()) j["zone"] = r.zone;
  if (!r.instance_type.empty()) j["instance_type"] = r.instance_type;
  if (!r.accelerator.empty()) {
    j["accelerator"] = r.accelerator;
    j["accelerator_count"] = r.accelerator_count;
  }
  if (r.cpus) j["cpus"] = quantity(*r.cpus);
  if (r.memory_gib) j["memory"] = quantity(*r.memory_gib);
  j["use_spot"] = r.use_spot;
  if (r.disk_size_gib) j["disk_size"] = *r.disk_size_gib;
  if (!r.disk_tier.empty()) j["disk_tier"] = r.disk_tier;
  if (!r.image_id.empty()) j["image_id"] = r.image_id;
  if (!r.network_tier.empty()) j["network_tier"] = r.network_tier;
  if (!r.ports.empty()) {
    nlohmann::ordered_json ports = nlohmann::ordered_json::array();
    for (const PortRange& p : r.ports) {
      ports.push_back(p.first == p.last ? std::to_string(p.first)
                                        : fmt::format("{}-{}", p.first, p.last));
    }
    j["ports"] = ports;
  }
  if (r.max_hourly_cost) j["max_hourly_cost"] = *r.max_hourly_cost;
  if (r.accelerator_flops) j["accelerator_flops"] = *r.accelerator_flops;
  if (r.job_recovery) {
    nlohmann::ordered_json codes = nlohmann::ordered_json::array();
    for (int c : r.job_recovery->recover_on_exit_codes) codes.push_back(c);
    j["job_recovery"] = {{"strategy", RecoveryStrategyName(r.job_recovery->strategy)},
                         {"max_restarts_on_errors", r.job_recovery->max_restarts_on_errors},
                         {"recover_on_exit_codes", codes}};
  }
}

// The fields of one alternative in task-file syntax, so `awan check` output is itself a valid task.
void EmitResourcesYaml(const Resources& r, YAML::Emitter& out) {
  auto quantity = [](const Quantity& q) {
    return fmt::format("{}{}", q.value, q.at_least ? "+" : "");
  };
  if (!r.provider.empty() || !r.region.empty() || !r.zone.empty()) {
    std::string infra = r.provider.empty() ? "*" : r.provider;
    if (!r.region.empty() || !r.zone.empty()) infra += "/" + (r.region.empty() ? "*" : r.region);
    if (!r.zone.empty()) infra += "/" + r.zone;
    out << YAML::Key << "infra" << YAML::Value << infra;
  }
  if (!r.instance_type.empty())
    out << YAML::Key << "instance_type" << YAML::Value << r.instance_type;
  if (!r.accelerator.empty()) {
    out << YAML::Key << "accelerators" << YAML::Value
        << fmt::format("{}:{}", r.accelerator, r.accelerator_count);
  }
  if (r.cpus) out << YAML::Key << "cpus" << YAML::Value << quantity(*r.cpus);
  if (r.memory_gib) out << YAML::Key << "memory" << YAML::Value << quantity(*r.memory_gib);
  out << YAML::Key << "use_spot" << YAML::Value << r.use_spot;
  if (r.disk_size_gib) out << YAML::Key << "disk_size" << YAML::Value << *r.disk_size_gib;
  if (!r.disk_tier.empty()) out << YAML::Key << "disk_tier" << YAML::Value << r.disk_tier;
  if (!r.image_id.empty()) out << YAML::Key << "image_id" << YAML::Value << r.image_id;
  if (!r.network_tier.empty()) out << YAML::Key << "network_tier" << YAML::Value << r.network_tier;
  if (!r.ports.empty()) {
    out << YAML::Key << "ports" << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const PortRange& p : r.ports) {
      if (p.first == p.last) {
        out << p.first;
      } else {
        out << fmt::format("{}-{}", p.first, p.last);
      }
    }
    out << YAML::EndSeq;
  }
  if (r.max_hourly_cost) out << YAML::Key << "max_hourly_cost" << YAML::Value << *r.max_hourly_cost;
  if (r.accelerator_flops) {
    out << YAML::Key << "accelerator_flops" << YAML::Value
        << fmt::format("{:g}", *r.accelerator_flops);
  }
  if (r.job_recovery) {
    out << YAML::Key << "job_recovery" << YAML::Value << YAML::BeginMap;
    out << YAML::Key << "strategy" << YAML::Value
        << std::string(RecoveryStrategyName(r.job_recovery->strategy));
    out << YAML::Key << "max_restarts_on_errors" << YAML::Value
        << r.job_recovery->max_restarts_on_errors;
    if (!r.job_recovery->recover_on_exit_codes.empty()) {
      out << YAML::Key << "recover_on_exit_codes" << YAML::Value << YAML::Flow
          << r.job_recovery->recover_on_exit_codes;
    }
    out << YAML::EndMap;
  }
}

nlohmann::ordered_json TaskJson(const Task& task) {
  nlohmann::ordered_json j;
  j["name"] = task.name;
  j["source"] = task.source;
  if (!task.workdir.empty()) j["workdir"] = task.workdir;
  if (task.workdir_git) {
    j["workdir"] = {{"url", task.workdir_git->url}, {"ref", task.workdir_git->ref}};
  }
  j["num_nodes"] = task.num_nodes;
  j["resources_order"] = task.order == ResourceOrder::kOrdered ? "ordered" : "any_of";
  nlohmann::ordered_json alts = nlohmann::ordered_json::array();
  for (const Resources& r : task.resources) {
    nlohmann::ordered_json a = nlohmann::ordered_json::object();
    AddResourcesJson(r, a);
    alts.push_back(a);
  }
  j["resources"] = alts;
  nlohmann::ordered_json envs = nlohmann::ordered_json::object();
  for (const auto& [k, v] : task.envs) envs[k] = v ? nlohmann::ordered_json(*v) : nullptr;
  j["envs"] = envs;
  // Secrets by name only: their values are never shown.
  nlohmann::ordered_json secrets = nlohmann::ordered_json::array();
  for (const auto& [k, v] : task.secrets) secrets.push_back(k);
  j["secrets"] = secrets;
  nlohmann::ordered_json mounts = nlohmann::ordered_json::object();
  for (const auto& [remote, local] : task.file_mounts) mounts[remote] = local;
  for (const StorageMount& m : task.storage_mounts) {
    mounts[m.path] = {{"name", m.name},
                      {"store", m.store.empty() ? nlohmann::ordered_json(nullptr)
                                                : nlohmann::ordered_json(m.store)},
                      {"prefix", m.prefix},
                      {"source", m.source.empty() ? nlohmann::ordered_json(nullptr)
                                                  : nlohmann::ordered_json(m.source)},
                      {"mode", StorageModeName(m.mode)},
                      {"persistent", m.persistent}};
  }
  j["file_mounts"] = mounts;
  j["setup"] = task.setup;
  j["run"] = task.run;
  nlohmann::ordered_json scheduling;
  scheduling["team"] = task.scheduling.team;
  scheduling["priority"] = task.scheduling.priority;
  scheduling["preemptible"] = task.scheduling.preemptible;
  scheduling["estimated_duration_s"] =
      task.scheduling.estimated_duration_s
          ? nlohmann::ordered_json(*task.scheduling.estimated_duration_s)
          : nlohmann::ordered_json(nullptr);
  j["scheduling"] = scheduling;
  if (task.service) j["service"] = ServiceJson(*task.service);
  return j;
}

}  // namespace

absl::StatusOr<Task> ParseTask(std::string_view yaml, std::string_view source_name,
                               const std::string& base_dir) {
  if (std::string bad = Utf8Error(yaml, source_name); !bad.empty()) {
    return absl::InvalidArgumentError(bad);
  }
  Walker walker(source_name, base_dir);
  YAML::Node root;
  try {
    // Several documents are a SkyPilot pipeline: never read the first alone and drop the rest.
    const std::vector<YAML::Node> documents = YAML::LoadAll(std::string(yaml));
    size_t non_empty = 0;
    for (const YAML::Node& d : documents) non_empty += d && !d.IsNull() ? 1 : 0;
    if (non_empty > 1) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: has {} YAML documents: a SkyPilot pipeline (stages run in order), which awan does "
          "not run yet; launch each stage as its own task file (docs/task-spec.md)",
          source_name, documents.size()));
    }
    for (const YAML::Node& d : documents) {
      if (d && !d.IsNull()) root = d;
    }
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(fmt::format("{}:{}:{}: YAML syntax error: {}", source_name,
                                                  e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  try {
    return walker.Walk(root);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("{}:{}:{}: {}", source_name, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
}

absl::StatusOr<std::vector<FallbackSpec>> LoadFallbacksFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        fmt::format("{}: cannot read the fallbacks file (does it exist?)", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string yaml = buffer.str();
  if (std::string bad = Utf8Error(yaml, path); !bad.empty()) return absl::InvalidArgumentError(bad);
  std::error_code ec;
  Walker walker(path, fs::absolute(fs::path(path), ec).parent_path().string());
  std::vector<FallbackSpec> out;
  try {
    const YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap() || !root["fallbacks"]) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: expected `fallbacks:` with a list of managed endpoints (docs/llm.md)", path));
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (it->first.Scalar() != "fallbacks") {
        walker.UnknownField(it->first, "", it->first.Scalar(), {"fallbacks"}, {});
      }
    }
    WalkFallbacks(
        walker, root["fallbacks"], "fallbacks",
        [&walker](const YAML::Node& n, std::string_view field, const std::string& raw) {
          return walker.ResolvePath(n, field, raw);
        },
        out);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        fmt::format("{}:{}:{}: {}", path, e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!walker.errors().empty()) return walker.Fail();
  return out;
}

absl::StatusOr<Task> LoadTaskFile(const std::string& path, const std::string& base_dir) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(fmt::format("{}: cannot read the task file (does it exist?)", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::error_code ec;
  // As SkyPilot does: relative paths are read from where the command runs.
  const std::string dir = base_dir.empty() ? fs::current_path(ec).string() : base_dir;
  return ParseTask(buffer.str(), path, dir);
}

std::string_view StorageModeName(StorageMode m) {
  switch (m) {
    case StorageMode::kCopy:
      return "COPY";
    case StorageMode::kMountCached:
      return "MOUNT_CACHED";
    default:
      return "MOUNT";
  }
}

std::string_view RecoveryStrategyName(RecoveryStrategy s) {
  return s == RecoveryStrategy::kFailover ? "FAILOVER" : "EAGER_NEXT_REGION";
}

std::string AcceleratorLabel(const Resources& r) {
  if (r.accelerator.empty()) return "-";
  if (r.accelerator_count == 1 && r.accelerator.rfind("tpu-", 0) == 0) return r.accelerator;
  return fmt::format("{}:{}", r.accelerator, r.accelerator_count);
}

std::string TaskToJson(const Task& task) { return DumpJson(TaskJson(task), 2); }

std::string TaskToYaml(const Task& task) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "name" << YAML::Value << task.name;
  if (!task.workdir.empty()) out << YAML::Key << "workdir" << YAML::Value << task.workdir;
  if (task.workdir_git) {
    out << YAML::Key << "workdir" << YAML::Value << YAML::BeginMap << YAML::Key << "url"
        << YAML::Value << task.workdir_git->url;
    if (!task.workdir_git->ref.empty()) {
      out << YAML::Key << "ref" << YAML::Value << task.workdir_git->ref;
    }
    out << YAML::EndMap;
  }
  out << YAML::Key << "num_nodes" << YAML::Value << task.num_nodes;
  out << YAML::Key << "resources" << YAML::Value;
  const bool single = task.resources.size() == 1;
  if (!single) {
    out << YAML::BeginMap;
    out << YAML::Key << (task.order == ResourceOrder::kOrdered ? "ordered" : "any_of")
        << YAML::Value << YAML::BeginSeq;
  }
  for (const Resources& r : task.resources) {
    if (!single) out << YAML::Flow;
    out << YAML::BeginMap;
    EmitResourcesYaml(r, out);
    out << YAML::EndMap;
  }
  if (!single) out << YAML::EndSeq << YAML::EndMap;
  if (!task.envs.empty()) {
    out << YAML::Key << "envs" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : task.envs) {
      out << YAML::Key << k << YAML::Value;
      if (v) {
        out << *v;
      } else {
        out << YAML::Null;
      }
    }
    out << YAML::EndMap;
  }
  if (!task.secrets.empty()) {
    // Names only, each null ("given at launch"): the text stays a valid task without the values.
    out << YAML::Key << "secrets" << YAML::Value << YAML::BeginMap;
    for (const auto& [k, v] : task.secrets) out << YAML::Key << k << YAML::Value << YAML::Null;
    out << YAML::EndMap;
  }
  if (!task.file_mounts.empty() || !task.storage_mounts.empty()) {
    out << YAML::Key << "file_mounts" << YAML::Value << YAML::BeginMap;
    for (const auto& [remote, local] : task.file_mounts)
      out << YAML::Key << remote << YAML::Value << local;
    for (const StorageMount& m : task.storage_mounts) {
      out << YAML::Key << m.path << YAML::Value << YAML::BeginMap;
      out << YAML::Key << "name" << YAML::Value << m.name;
      if (!m.store.empty()) out << YAML::Key << "store" << YAML::Value << m.store;
      if (!m.source.empty()) {
        out << YAML::Key << "source" << YAML::Value << m.source;
      } else if (!m.prefix.empty()) {
        // The sub-path travels in a URL source (the store is then the URL's).
        out << YAML::Key << "source" << YAML::Value
            << fmt::format("{}://{}/{}", m.store == "gcs" ? "gs" : m.store, m.name, m.prefix);
      }
      out << YAML::Key << "mode" << YAML::Value << std::string(StorageModeName(m.mode));
      if (!m.persistent) out << YAML::Key << "persistent" << YAML::Value << false;
      out << YAML::EndMap;
    }
    out << YAML::EndMap;
  }
  const Scheduling& sched = task.scheduling;
  if (sched != Scheduling{}) {
    out << YAML::Key << "scheduling" << YAML::Value << YAML::BeginMap;
    if (!sched.team.empty()) out << YAML::Key << "team" << YAML::Value << sched.team;
    if (sched.priority != 0) out << YAML::Key << "priority" << YAML::Value << sched.priority;
    if (sched.preemptible) out << YAML::Key << "preemptible" << YAML::Value << true;
    if (sched.estimated_duration_s) {
      out << YAML::Key << "estimated_duration" << YAML::Value << *sched.estimated_duration_s;
    }
    out << YAML::EndMap;
  }
  // Scripts with several lines as literal blocks; one-liners stay plain so they read back
  // unchanged.
  auto script = [&](const char* key, const std::string& text) {
    if (text.empty()) return;
    out << YAML::Key << key << YAML::Value;
    if (text.find('\n') != std::string::npos) out << YAML::Literal;
    out << text;
  };
  if (task.service) {
    out << YAML::Key << "service" << YAML::Value;
    EmitServiceYaml(*task.service, out);
  }
  script("setup", task.setup);
  script("run", task.run);
  out << YAML::EndMap;
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') text += '\n';
  return text;
}

}  // namespace awan::spec

namespace awan::spec {

absl::StatusOr<std::string> WithSecrets(
    std::string_view task_yaml, const std::vector<std::pair<std::string, std::string>>& secrets) {
  if (secrets.empty()) return std::string(task_yaml);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(task_yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("the task: YAML syntax error: {}", e.msg));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError("the task is not a YAML mapping");
  YAML::Node section = root["secrets"];
  if (!section || section.IsNull()) section = YAML::Node(YAML::NodeType::Map);
  if (!section.IsMap()) return absl::InvalidArgumentError("secrets: must be a mapping");
  for (const auto& [name, value] : secrets) section[name] = value;
  root["secrets"] = section;
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<std::string> ReplicaTaskYaml(std::string_view service_yaml,
                                            std::string_view service_name, int port,
                                            bool on_demand) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(service_yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("service {}: {}", service_name, e.what()));
  }
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(fmt::format("service {}: not a mapping", service_name));
  }
  root.remove("service");
  if (on_demand && root["resources"] && root["resources"].IsMap()) {
    YAML::Node resources = root["resources"];
    if (resources["use_spot"]) resources["use_spot"] = false;
    for (const char* list : {"any_of", "ordered"}) {
      if (!resources[list] || !resources[list].IsSequence()) continue;
      for (YAML::Node alternative : resources[list]) {
        if (alternative.IsMap() && alternative["use_spot"]) alternative["use_spot"] = false;
      }
    }
  }
  YAML::Node envs = root["envs"];
  if (!envs || envs.IsNull()) envs = YAML::Node(YAML::NodeType::Map);
  envs["AWAN_REPLICA_PORT"] = std::to_string(port);
  envs["AWAN_SERVICE_NAME"] = std::string(service_name);
  root["envs"] = envs;
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

}  // namespace awan::spec

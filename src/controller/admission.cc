#include "admission.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "awan/common/status_macros.h"
#include "awan/optimizer/optimizer.h"
#include "awan/spec/task_parser.h"
#include "fleet_queue.h"

namespace awan::controller {

std::vector<std::string> ProvidersThatMayRun(const providers::Fleet& fleet, const spec::Task& task,
                                             std::vector<std::string>& why) {
  std::vector<std::string> may;
  const bool disk_tier = std::any_of(task.resources.begin(), task.resources.end(),
                                     [](const spec::Resources& r) { return !r.disk_tier.empty(); });
  std::string image;
  for (const spec::Resources& r : task.resources) {
    if (!r.image_id.empty()) image = r.image_id;
  }
  for (const auto& p : fleet.providers) {
    if (auto no_image = image.empty() ? std::nullopt : p->WhyNotImage(image)) {
      why.push_back(*no_image);
    } else if (disk_tier && !p->ChoosesDisks()) {
      why.push_back(
          fmt::format("{}: its nodes' disks are what they are; it cannot honour "
                      "disk_tier",
                      p->name()));
    } else if (!task.storage_mounts.empty() && !p->SharesServerFilesystem()) {
      why.push_back(
          fmt::format("{}: attaches no buckets yet (its nodes do not share the server's "
                      "filesystem; docs/storage.md)",
                      p->name()));
    } else if (auto never = p->WhyNever(task)) {
      why.push_back(*never);
    } else {
      may.push_back(p->name());
    }
  }
  if (why.empty()) may.clear();
  return may;
}

absl::StatusOr<std::shared_ptr<const spec::Task>> Admission::Admit(
    std::string_view yaml, std::string_view source, const std::string& base_dir) const {
  ASSIGN_OR_RETURN(spec::Task task, spec::ParseTask(yaml, source, base_dir));
  if (task.service) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: has a `service:` section, so it is a service, not a job; start it with `awan serve "
        "up {}` (POST /v1/services)",
        source, source));
  }
  for (const auto& [name, value] : task.secrets) {
    if (!value) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: secrets.{} has no value; give it at launch: `awan launch --secret {}` (from your "
          "environment) or --secret {}=VALUE",
          source, name, name, name));
    }
  }
  for (const auto& [name, value] : task.envs) {
    if (!value) {
      return absl::InvalidArgumentError(
          fmt::format("{}: envs.{} has no value; give it one in the task file", source, name));
    }
  }
  RETURN_IF_ERROR(CheckWhatIsCopied(task));
  for (const spec::StorageMount& m : task.storage_mounts) {
    if (absl::Status s = storage_.CanReach(m); !s.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("{}:{}: {}", source, m.line, std::string(s.message())));
    }
  }
  if (fleet_.scheduler && ForTheScheduler(task)) {
    RETURN_IF_ERROR(CheckSchedulable(task, *fleet_.scheduler));
  } else {
    RETURN_IF_ERROR(CheckSomeProviderCanRunIt(task));
  }
  return std::make_shared<const spec::Task>(std::move(task));
}

absl::Status Admission::CheckWhatIsCopied(const spec::Task& task) const {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path home = fs::weakly_canonical(home_, ec);
  // Whether `inner` is `outer` or inside it.
  const auto within = [](const fs::path& inner, const fs::path& outer) {
    auto [o, i] = std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end());
    return o == outer.end() || (o->empty() && std::next(o) == outer.end());
  };
  std::vector<std::pair<std::string, std::string>> copied;
  if (!task.workdir.empty()) copied.emplace_back("workdir", task.workdir);
  for (const auto& [dest, source] : task.file_mounts)
    copied.emplace_back("file_mounts." + dest, source);
  for (const spec::StorageMount& m : task.storage_mounts) {
    if (!m.source.empty()) copied.emplace_back("file_mounts." + m.path + ".source", m.source);
  }
  for (const auto& [field, source] : copied) {
    const fs::path path = fs::weakly_canonical(source, ec);
    if (!home_.empty() && within(home, path)) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: {}: {} holds awan's home {} (its store and every job's folder); copying it to the "
          "nodes would copy them into each job. Point it at your code's folder",
          task.source, field, path.string(), home.string()));
    }
    if (!home_.empty() && within(path, home / "jobs")) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: {}: {} is inside awan's job folders ({}); keep the files to copy elsewhere",
          task.source, field, path.string(), (home / "jobs").string()));
    }
    if (access(path.c_str(), R_OK) != 0) {
      return absl::InvalidArgumentError(fmt::format(
          "{}: {}: {} cannot be read by the server's user", task.source, field, path.string()));
    }
  }
  return absl::OkStatus();
}

// Some provider of the fleet must be able to run it, even if none has room right now.
absl::Status Admission::CheckSomeProviderCanRunIt(const spec::Task& task) const {
  // A provider that says it can never run the task (a gang bigger than this machine) is left out,
  // even where one node would match its offerings.
  std::vector<std::string> why;
  optimizer::OptimizeOptions o;
  o.top = 1;
  o.providers = ProvidersThatMayRun(fleet_, task, why);
  optimizer::OptimizeResult ranking;
  if (!o.providers.empty() || why.empty()) {
    ASSIGN_OR_RETURN(ranking, optimizer::Optimize(task, catalog_, o));
    if (!ranking.candidates.empty()) return absl::OkStatus();
  }
  if (fleet_.providers.size() == 1 && !why.empty()) return absl::InvalidArgumentError(why[0]);
  std::string reason = ranking.infeasible_reason;
  if (reason.empty() && !why.empty()) reason = why[0];
  std::string more;
  for (const std::string& w : why) {
    if (w != reason) more += (more.empty() ? " (" : "; ") + w;
  }
  if (!more.empty()) more += ")";
  return absl::InvalidArgumentError(
      fmt::format("no provider of the fleet can run this task: {}{}", reason, more));
}

}  // namespace awan::controller

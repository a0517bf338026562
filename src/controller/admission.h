// Admission: a task is parsed and checked once, when it is submitted, and kept parsed with its job;
// nothing downstream parses its YAML again. A task no provider of the fleet could ever run (or, for
// the fleet scheduler, that no pool can hold) is refused here with the reason — nothing is stored
// for it. Thread-safe (const; called from API threads).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "awan/catalog/catalog.h"
#include "awan/providers/fleet.h"
#include "awan/spec/task.h"
#include "awan/storage/storage.h"

namespace awan::controller {

// The providers of `fleet` that may run `task` (all of them: empty); the reasons of those that
// say they never can go to `why`.
std::vector<std::string> ProvidersThatMayRun(const providers::Fleet& fleet, const spec::Task& task,
                                             std::vector<std::string>& why);

class Admission {
 public:
  // `catalog` is what the fleet sells (Fleet::BuildCatalog); both must outlive this.
  // `home` is the server's own folder (its store and job folders): no task may copy it.
  // `storage` says which stores a task's buckets may be in.
  Admission(const providers::Fleet& fleet, const catalog::Catalog& catalog,
            const storage::Storage& storage, std::string home)
      : fleet_(fleet), catalog_(catalog), storage_(storage), home_(std::move(home)) {}

  // The parsed task, or InvalidArgument naming the file, line and field, or saying why no
  // provider (no pool) can ever run it.
  absl::StatusOr<std::shared_ptr<const spec::Task>> Admit(std::string_view yaml,
                                                          std::string_view source,
                                                          const std::string& base_dir) const;

 private:
  absl::Status CheckSomeProviderCanRunIt(const spec::Task& task) const;
  // The workdir and file mount sources are copied to the nodes: never the server's home or a
  // folder that holds it (that would copy every job folder into each job), nothing inside the job
  // folders, and only what can be read.
  absl::Status CheckWhatIsCopied(const spec::Task& task) const;

  const providers::Fleet& fleet_;
  const catalog::Catalog& catalog_;
  const storage::Storage& storage_;
  const std::string home_;
};

}  // namespace awan::controller

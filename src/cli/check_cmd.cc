// `awan check TASK.yaml`: validate and print the normalised task.
#include <fmt/format.h>

#include <iostream>

#include "awan/catalog/accelerators.h"
#include "awan/catalog/loader.h"
#include "awan/common/text.h"
#include "awan/spec/task_parser.h"
#include "commands.h"

namespace awan::cli {

int RunCheck(const CheckArgs& args) {
  auto task = spec::LoadTaskFile(args.task);
  if (!task.ok()) {
    std::cerr << task.status().message() << "\n";
    std::cerr << fmt::format("awan: {} is not a valid task (see docs/task-spec.md)\n", args.task);
    return task.status().code() == absl::StatusCode::kNotFound ? kExitBadInput : kExitFailed;
  }
  // Accelerator names the facts table and the built-in catalog do not know are probably typos, but
  // a catalog passed with --catalog may still have them: warn, do not fail.
  catalog::LoadReport report;
  auto builtin = catalog::BuiltinCatalog(report);
  std::vector<std::string> known;
  if (builtin.ok()) known = builtin->AcceleratorNames();
  for (const auto& f : catalog::AllAcceleratorFacts()) known.emplace_back(f.name);
  for (const spec::Resources& r : task->resources) {
    if (r.accelerator.empty()) continue;
    const bool in_catalog = builtin.ok() && builtin->FindAccelerator(r.accelerator).has_value();
    if (!in_catalog && !catalog::LookupAccelerator(r.accelerator)) {
      std::cerr << fmt::format(
          "{}:{}: warning: accelerator '{}' is not in the built-in catalog or the facts "
          "table{}; it can only match a catalog given with --catalog\n",
          args.task, r.line, r.accelerator, DidYouMean(r.accelerator, known));
    }
  }
  std::cout << (args.json ? spec::TaskToJson(*task) + "\n" : spec::TaskToYaml(*task));
  return kExitOk;
}

}  // namespace awan::cli

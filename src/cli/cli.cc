// `awan` argument parsing (CLI11) and dispatch to the subcommands in commands.h.
#include "awan/cli/cli.h"

#include <CLI/CLI.hpp>

#include "commands.h"

namespace awan::cli {
namespace {

constexpr const char* kVersion = "0.1.0";

void AddCatalogOption(CLI::App* cmd, CatalogArgs& args) {
  cmd->add_option("--catalog", args.paths,
                  "Catalog to use instead of the built-in one (repeatable): a SkyPilot vms.csv, an "
                  "awan .yaml catalog, or a folder of <cloud>/vms.csv")
      ->type_name("PATH");
}

}  // namespace

int Run(int argc, char** argv) {
  CLI::App app{
      "awan: run AI training and inference across many clouds and clusters.\n"
      "Describe a workload once (a YAML task); awan finds where it runs best."};
  app.name("awan");
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);
  app.footer("Docs: README.md, docs/task-spec.md, docs/catalog.md, docs/optimizer.md");

  int exit_code = kExitOk;

  CheckArgs check;
  CLI::App* check_cmd = app.add_subcommand("check", "Validate a task file and print it normalised");
  check_cmd->add_option("task", check.task, "Task YAML file")->required()->type_name("TASK.yaml");
  check_cmd->add_flag("--json", check.json, "Print the normalised task as JSON");
  check_cmd->callback([&] { exit_code = RunCheck(check); });

  CLI::App* catalog_cmd = app.add_subcommand("catalog", "Offerings, prices and accelerator facts");
  catalog_cmd->require_subcommand(1);
  CatalogLsArgs ls;
  CLI::App* ls_cmd = catalog_cmd->add_subcommand("ls", "List offerings, cheapest first");
  AddCatalogOption(ls_cmd, ls.catalog);
  ls_cmd->add_option("--accelerator,-a", ls.accelerator, "Only this accelerator (e.g. H100)");
  ls_cmd->add_option("--provider,-p", ls.provider, "Only this provider (e.g. aws)");
  ls_cmd->add_option("--region,-r", ls.region, "Only this region");
  ls_cmd->add_flag("--spot", ls.spot, "Only offerings with a spot price, sorted by it");
  ls_cmd->add_option("--limit,-n", ls.limit, "Show at most N rows (0 = all)")->default_val(0);
  ls_cmd->add_flag("--json", ls.json, "Print a JSON list");
  ls_cmd->callback([&] { exit_code = RunCatalogLs(ls); });

  CatalogArgs providers_catalog;
  bool providers_json = false;
  CLI::App* providers_cmd =
      catalog_cmd->add_subcommand("providers", "Providers in the catalog, with source and date");
  AddCatalogOption(providers_cmd, providers_catalog);
  providers_cmd->add_flag("--json", providers_json, "Print a JSON list");
  providers_cmd->callback(
      [&] { exit_code = RunCatalogProviders(providers_catalog, providers_json); });

  bool accelerators_json = false;
  CLI::App* accelerators_cmd = catalog_cmd->add_subcommand(
      "accelerators", "Accelerator facts: dense BF16 TFLOP/s, HBM, bandwidth");
  accelerators_cmd->add_flag("--json", accelerators_json, "Print a JSON list");
  accelerators_cmd->callback([&] { exit_code = RunCatalogAccelerators(accelerators_json); });

  OptimizeArgs opt;
  CLI::App* opt_cmd =
      app.add_subcommand("optimize", "Rank where a task would run best, across every provider");
  opt_cmd->add_option("task", opt.task, "Task YAML file")->required()->type_name("TASK.yaml");
  AddCatalogOption(opt_cmd, opt.catalog);
  opt_cmd->add_option("--objective", opt.objective, "cost ($/hour) or time (estimated run time)")
      ->check(CLI::IsMember({"cost", "time"}))
      ->default_val("cost");
  opt_cmd
      ->add_option("--providers", opt.providers,
                   "Only these providers (comma-separated; default: all in the catalog)")
      ->delimiter(',')
      ->type_name("P1,P2");
  opt_cmd
      ->add_option("--block", opt.block,
                   "Never place here (repeatable): PROVIDER, PROVIDER/REGION or "
                   "PROVIDER/REGION/ZONE")
      ->type_name("WHERE");
  opt_cmd->add_option("--flops", opt.flops,
                      "Total FLOPs of the job, for --objective time (overrides "
                      "resources.accelerator_flops)");
  opt_cmd->add_option("--mfu", opt.mfu, "Model FLOPs utilisation assumed for time estimates")
      ->default_val(0.4);
  opt_cmd->add_option("--top", opt.top, "Show the best N placements (0 = all)")->default_val(10);
  opt_cmd->add_flag("--json", opt.json,
                    "Print {\"chosen\": P, \"candidates\": [P, ...]} (see docs/optimizer.md)");
  opt_cmd->callback([&] { exit_code = RunOptimize(opt); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitBadInput;
  }
  return exit_code;
}

}  // namespace awan::cli

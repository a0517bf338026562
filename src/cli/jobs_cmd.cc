// `awan launch|status|logs|cancel|events`: talk to the server of AWAN_HOME (starting one if
// needed). Logs go to stdout; awan's own progress lines go to stderr, so `awan launch t.yaml >
// out.log` keeps only the job's output.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "api_call.h"
#include "awan/client/client.h"
#include "awan/common/json_dump.h"
#include "awan/common/text.h"
#include "awan/server/api.h"
#include "awan/spec/task_parser.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {
namespace {

// Where relative paths of a task are resolved: where the command runs, as SkyPilot does.
std::string CurrentDir() {
  std::error_code ec;
  return std::filesystem::current_path(ec).string();
}

namespace fs = std::filesystem;
using J = nlohmann::ordered_json;

// A job object from the server (the API's codec, server/api.h); prints why when it is not one.
std::optional<server::JobView> JobFrom(const client::HttpResponse& r) {
  auto job = server::DecodeJob(r.body);
  if (!job.ok()) std::cerr << "awan: " << job.status().message() << "\n";
  return job.ok() ? std::optional<server::JobView>(std::move(*job)) : std::nullopt;
}

std::optional<int64_t> ParseJobId(const std::string& text) {
  auto n = ParseNumber(text);
  if (!n || *n < 1 || *n != static_cast<double>(static_cast<int64_t>(*n))) {
    std::cerr << fmt::format("awan: '{}' is not a job id (see `awan status`)\n", text);
    return std::nullopt;
  }
  return static_cast<int64_t>(*n);
}

std::string Clock(const std::string& iso) {  // "2026-11-22T12:00:01.123Z" → "12:00:01"
  return iso.size() >= 19 ? iso.substr(11, 8) : iso;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }

std::string ExitCode(const server::JobView& job) {
  return job.exit_code ? std::to_string(*job.exit_code) : "-";
}

std::string Placement(const server::JobView& job) {
  if (job.provider.empty()) return "-";
  std::string out = job.provider + "/" + OrDash(job.instance_type);
  if (job.num_nodes > 1) out += fmt::format(" ×{}", job.num_nodes);
  return out;
}

// Prints events after the first `seen`, returns the new count.
size_t PrintEvents(const client::ApiClient& c, int64_t id, size_t seen) {
  auto r = c.Call("GET", fmt::format("/v1/jobs/{}/events", id));
  if (!r.ok() || r->status != 200) return seen;
  auto events = server::DecodeEvents(r->body);
  if (!events.ok()) return seen;
  for (size_t i = seen; i < events->size(); ++i) {
    std::cerr << fmt::format("[awan] {} {}\n", Clock((*events)[i].time), (*events)[i].message);
  }
  return events->size();
}

}  // namespace

int RunLaunch(const LaunchArgs& args) {
  // Validate here first: errors name the file and line before any server is involved.
  auto task = spec::LoadTaskFile(args.task);
  if (!task.ok()) {
    std::cerr << task.status().message() << "\n";
    return kExitBadInput;
  }
  if (task->service) {
    std::cerr << fmt::format(
        "awan: {} has a `service:` section, so it is a service, not a job: start it with "
        "`awan serve up {}`\n",
        args.task, args.task);
    return kExitBadInput;
  }
  std::ifstream in(args.task, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  std::error_code ec;
  const fs::path path = fs::absolute(args.task, ec);
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  // Where it will run: the server's ranking over its fleet (failover walks it in this order) —
  // unless the server's fleet scheduler places accelerator jobs (then its `scheduled` event says
  // where).
  bool scheduled = false;
  if (auto server = c->Call("GET", "/v1/server"); server.ok() && server->status == 200) {
    const auto info = server::DecodeServer(server->body);
    const bool accelerators =
        std::any_of(task->resources.begin(), task->resources.end(),
                    [](const spec::Resources& r) { return !r.accelerator.empty(); });
    if (accelerators && info.ok() && info->scheduler) {
      scheduled = true;
      std::cerr << fmt::format(
          "The server's fleet scheduler (policy {}) decides when and where it runs.\n",
          info->scheduler->policy);
    }
  }
  if (!scheduled) {
    J request{{"task_yaml", text.str()},
              {"source", path.string()},
              {"base_dir", CurrentDir()},
              {"top", 5}};
    if (auto ranked = c->Call("POST", "/v1/optimize", DumpJson(request));
        ranked.ok() && ranked->status == 200) {
      const auto r = server::DecodeOptimize(ranked->body);
      if (r.ok() && !r->candidates.empty()) {
        std::cerr << "Placements, best first (failover tries them in this order):\n";
        for (const server::PlacementView& p : r->candidates) {
          std::cerr << fmt::format("  {:<10} {:<16} {:<16} {:<26} ${:.2f}/h\n", p.provider,
                                   p.region, p.zone.empty() ? "-" : p.zone, p.instance_type,
                                   p.hourly_cost);
        }
      }
    }
  }
  J body{{"task_yaml", text.str()},
         {"source", path.string()},
         {"base_dir", CurrentDir()},
         {"retry_until_up", args.retry_until_up}};
  if (!args.secrets.empty()) {
    J secrets = J::object();
    for (const std::string& given : args.secrets) {
      const size_t eq = given.find('=');
      const std::string name = given.substr(0, eq);
      if (eq != std::string::npos) {
        secrets[name] = given.substr(eq + 1);
        continue;
      }
      const char* value = std::getenv(name.c_str());
      if (value == nullptr) {
        std::cerr << fmt::format(
            "awan: --secret {0}: {0} is not set in your environment; export it or give "
            "--secret {0}=VALUE\n",
            name);
        return kExitBadInput;
      }
      secrets[name] = value;
    }
    body["secrets"] = secrets;
  }
  auto r = c->Call("POST", "/v1/jobs", DumpJson(body));
  if (!r.ok()) {
    std::cerr << "awan: " << r.status().message() << "\n";
    return kExitFailed;
  }
  if (r->status != 201) return Fail(*r);
  const auto job = JobFrom(*r);
  if (!job) return kExitFailed;
  const int64_t id = job->id;
  if (args.detach) {
    std::cerr << fmt::format(
        "Job {} ({}) submitted. Follow it with `awan logs {} -f`; see it with `awan status {}`.\n",
        id, job->name, id, id);
    std::cout << id << "\n";
    return kExitOk;
  }
  std::cerr << fmt::format(
      "Job {} ({}) submitted; following it (Ctrl-C stops following, the job keeps running; "
      "`awan cancel {}` stops it).\n",
      id, job->name, id);
  // Progress until it runs (or ends), then its logs, then the rest of its events.
  size_t seen = 0;
  for (;;) {
    seen = PrintEvents(*c, id, seen);
    auto now = c->Call("GET", fmt::format("/v1/jobs/{}", id));
    if (!now.ok() || now->status != 200) break;
    const auto current = JobFrom(*now);
    if (!current || (current->state != "PENDING" && current->state != "PROVISIONING")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto streamed =
      c->Stream(fmt::format("/v1/jobs/{}/logs?follow=1", id), [](std::string_view data) {
        std::cout << data;
        std::cout.flush();
      });
  if (!streamed.ok()) std::cerr << "awan: " << streamed.status().message() << "\n";
  PrintEvents(*c, id, seen);
  auto end = c->Call("GET", fmt::format("/v1/jobs/{}", id));
  if (!end.ok() || end->status != 200) return kExitFailed;
  const auto final_job = JobFrom(*end);
  if (!final_job) return kExitFailed;
  std::cerr << fmt::format(
      "Job {} {}{}.\n", id, final_job->state,
      final_job->exit_code ? fmt::format(" (exit code {})", *final_job->exit_code) : "");
  if (final_job->state != "SUCCEEDED") std::cerr << "Reason: " << final_job->reason << "\n";
  if (final_job->exit_code) return *final_job->exit_code;
  return final_job->state == "SUCCEEDED" ? kExitOk : kExitFailed;
}

int RunStatus(const StatusArgs& args) {
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  if (!args.job.empty()) {
    auto id = ParseJobId(args.job);
    if (!id) return kExitBadInput;
    auto r = c->Call("GET", fmt::format("/v1/jobs/{}", *id));
    if (!r.ok()) return kExitFailed;
    if (r->status != 200) return Fail(*r);
    if (args.json) {  // the server's object as it is (the contract), pretty-printed
      std::cout << DumpJson(J::parse(r->body), 2) << "\n";
      return kExitOk;
    }
    const auto job = JobFrom(*r);
    if (!job) return kExitFailed;
    std::cout << fmt::format(
        "Job {} ({})\n  state:      {}\n  exit code:  {}\n  placement:  {}\n  submitted:  {}\n"
        "  started:    {}\n  ended:      {}\n  reason:     {}\n  task:       {}\n  recoveries: "
        "{}{}\n",
        job->id, job->name, job->state, ExitCode(*job), Placement(*job), OrDash(job->submitted_at),
        OrDash(job->started_at), OrDash(job->ended_at), OrDash(job->reason), OrDash(job->source),
        job->recoveries,
        job->restarts_on_errors > 0 ? fmt::format(" ({} after errors)", job->restarts_on_errors)
                                    : "");
    if (!job->nodes.empty()) {
      std::cout << "  nodes:\n";
      for (const server::JobView::Node& n : job->nodes) {
        std::cout << fmt::format("    rank {}  {}  {}\n", n.rank, n.provider, n.host);
      }
    }
    return kExitOk;
  }
  auto r = c->Call("GET", fmt::format("/v1/jobs?limit={}", args.limit));
  if (!r.ok()) return kExitFailed;
  if (r->status != 200) return Fail(*r);
  if (args.json) {  // the server's objects as they are (the contract), pretty-printed
    std::cout << DumpJson(J::parse(r->body)["jobs"], 2) << "\n";
    return kExitOk;
  }
  auto jobs = server::DecodeJobList(r->body);
  if (!jobs.ok()) {
    std::cerr << "awan: " << jobs.status().message() << "\n";
    return kExitFailed;
  }
  if (jobs->empty()) {
    std::cout << "No jobs yet. Launch one: awan launch examples/tasks/hello.yaml\n";
    return kExitOk;
  }
  Table t;
  t.Column("ID", Table::Align::kRight);
  t.Column("NAME");
  t.Column("STATE");
  t.Column("EXIT", Table::Align::kRight);
  t.Column("RECOV", Table::Align::kRight);
  t.Column("PLACEMENT");
  t.Column("SUBMITTED");
  t.Column("REASON");
  for (const server::JobView& job : *jobs) {
    std::string reason = job.reason;
    if (reason.size() > 60) reason = reason.substr(0, 57) + "...";
    t.Row({std::to_string(job.id), job.name, job.state, ExitCode(job),
           std::to_string(job.recoveries), Placement(job), OrDash(job.submitted_at), reason});
  }
  std::cout << t.Render();
  return kExitOk;
}

int RunLogs(const std::string& job, bool follow) {
  auto id = ParseJobId(job);
  if (!id) return kExitBadInput;
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  if (follow) {
    auto check = c->Call("GET", fmt::format("/v1/jobs/{}", *id));
    if (!check.ok()) return kExitFailed;
    if (check->status != 200) return Fail(*check);
    auto s = c->Stream(fmt::format("/v1/jobs/{}/logs?follow=1", *id), [](std::string_view data) {
      std::cout << data;
      std::cout.flush();
    });
    if (!s.ok()) {
      std::cerr << "awan: " << s.status().message() << "\n";
      return kExitFailed;
    }
    return kExitOk;
  }
  auto r = c->Call("GET", fmt::format("/v1/jobs/{}/logs", *id));
  if (!r.ok()) return kExitFailed;
  if (r->status != 200) return Fail(*r);
  std::cout << r->body;
  return kExitOk;
}

int RunCancel(const std::string& job) {
  auto id = ParseJobId(job);
  if (!id) return kExitBadInput;
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  auto r = c->Call("POST", fmt::format("/v1/jobs/{}/cancel", *id));
  if (!r.ok()) return kExitFailed;
  if (r->status != 202) return Fail(*r);
  const auto was = JobFrom(*r);
  if (!was) return kExitFailed;
  const std::string& state = was->state;
  if (state == "SUCCEEDED" || state == "FAILED" || state == "CANCELLED") {
    std::cout << fmt::format("Job {} had already ended ({}); nothing to cancel.\n", *id, state);
  } else {
    std::cout << fmt::format(
        "Job {}: cancel requested (it was {}); `awan status {}` shows when it has stopped.\n", *id,
        state, *id);
  }
  return kExitOk;
}

int RunEvents(const std::string& job, bool json) {
  auto id = ParseJobId(job);
  if (!id) return kExitBadInput;
  auto c = Client();
  if (!c.ok()) return kExitFailed;
  auto r = c->Call("GET", fmt::format("/v1/jobs/{}/events", *id));
  if (!r.ok()) return kExitFailed;
  if (r->status != 200) return Fail(*r);
  if (json) {  // as the server sent them (the contract), pretty-printed
    std::cout << DumpJson(J::parse(r->body), 2) << "\n";
    return kExitOk;
  }
  auto events = server::DecodeEvents(r->body);
  if (!events.ok()) {
    std::cerr << "awan: " << events.status().message() << "\n";
    return kExitFailed;
  }
  Table t;
  t.Column("TIME");
  t.Column("TYPE");
  t.Column("MESSAGE");
  for (const server::EventView& e : *events) t.Row({e.time, e.type, e.message});
  std::cout << t.Render();
  return kExitOk;
}

}  // namespace awan::cli

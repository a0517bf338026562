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

#include "awan/client/client.h"
#include "awan/common/json_dump.h"
#include "awan/common/text.h"
#include "awan/spec/task_parser.h"
#include "commands.h"
#include "table.h"

namespace awan::cli {
namespace {

namespace fs = std::filesystem;
using J = nlohmann::ordered_json;

// The server's error message from a JSON error body, or the raw body.
std::string ErrorMessage(const client::HttpResponse& r) {
  try {
    return J::parse(r.body).at("error").at("message").get<std::string>();
  } catch (const std::exception&) {
    return fmt::format("HTTP {}: {}", r.status, r.body);
  }
}

std::optional<int64_t> ParseJobId(const std::string& text) {
  auto n = ParseNumber(text);
  if (!n || *n < 1 || *n != static_cast<double>(static_cast<int64_t>(*n))) {
    std::cerr << fmt::format("awan: '{}' is not a job id (see `awan status`)\n", text);
    return std::nullopt;
  }
  return static_cast<int64_t>(*n);
}

absl::StatusOr<client::ApiClient> Client() {
  auto c = client::ConnectOrStart(client::AwanHome());
  if (!c.ok()) std::cerr << "awan: " << c.status().message() << "\n";
  return c;
}

// Exit code for an HTTP error: 1 for "no such thing", 2 for bad input, 1 otherwise.
int Fail(const client::HttpResponse& r) {
  std::cerr << "awan: " << ErrorMessage(r) << "\n";
  return r.status == 400 || r.status == 413 ? kExitBadInput : kExitFailed;
}

std::string Clock(const std::string& iso) {  // "2026-11-22T12:00:01.123Z" → "12:00:01"
  return iso.size() >= 19 ? iso.substr(11, 8) : iso;
}

std::string Str(const J& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "-";
}

std::string Placement(const J& job) {
  const J& p = job["placement"];
  if (p["provider"].is_null()) return "-";
  std::string out = p["provider"].get<std::string>() + "/" + Str(p, "instance_type");
  if (p["num_nodes"].get<int>() > 1) out += fmt::format(" ×{}", p["num_nodes"].get<int>());
  return out;
}

// Prints events after the first `seen`, returns the new count.
size_t PrintEvents(const client::ApiClient& c, int64_t id, size_t seen) {
  auto r = c.Call("GET", fmt::format("/v1/jobs/{}/events", id));
  if (!r.ok() || r->status != 200) return seen;
  J events = J::parse(r->body);
  for (size_t i = seen; i < events.size(); ++i) {
    std::cerr << fmt::format("[awan] {} {}\n", Clock(events[i]["time"].get<std::string>()),
                             events[i]["message"].get<std::string>());
  }
  return events.size();
}

}  // namespace

int RunLaunch(const LaunchArgs& args) {
  // Validate here first: errors name the file and line before any server is involved.
  auto task = spec::LoadTaskFile(args.task);
  if (!task.ok()) {
    std::cerr << task.status().message() << "\n";
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
    const J info = J::parse(server->body, nullptr, false);
    const bool accelerators =
        std::any_of(task->resources.begin(), task->resources.end(),
                    [](const spec::Resources& r) { return !r.accelerator.empty(); });
    if (accelerators && info.is_object() && info.contains("scheduler") &&
        info["scheduler"].is_object()) {
      scheduled = true;
      std::cerr << fmt::format(
          "The server's fleet scheduler (policy {}) decides when and where it runs.\n",
          info["scheduler"].value("policy", "?"));
    }
  }
  if (!scheduled) {
    J request{{"task_yaml", text.str()},
              {"source", path.string()},
              {"base_dir", path.parent_path().string()},
              {"top", 5}};
    if (auto ranked = c->Call("POST", "/v1/optimize", DumpJson(request));
        ranked.ok() && ranked->status == 200) {
      const J r = J::parse(ranked->body);
      if (!r["candidates"].empty()) {
        std::cerr << "Placements, best first (failover tries them in this order):\n";
        for (const J& p : r["candidates"]) {
          std::cerr << fmt::format("  {:<10} {:<16} {:<16} {:<26} ${:.2f}/h\n",
                                   p["provider"].get<std::string>(), p["region"].get<std::string>(),
                                   p["zone"].is_null() ? "-" : p["zone"].get<std::string>(),
                                   p["instance_type"].get<std::string>(),
                                   p["hourly_cost"].get<double>());
        }
      }
    }
  }
  J body{{"task_yaml", text.str()},
         {"source", path.string()},
         {"base_dir", path.parent_path().string()},
         {"retry_until_up", args.retry_until_up}};
  auto r = c->Call("POST", "/v1/jobs", DumpJson(body));
  if (!r.ok()) {
    std::cerr << "awan: " << r.status().message() << "\n";
    return kExitFailed;
  }
  if (r->status != 201) return Fail(*r);
  const J job = J::parse(r->body);
  const int64_t id = job["id"].get<int64_t>();
  if (args.detach) {
    std::cerr << fmt::format(
        "Job {} ({}) submitted. Follow it with `awan logs {} -f`; see it with `awan status {}`.\n",
        id, job["name"].get<std::string>(), id, id);
    std::cout << id << "\n";
    return kExitOk;
  }
  std::cerr << fmt::format(
      "Job {} ({}) submitted; following it (Ctrl-C stops following, the job keeps running; "
      "`awan cancel {}` stops it).\n",
      id, job["name"].get<std::string>(), id);
  // Progress until it runs (or ends), then its logs, then the rest of its events.
  size_t seen = 0;
  for (;;) {
    seen = PrintEvents(*c, id, seen);
    auto now = c->Call("GET", fmt::format("/v1/jobs/{}", id));
    if (!now.ok() || now->status != 200) break;
    const std::string state = J::parse(now->body)["state"].get<std::string>();
    if (state != "PENDING" && state != "PROVISIONING") break;
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
  const J final_job = J::parse(end->body);
  const std::string state = final_job["state"].get<std::string>();
  std::cerr << fmt::format("Job {} {}{}.\n", id, state,
                           final_job["exit_code"].is_null()
                               ? ""
                               : fmt::format(" (exit code {})", final_job["exit_code"].get<int>()));
  if (state != "SUCCEEDED")
    std::cerr << "Reason: " << final_job["reason"].get<std::string>() << "\n";
  if (!final_job["exit_code"].is_null()) return final_job["exit_code"].get<int>();
  return state == "SUCCEEDED" ? kExitOk : kExitFailed;
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
    const J job = J::parse(r->body);
    if (args.json) {
      std::cout << DumpJson(job, 2) << "\n";
      return kExitOk;
    }
    std::cout << fmt::format(
        "Job {} ({})\n  state:      {}\n  exit code:  {}\n  placement:  {}\n  submitted:  {}\n"
        "  started:    {}\n  ended:      {}\n  reason:     {}\n  task:       {}\n",
        job["id"].get<int64_t>(), job["name"].get<std::string>(), job["state"].get<std::string>(),
        job["exit_code"].is_null() ? "-" : std::to_string(job["exit_code"].get<int>()),
        Placement(job), Str(job, "submitted_at"), Str(job, "started_at"), Str(job, "ended_at"),
        Str(job, "reason"), Str(job, "source"));
    if (job.contains("nodes") && !job["nodes"].empty()) {
      std::cout << "  nodes:\n";
      for (const J& n : job["nodes"]) {
        std::cout << fmt::format("    rank {}  {}  {}\n", n["rank"].get<int>(),
                                 n["provider"].get<std::string>(), n["host"].get<std::string>());
      }
    }
    return kExitOk;
  }
  auto r = c->Call("GET", fmt::format("/v1/jobs?limit={}", args.limit));
  if (!r.ok()) return kExitFailed;
  if (r->status != 200) return Fail(*r);
  const J jobs = J::parse(r->body)["jobs"];
  if (args.json) {
    std::cout << DumpJson(jobs, 2) << "\n";
    return kExitOk;
  }
  if (jobs.empty()) {
    std::cout << "No jobs yet. Launch one: awan launch examples/tasks/hello.yaml\n";
    return kExitOk;
  }
  Table t;
  t.Column("ID", Table::Align::kRight);
  t.Column("NAME");
  t.Column("STATE");
  t.Column("EXIT", Table::Align::kRight);
  t.Column("PLACEMENT");
  t.Column("SUBMITTED");
  t.Column("REASON");
  for (const J& job : jobs) {
    std::string reason = job["reason"].get<std::string>();
    if (reason.size() > 60) reason = reason.substr(0, 57) + "...";
    t.Row({std::to_string(job["id"].get<int64_t>()), job["name"].get<std::string>(),
           job["state"].get<std::string>(),
           job["exit_code"].is_null() ? "-" : std::to_string(job["exit_code"].get<int>()),
           Placement(job), Str(job, "submitted_at"), reason});
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
  const J j = J::parse(r->body);
  const std::string state = j["state"].get<std::string>();
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
  const J events = J::parse(r->body);
  if (json) {
    std::cout << DumpJson(events, 2) << "\n";
    return kExitOk;
  }
  Table t;
  t.Column("TIME");
  t.Column("TYPE");
  t.Column("MESSAGE");
  for (const J& e : events)
    t.Row({e["time"].get<std::string>(), e["type"].get<std::string>(),
           e["message"].get<std::string>()});
  std::cout << t.Render();
  return kExitOk;
}

}  // namespace awan::cli

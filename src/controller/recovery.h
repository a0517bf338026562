// Recovery: what a (re)starting server does with the jobs a previous one left, before its loop
// runs. A node still running is adopted (its provider books it again); one that finished while the
// server was down is recorded with its real exit code; one that died without a status is FAILED
// with the reason; a job whose start never happened is queued again; a preemption left half done
// is finished (nodes killed and released, the job queued again) — no job runs twice. Every job that
// has not ended is loaded into the in-memory set, its task parsed once. Nodes of a provider whose
// calls are slow (ssh, slurm) are not probed here: they are adopted as running and the node
// runner's watch asks their provider off the loop, so a host that does not answer delays nothing
// else. Provider::Readopt must answer at once (it books in memory).
// Loop thread (before the loop starts).
#pragma once

#include "active_jobs.h"
#include "awan/providers/fleet.h"
#include "job_queue.h"
#include "node_runner.h"

namespace awan::controller {

void Recover(ActiveJobs& jobs, NodeRunner& runner, JobQueue& queue, const providers::Fleet& fleet,
             const ControllerOptions& options);

}  // namespace awan::controller

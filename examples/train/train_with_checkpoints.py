#!/usr/bin/env python3
"""A stand-in for a training loop that checkpoints to a bucket and resumes from it.

It does no real training (each "step" sleeps); what it shows is the checkpoint discipline a managed
job needs to survive preemption (docs/storage.md):

* A checkpoint is written to a temporary name, flushed, then renamed into place, and only then is
  `latest` (the name of the newest checkpoint) replaced the same way. Renames are atomic, so a job
  resumed after a preemption -- even one killed halfway through a write -- reads a whole checkpoint
  or the previous one, never half of one.
* On start it resumes from `latest`. Every step it runs is appended to `steps.log` with the start
  it ran in ($AWAN_RECOVERIES), so the bucket itself proves what ran: no step at or before the
  checkpoint a start resumed from ran again.

Settings (env): CKPT_DIR (default $AWAN_MOUNTS/ckpt), TOTAL_STEPS, STEP_SECONDS, CKPT_EVERY.
"""
import hashlib
import json
import os
import sys
import time


def write_atomically(path, text):
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.rename(partial, path)


def load_checkpoint(ckpt_dir):
    latest = os.path.join(ckpt_dir, "latest")
    if not os.path.exists(latest):
        return 0, 0.0
    name = open(latest).read().strip()
    data = json.load(open(os.path.join(ckpt_dir, name)))
    state = json.dumps(data["state"], sort_keys=True)
    if hashlib.sha256(state.encode()).hexdigest() != data["sha256"]:
        sys.exit(f"checkpoint {name} is corrupt")
    return data["step"], data["state"]["loss"]


def main():
    ckpt_dir = os.environ.get("CKPT_DIR") or os.path.join(os.environ["AWAN_MOUNTS"], "ckpt")
    total = int(os.environ.get("TOTAL_STEPS", "40"))
    step_s = float(os.environ.get("STEP_SECONDS", "0.25"))
    every = int(os.environ.get("CKPT_EVERY", "5"))
    start = int(os.environ.get("AWAN_RECOVERIES", "0"))
    provider = os.environ.get("AWAN_PROVIDER", "?")
    os.makedirs(ckpt_dir, exist_ok=True)
    step, loss = load_checkpoint(ckpt_dir)
    print(f"start {start} on {provider}: resuming after step {step} (loss {loss:.4f})", flush=True)
    log = open(os.path.join(ckpt_dir, "steps.log"), "a")
    log.write(f"resume {start} {step}\n")
    log.flush()
    while step < total:
        time.sleep(step_s)
        step += 1
        loss = 2.0 / (1.0 + 0.1 * step)
        log.write(f"step {step} {start}\n")
        log.flush()
        if step % every == 0 or step == total:
            state = {"loss": loss, "weights": [step * 0.01] * 4}
            text = json.dumps({"step": step, "state": state,
                               "sha256": hashlib.sha256(
                                   json.dumps(state, sort_keys=True).encode()).hexdigest()})
            name = f"step-{step:06d}.json"
            write_atomically(os.path.join(ckpt_dir, name), text)
            write_atomically(os.path.join(ckpt_dir, "latest"), name + "\n")
            print(f"step {step}: loss {loss:.4f}, checkpoint {name}", flush=True)
    # The proof: no step at or before a resume point ran after that resume.
    resumed_at, seen, repeated = 0, {}, []
    for line in open(os.path.join(ckpt_dir, "steps.log")):
        kind, a, b = line.split()
        if kind == "resume":
            resumed_at = int(b)
            continue
        n = int(a)
        if n <= resumed_at:
            sys.exit(f"step {n} ran again after resuming from step {resumed_at}")
        if n in seen:
            repeated.append(n)
        seen[n] = b
    print(f"done: {total} steps over {start + 1} start(s); {len(repeated)} step(s) after the last "
          f"checkpoint ran again after a preemption; none before a checkpoint did", flush=True)


if __name__ == "__main__":
    main()

"""A million seeds on one machine: wall time, training time and peak memory of ``symjax verify``.

Runs the real command in a fresh process (so its peak RSS is its own, read with
``getrusage(RUSAGE_CHILDREN)``) and reads the training and compile times that the run recorded
in its ``results.json``. Two workloads (issues #4 and #7):

* ``one``: 2-2-1 default network, one init scheme (``normal``) x SGD: 1e6 seeds x 1,000 steps.
* ``default``: the default command (every built-in init scheme x SGD and Adam, 26 runs per
  seed) with ``--seeds 1000000``: 2.6e10 seed-steps, per-seed results for 26 million runs.

Usage::

    python benchmarks/million_seeds.py                 # both workloads, 1e6 seeds
    python benchmarks/million_seeds.py --workloads one --seeds 100000
    python benchmarks/million_seeds.py --json benchmarks/results/million.json

Prints one Markdown row per workload: seeds, runs, seed-steps, wall s, training s, compile s,
seed-steps per training second, peak RSS, size of the output directory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOADS = {
    "one": ["--init", "normal", "--optimizer", "sgd"],
    "default": [],
}


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def run(workload: str, seeds: int, steps: int, keep: Path | None) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"symjax-million-{workload}-"))
    cmd = [sys.executable, "-m", "symjax", "verify", "--seeds", str(seeds), "--steps",
           str(steps), *WORKLOADS[workload], "--out", str(out / "run"), "--quiet"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    results = json.loads((out / "run" / "results.json").read_text())
    timing = results["provenance"]["timing"]
    size = sum(p.stat().st_size for p in (out / "run").rglob("*") if p.is_file())
    runs = len(results["config"]["init"]) * len(results["config"]["optimizer"])
    row = {
        "workload": workload,
        "seeds": seeds,
        "steps": steps,
        "runs_per_seed": runs,
        "seed_steps": seeds * steps * runs,
        "wall_s": wall,
        "training_s": sum(timing["run_seconds"].values()),
        "compile_s": sum(timing["compile_seconds"].values()),
        "peak_rss_mib": peak_kib / 1024 if peak_kib > before else None,
        "output_mib": size / 2**20,
        "ok": results["results"]["ok"],
        "run_id": results["run_id"],
        "layout": results["layout"],
        "command": " ".join(["symjax", *cmd[3:-3], "--out", "DIR"]),
    }
    row["seed_steps_per_training_s"] = row["seed_steps"] / row["training_s"]
    if keep is not None:
        shutil.copytree(out / "run", keep / workload, dirs_exist_ok=True)
    shutil.rmtree(out)
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default="one,default", help="one, default (comma list)")
    parser.add_argument("--seeds", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--json", help="also write the rows and the machine here")
    parser.add_argument("--keep", help="copy each run's output directory here")
    args = parser.parse_args(argv)
    names = [w for w in args.workloads.split(",") if w]
    unknown = [w for w in names if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {unknown[0]!r}; allowed: {', '.join(WORKLOADS)}")
    machine = {"cpu": _cpu(), "cores": len(os.sched_getaffinity(0)),
               "python": platform.python_version(), "load_before": os.getloadavg()[0],
               "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, load average "
          f"{machine['load_before']:.2f} before the runs, {machine['date']}")
    rows = []
    print("| workload | seeds x runs x steps | seed-steps | wall s | training s | compile s | "
          "seed-steps / training s | peak RSS MiB | output MiB | invariant |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        r = run(name, args.seeds, args.steps, Path(args.keep) if args.keep else None)
        rows.append(r)
        peak = "n/a" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f}"
        print(f"| {name} | {r['seeds']:,} x {r['runs_per_seed']} x {r['steps']:,} | "
              f"{r['seed_steps']:.2e} | {r['wall_s']:.1f} | {r['training_s']:.1f} | "
              f"{r['compile_s']:.1f} | {r['seed_steps_per_training_s']:.2e} | {peak} | "
              f"{r['output_mib']:.0f} | {'holds' if r['ok'] else 'VIOLATED'} |", flush=True)
    print("training s: time in the compiled training calls (results.json "
          "provenance.timing.run_seconds); wall s: the whole command (start-up, compile, init "
          "draws, chunk files, per-seed CSV, summaries); peak RSS: the command's process "
          "(getrusage of the child).")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

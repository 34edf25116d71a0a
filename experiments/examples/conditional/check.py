"""Issue 22's Done-when for conditional spaces, through run.py as a user types it.

Runs the conditional space of space.yaml (grid: its finite variant space_finite.yaml)
with `benchmark=custom backend=python` and the training of train.py, which raises on an
inactive or a missing hyperparameter, under each of the ten schedulers for 24 trials, then
checks each results.csv: 24+ trials, no failed trial, both optimizers explored, the
inactive cells (momentum with adam, beta1 with sgd) empty and the active ones filled:

    python experiments/examples/conditional/check.py [--out DIR] [--schedulers rea pbt]

Prints one line per scheduler and exits 1 if any check fails. About 10 s per scheduler
(each trial is a Python process of its own).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SCHEDULERS = ["random", "grid", "tpe", "bo", "rea", "dehb", "asha", "bohb", "mobster", "pbt"]
N_TRIALS = 24


def run(scheduler: str, out: Path, seed: int = 0) -> subprocess.CompletedProcess:
    """One run.py run of `scheduler` on the conditional space, results into `out`."""
    space = HERE / ("space_finite.yaml" if scheduler == "grid" else "space.yaml")
    args = [sys.executable, str(ROOT / "experiments" / "run.py"), "benchmark=custom",
            "backend=python", f"scheduler={scheduler}",
            f"benchmark.training={HERE / 'train.py'}:train", f"benchmark.space={space}",
            "benchmark.metric=val_loss", "benchmark.mode=min", "benchmark.max_fidelity=9",
            f"stop.max_trials={N_TRIALS}", "stop.max_wallclock=600", f"seed={seed}",
            "progress=false", "status_every=null", f"hydra.run.dir={out}"]
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT)


def check(results: Path) -> list[str]:
    """What is wrong with a conditional run's results.csv (empty: nothing)."""
    with open(results, newline="") as f:
        rows = list(csv.DictReader(f))
    first = {}
    for r in rows:
        first.setdefault(r["trial_id"], r)
    problems = []
    if len(first) < N_TRIALS:
        problems.append(f"{len(first)} trials, fewer than {N_TRIALS}")
    failed = sorted({r["trial_id"] for r in rows if r["status"] == "failed"}, key=int)
    if failed:
        problems.append(f"failed trials {', '.join(failed)}")
    seen = {r["config_optimizer"] for r in first.values()}
    if seen != {"sgd", "adam"}:
        problems.append(f"optimizers explored: {sorted(seen)}")
    wrong = [r["trial_id"] for r in rows
             if (r["config_momentum"] != "") != (r["config_optimizer"] == "sgd")
             or (r["config_beta1"] != "") != (r["config_optimizer"] == "adam")]
    if wrong:
        problems.append(f"inactive cells filled or active ones empty: trials {sorted(set(wrong))}")
    return problems


def summary(results: Path) -> str:
    """Trials per optimizer and the best val_loss, e.g. `sgd 14, adam 10; best 0.3012`."""
    with open(results, newline="") as f:
        rows = list(csv.DictReader(f))
    first = {r["trial_id"]: r["config_optimizer"] for r in rows}
    counts = {o: list(first.values()).count(o) for o in ("sgd", "adam")}
    losses = [float(r["val_loss"]) for r in rows if r["val_loss"]]
    best = f"{min(losses):.4f}" if losses else "-"
    return f"{len(first)} trials (sgd {counts['sgd']}, adam {counts['adam']}), best {best}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--schedulers", nargs="+", default=SCHEDULERS)
    args = parser.parse_args(argv)
    out = args.out or Path(tempfile.mkdtemp(prefix="conditional-"))
    ok = True
    for scheduler in args.schedulers:
        proc = run(scheduler, out / scheduler)
        results = out / scheduler / "results.csv"
        if proc.returncode != 0 or not results.exists():
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            problems = [f"run.py exited {proc.returncode}: {last}"]
        else:
            problems = check(results)
        ok &= not problems
        shown = summary(results) if results.exists() else ""
        print(f"{scheduler:8s} {'ok  ' if not problems else 'FAIL'} {shown}"
              + "".join(f"\n         {p}" for p in problems), flush=True)
    print(f"{'all' if ok else 'NOT all'} {len(args.schedulers)} schedulers pass; runs in {out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

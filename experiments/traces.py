"""Record or check every scheduler's traces: the md5 of results.csv of fixed simulated runs.

A refactoring that must not change behaviour keeps every trace byte-identical:

    python experiments/traces.py --record   # writes experiments/traces.json
    python experiments/traces.py            # reruns them all, lists every difference (exit 1)
    python experiments/traces.py --only pbt --record  # reruns and re-records pbt's alone

Each scheduler runs through experiments/run.py (the command a user types) on the benchmarks
of its kind, seeds 0 and 1, with 1 and 4 workers, at most 80 trials a run: multi-objective
schedulers on zdt1, the others on the mlp_sklearn digits curves and on hartmann3's closed-form
curves, single-fidelity ones also on the NAS-Bench-201 final-epoch table, where the transfer
schedulers run too (their sources: its cifar100 and ImageNet16-120 tables).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "experiments" / "traces.json"

SINGLE_FIDELITY = ("bo", "bore", "cqr", "grid", "random", "rea", "tpe")
MULTI_FIDELITY = ("asha", "asha_bore", "asha_cqr", "bohb", "dehb", "hyperband", "hypertune",
                  "hypertune_hyperband", "median_stopping", "mobster", "pasha", "pbt",
                  "sync_hyperband", "sync_sh")
MULTI_OBJECTIVE = ("ehvi", "moasha", "morea", "nsga2", "random_scalarization")
TRANSFER = ("bounding_box", "quantile_based", "zero_shot")  # sources: the other tasks

# (schedulers, benchmark overrides): one sweep each
SWEEPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (SINGLE_FIDELITY + MULTI_FIDELITY, ("benchmark=mlp_sklearn", "benchmark.task=digits")),
    (SINGLE_FIDELITY + MULTI_FIDELITY, ("benchmark=synthetic", "benchmark.task=hartmann3")),
    (SINGLE_FIDELITY + TRANSFER, ("benchmark=nasbench201", "benchmark.task=cifar10")),
    (MULTI_OBJECTIVE, ("benchmark=synthetic", "benchmark.task=zdt1")),
)
COMMON = ("seed=0,1", "n_workers=1,4", "stop.max_trials=80", "progress=false",
          "status_every=null", "hydra/launcher=basic")


def scheduler_of(run: str) -> str:
    """The scheduler of the run named `run` (its Hydra override dirname)."""
    return dict(item.split("=", 1) for item in run.split(","))["scheduler"]


def run_sweeps(out: Path, only: set[str] | None = None) -> dict[str, str]:
    """Run every sweep into `out` (only the schedulers in `only`, if given); the md5 of
    each run's results.csv by its run name."""
    traces: dict[str, str] = {}
    for i, (schedulers, benchmark) in enumerate(SWEEPS):
        schedulers = tuple(s for s in schedulers if only is None or s in only)
        if not schedulers:
            continue
        sweep_dir = out / str(i)
        command = [sys.executable, str(ROOT / "experiments" / "run.py"), "-m",
                   f"scheduler={','.join(schedulers)}", *benchmark, *COMMON,
                   f"hydra.sweep.dir={sweep_dir}"]
        print(" ".join(command[1:]), file=sys.stderr, flush=True)
        subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        for results in sorted(sweep_dir.glob("*/results.csv")):
            assert results.parent.name not in traces, f"two runs named {results.parent.name}"
            traces[results.parent.name] = hashlib.md5(results.read_bytes()).hexdigest()
    return traces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", action="store_true", help=f"write {TRACES.name}")
    parser.add_argument("--only", nargs="+", metavar="SCHEDULER",
                        help="these schedulers' traces alone (checked, or with --record "
                             "re-recorded; the others' entries are kept)")
    args = parser.parse_args()
    only = set(args.only) if args.only else None
    known = {s for schedulers, _ in SWEEPS for s in schedulers}
    if only and only - known:
        parser.error(f"no traces of {sorted(only - known)}; traced: {sorted(known)}")
    with tempfile.TemporaryDirectory() as tmp:
        traces = run_sweeps(Path(tmp), only)
    stored = json.loads(TRACES.read_text()) if TRACES.exists() else {}
    recorded = {k: v for k, v in stored.items() if only is None or scheduler_of(k) in only}
    if args.record:  # without --only every entry is written anew
        kept = {k: v for k, v in stored.items() if only and scheduler_of(k) not in only}
        TRACES.write_text(json.dumps({**kept, **traces}, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(traces)} traces in {TRACES.relative_to(ROOT)}")
        return
    differ = sorted(k for k in recorded.keys() | traces.keys()
                    if recorded.get(k) != traces.get(k))
    for name in differ:
        print(f"differs: {name}: recorded {recorded.get(name)}, now {traces.get(name)}")
    print(f"{len(recorded) - len(differ)} of {len(recorded)} traces byte-identical")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()

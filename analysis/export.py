"""Export runs to other tools: `--optuna FILE` writes them as Optuna studies in a journal file.

    python analysis/export.py outputs/2026-12-06/10-00-00 --optuna run.log
    python analysis/export.py multirun/2026-12-06/10-00-00 --optuna sweep.log  # a study per run
    optuna-dashboard run.log

Each simtune trial is one Optuna trial: its parameters with distributions from the run's
space (metadata.json), its reports of the run's metric as intermediate values by fidelity,
its state (completed: COMPLETE, with the value of its last report; stopped or paused:
PRUNED; failed: FAIL; still running in an interrupted run: RUNNING) and user attributes
(simtune_trial_id, status, fidelity, time). A study is named after its run directory
(relative to RUN_DIR for a sweep). FILE must not exist yet: nothing is ever overwritten.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from simtune.analysis.load import AnalysisError, find_runs, read_metadata, read_results
from simtune.core.domains import domain_from_dict

STATES = {"completed": "COMPLETE", "stopped": "PRUNED", "paused": "PRUNED",
          "failed": "FAIL", "running": "RUNNING"}  # a trial's last status -> Optuna's state


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise AnalysisError('--optuna needs optuna: pip install "simtune[optuna]"') from None
    return optuna


def journal_storage(path: Path) -> Any:
    """An Optuna JournalStorage on the file `path` (JournalFileBackend, or the
    JournalFileStorage of optuna < 4)."""
    optuna = _optuna()
    try:
        from optuna.storages.journal import JournalFileBackend as Backend
    except ImportError:  # optuna 3.x
        from optuna.storages import JournalFileStorage as Backend
    return optuna.storages.JournalStorage(Backend(str(path)))


def distributions(space: dict[str, Any]) -> dict[str, Any]:
    """Optuna distributions of a run's space, as metadata.json records it."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec.get("type")
        if kind in ("uniform", "loguniform"):
            out[name] = FloatDistribution(spec["low"], spec["high"], log=kind == "loguniform")
        elif kind in ("randint", "lograndint"):
            out[name] = IntDistribution(int(spec["low"]), int(spec["high"]),
                                        log=kind == "lograndint")
        elif kind == "constant":
            out[name] = CategoricalDistribution([_choice(spec["value"])])
        else:  # choice, ordinal, finrange, logfinrange: their values
            try:
                domain = domain_from_dict(spec)
            except ValueError as e:
                raise AnalysisError(f"space entry {name}: {e}") from None
            out[name] = CategoricalDistribution([_choice(v) for v in domain.categories])
    return out


def _choice(value: Any) -> Any:
    """A category as Optuna stores it: None, bool, int, float or str."""
    value = value.item() if hasattr(value, "item") else value
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def _param(value: Any, distribution: Any) -> Any:
    """`value` from results.csv as `distribution` takes it (pandas reads 16 as 16.0 when
    a column has gaps, "1" as 1)."""
    value = value.item() if hasattr(value, "item") else value
    choices = getattr(distribution, "choices", None)
    if choices is None:
        return int(value) if type(distribution).__name__ == "IntDistribution" else float(value)
    for choice in choices:
        if choice == value or str(choice) == str(value):
            return choice
    raise AnalysisError(f"value {value!r} is not in the space's categories {list(choices)}")


def export_run(run_dir: Path, storage: Any, study_name: str) -> int:
    """Add the run in `run_dir` to `storage` as the study `study_name`; its trial count."""
    optuna = _optuna()
    meta = read_metadata(run_dir)
    rows = read_results(run_dir)
    metric, mode = meta.get("metric"), meta.get("mode")
    fidelity = meta.get("fidelity_name")
    if metric is None or mode not in ("min", "max") or "space" not in meta:
        raise AnalysisError(f"{run_dir}: metadata.json lacks the metric, mode or space")
    if metric not in rows.columns:
        raise AnalysisError(f"{run_dir}: results.csv has no column {metric!r}")
    dists = distributions(meta["space"])
    study = optuna.create_study(storage=storage, study_name=study_name,
                                direction="maximize" if mode == "max" else "minimize")
    study.set_user_attr("simtune_run_dir", str(run_dir))
    with warnings.catch_warnings():  # experimental in optuna 3.2 to 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([metric])
    TrialState = optuna.trial.TrialState
    trials = []
    for trial_id, group in rows.groupby("trial_id", sort=True):
        status = str(group["status"].iloc[-1])
        reported = group[group[metric].notna()]
        steps = reported[fidelity] if fidelity in reported.columns else range(len(reported))
        intermediate = {int(s): float(v) for s, v in zip(steps, reported[metric], strict=True)
                        if math.isfinite(float(v))}
        state = TrialState[STATES.get(status, "FAIL")]
        value = None
        if state == TrialState.COMPLETE:  # its last report's value (none: it failed)
            if reported.empty:
                state = TrialState.FAIL
            else:
                value = float(reported[metric].iloc[-1])
        first = group.iloc[0]
        params = {name: _param(first[f"config_{name}"], dist) for name, dist in dists.items()
                  if f"config_{name}" in group.columns}
        trials.append(optuna.trial.create_trial(
            state=state, value=value, params=params,
            distributions={k: dists[k] for k in params}, intermediate_values=intermediate,
            user_attrs={"simtune_trial_id": int(trial_id), "status": status,
                        "fidelity": max(intermediate, default=None),
                        "time": float(group["time"].iloc[-1])}))
    study.add_trials(trials)
    return len(trials)


def export_optuna(run_dir: Path, file: Path) -> list[tuple[str, int]]:
    """Write the run (or every run of a sweep) below `run_dir` to the journal `file`:
    (study name, trials) per run. AnalysisError if `file` exists or there is no run."""
    if file.exists():
        raise AnalysisError(f"{file} exists: name a new file (nothing is overwritten)")
    runs = find_runs([run_dir])
    if not runs:
        raise AnalysisError(f"{run_dir} holds no run (no metadata.json with a results.csv)")
    root = Path(run_dir).resolve()
    names = [str(r.relative_to(root)) if r != root else root.name for r in runs]
    storage = journal_storage(file)
    try:
        return [(name, export_run(run, storage, name))
                for run, name in zip(runs, names, strict=True)]
    except BaseException:
        file.unlink(missing_ok=True)  # an export that failed leaves no half-written file
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="export.py", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run directory, or a sweep's")
    parser.add_argument("--optuna", type=Path, required=True, metavar="FILE",
                        help="the Optuna journal file to write (must not exist)")
    args = parser.parse_args(argv)
    try:
        _optuna().logging.set_verbosity(_optuna().logging.WARNING)
        done = export_optuna(args.run_dir, args.optuna)
    except AnalysisError as e:
        print(f"export.py: error: {e}", file=sys.stderr)
        return 2
    for name, n in done:
        print(f"study {name}: {n} trials")
    print(f"wrote {args.optuna}; view it: optuna-dashboard {args.optuna}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

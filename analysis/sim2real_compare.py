"""Compare a real tuning run with its simulation on the table it was tabulated into.

The pieces of experiments/sim2real.py's study, each a function of result files:
`first_divergence` (where two runs' decision sequences part and why), `rank_agreement`
(Kendall's tau of the methods' final regret, bootstrap CI over seeds), `epoch_times` and
`timing_error` (the table's per-epoch CPU time against the one the real trials measured),
`value_agreement` (are the real reports the table's numbers?), and `compare`, which
writes runs.csv, timing.csv and returns summary.json's content.

Example:
    >>> first_divergence(read_results(sim_dir), read_results(real_dir), "val_accuracy", "epoch")
    {'index': 37, 'reason': 'event order', ...}
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simtune.analysis.load import read_metadata, read_one, read_results

IDENTICAL = "identical"
END = "budget end"  # one run ended, the other went on
ORDER = "event order"  # the same events, in another order: timing
CONFIG = "different config"  # the scheduler suggested another config for that trial id
VALUE = "different value"  # the same trial and epoch reported another value
DECISION = "different decision"  # the same report, another decision


def _key(row: pd.Series, metric: str, fidelity: str, configs: list[str]) -> tuple:
    """What must agree in one row; a row without a report (a trial stopped at the end,
    a failure) has None for its fidelity and value."""
    def plain(x: Any) -> Any:
        return None if pd.isna(x) else x

    return (int(row["trial_id"]), plain(row[fidelity]), plain(row[metric]),
            plain(row["decision"]), plain(row["status"]) if "status" in row else None,
            tuple(plain(row[c]) for c in configs))


def first_divergence(sim: pd.DataFrame, real: pd.DataFrame, metric: str, fidelity: str
                     ) -> dict[str, Any]:
    """The first row (results.csv order) where the real run's decisions differ from the
    simulation's, and why: `reason` is one of identical, budget end, event order (the real
    row comes later in the simulation: its events arrived in another order), different
    config, different value, different decision. `index` counts the rows that agree."""
    configs = [c for c in sim.columns if c.startswith("config_") and c in real.columns]
    a = [_key(r, metric, fidelity, configs) for _, r in sim.iterrows()]
    b = [_key(r, metric, fidelity, configs) for _, r in real.iterrows()]
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
             min(len(a), len(b)))
    out: dict[str, Any] = {"index": n, "sim_rows": len(a), "real_rows": len(b)}
    if n == len(a) == len(b):
        return out | {"reason": IDENTICAL}
    if n == min(len(a), len(b)):
        return out | {"reason": END}
    x, y = a[n], b[n]
    out |= {"sim": {"trial_id": x[0], fidelity: x[1], "decision": x[3], "status": x[4]},
            "real": {"trial_id": y[0], fidelity: y[1], "decision": y[3], "status": y[4]}}
    if x[:2] == y[:2]:
        reason = CONFIG if x[5] != y[5] else VALUE if x[2] != y[2] else DECISION
    elif y in a[n + 1:] or x in b[n + 1:]:
        reason = ORDER
    else:
        same_trial = [k for k in a[n + 1:] if k[:2] == y[:2]]
        reason = CONFIG if same_trial and same_trial[0][5] != y[5] else ORDER
    return out | {"reason": reason}


def final(run_dir: Path) -> dict[str, Any]:
    """The end of one run: final regret, trials, epochs trained (reports), clock at the end."""
    info, df = read_one(run_dir)
    return {"regret": float(df["regret"].iloc[-1]) if len(df) else math.nan,
            "trials": int(df["trial_id"].nunique()), "epochs": len(df),
            "end_time": float(df["time"].iloc[-1]) if len(df) else math.nan}


def regret_after(run_dir: Path, epochs: int) -> float:
    """The run's regret after its first `epochs` reports (the last one if it has fewer):
    the simulation cut to the compute the real run managed."""
    df = read_one(run_dir)[1]
    return float(df["regret"].iloc[min(epochs, len(df)) - 1]) if len(df) and epochs else math.nan


def rank_agreement(sim: np.ndarray, real: np.ndarray, rng: np.random.Generator,
                   n_boot: int = 2000) -> dict[str, Any]:
    """Kendall's tau between the methods' mean final regret in simulation and for real
    (arrays of shape (seeds, methods)), with a percentile bootstrap CI that resamples seeds
    (the same seeds on both sides). Resamples where one side ties all methods are left out."""
    from scipy.stats import kendalltau

    def tau(rows: np.ndarray) -> float:
        return float(kendalltau(sim[rows].mean(axis=0), real[rows].mean(axis=0)).statistic)

    n = sim.shape[0]
    if sim.shape[1] < 2:
        return {"tau": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n_boot": 0,
                "n_methods": sim.shape[1], "n_seeds": n}
    point = tau(np.arange(n))
    boot = np.array([tau(rng.integers(0, n, n)) for _ in range(n_boot)])
    boot = boot[np.isfinite(boot)]
    lo, hi = np.quantile(boot, [0.025, 0.975]) if boot.size else (math.nan, math.nan)
    return {"tau": _r(point), "ci_low": _r(lo), "ci_high": _r(hi), "n_boot": n_boot,
            "n_methods": sim.shape[1], "n_seeds": n}


def epoch_times(real_dir: Path, bb: Any) -> pd.DataFrame:
    """One row per epoch the real run trained: its config's table row, the table's CPU
    seconds for that epoch, the measured CPU and wall seconds (from the trial's stdout),
    and whether it was the first epoch of a process (which also loads data/checkpoint)."""
    from simtune.core.backends._trialdir import output_reports

    results = read_results(real_dir).dropna(subset=[bb.fidelity_name])
    hps = list(bb.space.tunable)
    rows = []
    for tid, group in results.groupby("trial_id"):
        first = group.iloc[0]
        config = {**bb.space.constants, **{h: first[f"config_{h}"] for h in hps}}
        row = bb.row(config)
        curve = bb.curve(config, bb.seeds[0])
        elapsed = dict(zip(curve.fidelities, curve.elapsed, strict=True))
        prev_cpu = prev_wall = 0.0
        prev_setup = None
        prev_epoch = 0
        for epoch, m in output_reports(real_dir / "trials" / f"trial_{tid}", bb.fidelity_name):
            table_dt = elapsed[epoch] - elapsed.get(epoch - 1, 0.0)  # this epoch alone
            new_process = m["setup_cpu_s"] != prev_setup
            rows.append({"trial_id": tid, "row": row, "epoch": epoch,
                         "table_cpu": table_dt, "cpu": m["cpu_s"] - prev_cpu,
                         "wall": m["wall_s"] - prev_wall, "first_in_process": new_process,
                         "contiguous": epoch == prev_epoch + 1,
                         "setup_cpu": m["setup_cpu_s"] if new_process else math.nan})
            prev_cpu, prev_wall, prev_setup, prev_epoch = m["cpu_s"], m["wall_s"], \
                m["setup_cpu_s"], epoch
    return pd.DataFrame(rows)


def timing_error(times: pd.DataFrame) -> dict[str, Any]:
    """Measured / table per-epoch time, CPU and wall: median and quartiles over the epochs
    a process trained after its first (the first also loads data or a checkpoint), the
    first epochs apart, and the CPU a trial process spends before training (startup)."""
    if times.empty:
        return {"n_epochs": 0, "cpu_ratio_median": math.nan, "wall_ratio_median": math.nan}
    steady = times[~times["first_in_process"] & times["contiguous"]]
    first = times[times["first_in_process"]]
    out: dict[str, Any] = {"n_epochs": len(times), "n_steady": len(steady)}
    for clock in ("cpu", "wall"):
        ratio = steady[clock] / steady["table_cpu"]
        q = np.quantile(ratio, [0.25, 0.5, 0.75]) if len(ratio) else [math.nan] * 3
        out |= {f"{clock}_ratio_q25": _r(q[0]), f"{clock}_ratio_median": _r(q[1]),
                f"{clock}_ratio_q75": _r(q[2])}
        out[f"{clock}_total_ratio"] = _r(times[clock].sum() / times["table_cpu"].sum())
    out["cpu_relative_error_median"] = _r(float(np.median(
        np.abs(steady["cpu"] / steady["table_cpu"] - 1)))) if len(steady) else math.nan
    out["first_epoch_cpu_extra_median"] = _r(float(np.median(first["cpu"] - first["table_cpu"])))
    out["process_startup_cpu_median"] = _r(float(np.nanmedian(first["setup_cpu"])))
    out["processes"] = int(len(first))
    return out


def value_agreement(real_dir: Path, bb: Any, metric: str) -> dict[str, Any]:
    """How many real reports carry exactly the table's value for their (config, epoch)."""
    results = read_results(real_dir).dropna(subset=[bb.fidelity_name, metric])
    hps = list(bb.space.tunable)
    same = np.zeros(len(results), dtype=bool)
    diff = np.zeros(len(results))
    for i, (_, r) in enumerate(results.iterrows()):
        config = {**bb.space.constants, **{h: r[f"config_{h}"] for h in hps}}
        want = bb.evaluate(config, fidelity=int(r[bb.fidelity_name]), seed=bb.seeds[0])[metric]
        same[i], diff[i] = r[metric] == want, abs(float(r[metric]) - want)
    trials = pd.Series(same).groupby(results["trial_id"].to_numpy()).all()
    return {"reports": len(results), "equal": int(same.sum()),
            "max_abs_diff": float(diff.max()) if len(diff) else 0.0,
            "trials": len(trials), "trials_all_equal": int(trials.sum())}


def compare(study: Any, bb: Any) -> dict[str, Any]:
    """The study's comparison: runs.csv and timing.csv in study.out, summary.json's dict."""
    metric, fidelity = next(iter(bb.objectives)), bb.fidelity_name
    records, times, values = [], [], []
    for w in study.workers:
        for sched in study.schedulers:
            for seed in study.seeds:
                rec: dict[str, Any] = {"n_workers": w, "scheduler": sched, "seed": seed}
                for side in study.sides(sched):
                    end = final(study.run_dir(side, sched, seed, w))
                    rec |= {f"{side}_{k}": v for k, v in end.items()}
                real_dir = study.run_dir("real", sched, seed, w)
                rec["sim_at_real_regret"] = regret_after(study.run_dir("sim", sched, seed, w),
                                                         rec["real_epochs"])
                div = first_divergence(read_results(study.run_dir("sim", sched, seed, w)),
                                       read_results(real_dir), metric, fidelity)
                rec |= {"diverge_at": div["index"], "diverge_reason": div["reason"]}
                records.append(rec)
                t = epoch_times(real_dir, bb)
                times.append(t.assign(scheduler=sched, seed=seed, n_workers=w))
                values.append(value_agreement(real_dir, bb, metric))
                rec["real_end_reason"] = read_metadata(real_dir).get("end_reason")
    runs = pd.DataFrame(records)
    runs.to_csv(study.out / "runs.csv", index=False)
    timing = pd.concat(times, ignore_index=True)
    timing.to_csv(study.out / "timing.csv", index=False)
    taus, taus_cut = {}, {}
    for w, part in runs.groupby("n_workers"):
        pivot = {side: part.pivot(index="seed", columns="scheduler", values=f"{side}_regret")
                 for side in ("sim", "sim_at_real", "real")}
        real = pivot["real"].to_numpy()
        taus[int(w)], taus_cut[int(w)] = (
            rank_agreement(pivot[side].to_numpy(), real, np.random.default_rng(0))
            | {"methods": list(pivot["sim"].columns)} for side in ("sim", "sim_at_real"))
    headline = taus[max(taus)]
    return {
        "task": bb.task, "table": str(study.table or ""), "training": study.training,
        "metric": metric, "schedulers": study.schedulers,
        "seeds": study.seeds, "n_workers": study.workers, "budget": study.budget,
        "clock": study.clock, "train_seed": study.train_seed,
        "kendall_tau": headline, "kendall_tau_by_workers": taus,
        # the simulation cut to the epochs the real run trained (its budget shortfall apart)
        "kendall_tau_at_real_epochs": taus_cut[max(taus_cut)],
        "timing_error": timing_error(timing),
        "values_equal_table": {k: (max if k == "max_abs_diff" else sum)(v[k] for v in values)
                               for k in values[0]},
        "divergence": runs.groupby("diverge_reason").size().to_dict(),
        "charge_decision_time": _charged(runs),
        "runs": records,
    }


CHARGE_SIDES = ("sim", "sim_charged", "simw", "simw_charged", "real")


def _charged(runs: pd.DataFrame) -> dict[str, Any]:
    """What charging decision time changed for each model-based scheduler (means over
    seeds): final regret, trials and epochs, uncharged vs charged, under the CPU budget
    (sim) and the virtual wall-clock budget (simw), beside the real run."""
    out = {}
    if "sim_charged_regret" not in runs:
        return out
    for (w, sched), part in runs.dropna(subset=["sim_charged_regret"]).groupby(
            ["n_workers", "scheduler"]):
        out[f"{sched}-w{w}"] = {
            f"{k}_{side}": _r(part[f"{side}_{k}"].mean())
            for k in ("regret", "trials", "epochs") for side in CHARGE_SIDES
            if f"{side}_{k}" in part}
    return out


def _r(x: float, digits: int = 4) -> float:
    return round(float(x), digits) if math.isfinite(float(x)) else math.nan

"""The figures a newcomer looks at (summary.png, tasks.png, run.png), checked on their
matplotlib objects: titles inside the figure, legends, panels, axes; and which runs
plot_results pools (duplicate seeds, mixed budgets, a single run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from simtune.analysis.curves import fraction_grid, run_curves
from simtune.analysis.figures import summary_figure, tasks_figure
from simtune.analysis.plot_results import load, main, parse_args
from simtune.analysis.run_view import FATES, run_figure
from simtune.analysis.styles import figure, fit_y, groups, log_x, scheduler_styles
from simtune.analysis.variants import family
from tests.test_analysis import write_run

CURVE = [(0.5, 80.0), (3.0, 86.0), (9.0, 90.0), (30.0, 91.0), (100.0, 92.0)]


def sweep(root: Path, schedulers: list[str], tasks: list[str], seeds: int = 2) -> Path:
    """Runs of every scheduler x task x seed, their values a bit apart."""
    for s, sched in enumerate(schedulers):
        for task in tasks:
            for seed in range(seeds):
                rows = [(t, v - 2 * s - seed) for t, v in CURVE]
                write_run(root / f"{sched}-{task}-{seed}", sched, seed, True, rows, task=task)
    return root


def figures(root: Path, *extra: str):
    """(summary, tasks) figures of plot_results on the runs below ``root``, drawn."""
    args = parse_args([str(root), *extra])
    runs, df, _ = load(args)
    schedulers = sorted(df["scheduler"].unique())
    baseline = args.baseline or ("random" if "random" in schedulers else schedulers[0])
    grid, is_log = fraction_grid(df, "time")
    curves, tasks = run_curves(df, "time", grid)
    styles, panels = scheduler_styles(schedulers, baseline), groups(schedulers, baseline)
    rng = np.random.default_rng(0)
    figs = (summary_figure(curves, "time", is_log, "iqm", styles, panels, rng, "headline",
                           baseline),
            tasks_figure(curves, tasks, "time", is_log, "iqm", styles, panels, rng, baseline))
    for fig in figs:
        FigureCanvasAgg(fig).draw()
    return figs


def assert_inside(fig) -> None:
    """The title and everything else drawn lies within the figure's edges."""
    renderer = fig.canvas.get_renderer()
    box = fig.get_tightbbox(renderer)  # inches
    width, height = fig.get_size_inches()
    assert box.x0 >= -0.01 and box.x1 <= width + 0.01, (box, width)
    assert box.y0 >= -0.01 and box.y1 <= height + 0.01, (box, height)
    title = fig._suptitle.get_window_extent(renderer)
    assert title.x0 >= 0 and title.x1 <= fig.bbox.width


def rank_axes(fig) -> list:
    return [ax for ax in fig.axes if "average rank" in ax.get_ylabel()
            or ax.get_ylim()[0] > ax.get_ylim()[1]]


def test_one_task_no_rank_panel_two_tasks_rank_panel_titles_inside(tmp_path: Path) -> None:
    summary, tasks = figures(sweep(tmp_path / "one", ["asha", "random"], ["cifar10"]))
    assert rank_axes(summary) == []
    for fig in (summary, tasks):
        assert_inside(fig)  # one column: the long title is wrapped, not clipped
    assert any("1 = worst first-reported value" in ax.get_ylabel() for ax in summary.axes)
    two, _ = figures(sweep(tmp_path / "two", ["asha", "random"], ["cifar10", "cifar100"]))
    assert len(rank_axes(two)) == 1
    assert_inside(two)


def test_legend_entries_are_of_their_header_family_or_the_baseline(tmp_path: Path) -> None:
    root = sweep(tmp_path / "r", ["asha", "bo"], ["cifar10", "cifar100"])
    summary, _ = figures(root)  # no random: asha, first by name, is the baseline
    legends = {ax.get_legend().get_title().get_text():
               [t.get_text() for t in ax.get_legend().get_texts()]
               for ax in summary.axes if ax.get_legend() is not None}
    assert legends == {"single-fidelity": ["asha (baseline)", "bo"]}
    summary, _ = figures(root, "--baseline", "bo")
    legends = {ax.get_legend().get_title().get_text():
               [t.get_text() for t in ax.get_legend().get_texts()]
               for ax in summary.axes if ax.get_legend() is not None}
    assert legends == {"multi-fidelity, random search": ["bo (baseline)", "asha"]}
    for header, entries in legends.items():
        assert all(e.endswith("(baseline)") or family(e) == header for e in entries)


def test_asha_with_a_model_searcher_is_model_based(tmp_path: Path, capsys) -> None:
    for seed, searcher in enumerate(["bo", "random"]):
        run = write_run(tmp_path / f"r{seed}", "asha", seed, True, [(1.0, 80.0), (2.0, 85.0)],
                        task=f"t{seed}", args={"eta": 3, "searcher": searcher})
        meta = json.loads((run / "metadata.json").read_text())
        meta["scheduler"]["details"] = {"name": "asha", "searcher": {"name": searcher}}
        (run / "metadata.json").write_text(json.dumps(meta))
    assert main([str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    runs = pd.read_csv(tmp_path / "out" / "runs.csv").set_index("task")
    assert runs.loc["t0", "family"] == "multi-fidelity, model-based"
    assert runs.loc["t1", "family"] == "multi-fidelity, random search"


def test_best_value_axis_not_forced_to_zero_and_log_ticks(tmp_path: Path) -> None:
    root = sweep(tmp_path / "r", ["asha", "random"], ["cifar10"])
    for meta_path in root.glob("*/metadata.json"):  # no optimum: the best value is drawn
        meta = json.loads(meta_path.read_text())
        del meta["optimum"]
        meta_path.write_text(json.dumps(meta))
    _, tasks = figures(root)
    panels = [ax for ax in tasks.axes if ax.lines]
    assert len(panels) == 1 and panels[0].get_xscale() == "log"
    low, high = panels[0].get_ylim()
    assert low > 70 and high < 95, (low, high)  # values 77..92, not 0..92
    labels = [t.get_text() for t in panels[0].get_xticklabels() if t.get_text()]
    assert len(labels) >= 5, labels  # 1-2-5 ticks, not the three decades only
    fig, axes = figure(1, 1)
    ax = axes[0][0]
    fit_y(ax, np.array([0.90, 0.97]), None)
    assert 0.85 < ax.get_ylim()[0] < 0.90
    fit_y(ax, np.array([0.01, 0.3]), None)  # 0 near the values: shown
    assert ax.get_ylim()[0] < 0
    log_x(ax, 0.03, 3.3)
    ticks = [t for t in ax.get_xticks() if 0.03 <= t <= 3.3]
    assert len(ticks) >= 5 and ax.xaxis.get_major_formatter()(0.05, 0) == "0.05"


def test_run_view_draws_failed_trials_and_rounds_the_title(tmp_path: Path) -> None:
    run = write_run(tmp_path / "r", "asha", 0, True, [])
    (run / "results.csv").write_text(
        "trial_id,time,epoch,val_accuracy,decision,status,config_lr\n"
        "0,1.0,1,50,continue,running,0.123456789\n1,1.5,1,40,stop,stopped,0.2\n"
        "2,1.7,1,60,pause,paused,0.3\n0,2.0,2,70,continue,completed,0.123456789\n"
        "3,2.2,1,65,continue,running,0.4\n3,2.5,1,,,failed,0.4\n4,2.6,,,,failed,0.5\n")
    fig = run_figure(run)
    FigureCanvasAgg(fig).draw()
    crosses = [line for ax in fig.axes for line in ax.lines if line.get_marker() == "x"]
    assert len(crosses) == 2 + 1  # two on the time panel, one (trial 3) on the epoch panel
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any(t.startswith("failed (2)") for t in labels)
    title = fig._suptitle.get_text()
    assert "lr=0.1235" in title and "0.123456789" not in title
    stopped, paused = FATES["stopped"], FATES["paused"]
    assert stopped["color"] != paused["color"] and stopped["linestyle"] != paused["linestyle"]
    assert_inside(fig)


def test_one_run_writes_its_view_not_the_comparisons(tmp_path: Path, capsys) -> None:
    write_run(tmp_path / "r" / "0", "asha", 0, True, CURVE)
    out = tmp_path / "out"
    assert main([str(tmp_path / "r"), "--out", str(out)]) == 0
    assert (out / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (out / "summary.png").exists() and not (out / "tasks.png").exists()
    assert not (out / "regret_table.md").exists()
    assert "one run: run.png shows it" in capsys.readouterr().err


@pytest.mark.parametrize("order", ["copy first", "copy last"])
def test_duplicate_seeds_counted_once_and_mixed_budgets_warned(tmp_path: Path, capsys,
                                                               order: str) -> None:
    root = sweep(tmp_path / "r", ["asha", "random"], ["cifar10"], seeds=2)
    copy = root / ("0-copy" if order == "copy first" else "z-copy")
    write_run(copy, "asha", 0, True, [(1.0, 10.0), (100.0, 20.0)])  # asha seed 0 again
    short = write_run(root / "short", "random", 7, True, [(1.0, 50.0), (40.0, 60.0)])
    meta = json.loads((short / "metadata.json").read_text())
    meta["stop"] = {"max_time": 40, "max_trials": None}
    (short / "metadata.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    assert main([str(root), "--out", str(out), "--budget-fractions", "1.0"]) == 0
    err = capsys.readouterr().err
    assert "warning: 1 run(s) repeat the scheduler, task and seed of another run and are " \
           "left out" in err
    assert "warning: runs of nasbench201/cifar10 with different budgets are pooled " \
           "(max_time=100: 4 run(s); max_time=40: 1 run(s))" in err
    runs = pd.read_csv(out / "runs.csv")
    dup = runs[runs["left_out"].fillna("").str.startswith("duplicate seed of ")]
    assert len(dup) == 1 and dup["seed"].iloc[0] == 0 and dup["label"].iloc[0] == "asha"
    kept = dup["left_out"].iloc[0].removeprefix("duplicate seed of ")
    assert kept == min(str(copy), str(root / "asha-cifar10-0"))  # the first by directory
    assert (runs["note"] == "pooled with runs of other budgets").sum() == 5
    table = pd.read_csv(out / "significance.csv").set_index("scheduler")
    assert table.loc["asha", "n_runs"] == 2 and table.loc["random", "n_runs"] == 3
    md = (out / "regret_table.md").read_text()
    assert "Warning: 1 run(s) repeat the scheduler" in md and "different budgets" in md

"""Loggers (core/loggers): what they write, read back with the real libraries.

TensorBoard through its EventAccumulator, MLflow through MlflowClient, W&B through the
offline run files (wandb-core's `leet inspect`); on the simulated backend in-process and
on backend=python through run.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from simtune.blackboxes import repository
from simtune.core.loggers import make_loggers
from simtune.core.loggers.base import Logger
from simtune.core.rundir import open_run
from simtune.core.stopping import StoppingCriterion
from simtune.experiments.assemble import assemble
from tests.helpers import run_py

ROOT = Path(__file__).resolve().parents[1]
N_TRIALS = 6
OFFLINE = {"WANDB_MODE": "offline", "WANDB_ERROR_REPORTING": "false", "WANDB_SILENT": "true"}


def simulated_run(out: Path, loggers: list, *, interrupt_after: int | None = None,
                  n_trials: int = N_TRIALS, resume: bool = True):
    """ASHA on mlp_sklearn digits (shipped), simulated, 2 workers, results into `out`."""
    bb = repository.load_shared("mlp_sklearn", "digits")
    run = assemble(bb, "asha", seed=0, stop=StoppingCriterion(max_trials=n_trials), n_workers=2)
    session = open_run(out, fidelity=bb.fidelity_name, metrics=list(bb.objectives),
                       hyperparameters=list(bb.space), resume=resume)
    callbacks = [*loggers, *([Interrupt(interrupt_after)] if interrupt_after else [])]
    return run.tuner(session=session, callbacks=callbacks).run()


class Interrupt(Logger):
    """Ctrl-C after `after` reports (after the loggers have seen the report)."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after, self.seen = after, 0

    def on_report(self, trial, report, decision) -> None:
        self.seen += 1
        if self.seen == self.after:
            raise KeyboardInterrupt


def scalars(logdir: Path, tag: str) -> list[tuple[int, float, float]]:
    """(step, value, wall time) of `tag` in the event files of `logdir`, TensorBoard's reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir), purge_orphaned_data=False)
    acc.Reload()
    if tag not in acc.Tags()["scalars"]:
        return []
    return [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]


def mlflow_client(out: Path, uri: str | None = None) -> object:
    """MLflow's client of the run in `out` (its default database, or `uri`)."""
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri or f"sqlite:///{(out / 'mlflow.db').resolve()}")


def mlflow_runs(out: Path, uri: str | None = None) -> tuple[object, dict[int, object]]:
    """The parent run and {trial id: run} in the MLflow store of `out` (or `uri`), read by
    MLflow's client."""
    client = mlflow_client(out, uri)
    experiment = client.get_experiment_by_name("simtune")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    children = {int(r.data.tags["simtune.trial_id"]): r for r in runs
                if "mlflow.parentRunId" in r.data.tags}
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
               for r in children.values())
    return parents[0], children


def wandb_runs(out: Path) -> list[dict]:
    """The summaries of the offline W&B runs in `out`/wandb, read by wandb-core itself."""
    from wandb.util import get_core_path

    found = []
    for path in sorted((out / "wandb").glob("offline-run-*/run-*.wandb")):
        text = subprocess.run(
            [get_core_path(), "leet", "inspect", "-no-observability", "-summary", "-json",
             "-run-file", str(path)], capture_output=True, text=True, check=True, timeout=60,
            env={**os.environ, **OFFLINE}).stdout
        found.append(json.loads(text))
    return found


def trial_rows(out: Path) -> dict[int, pd.DataFrame]:
    rows = pd.read_csv(out / "results.csv")
    return {int(t): g[g["decision"].notna()] for t, g in rows.groupby("trial_id")}


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """One simulated run with all three loggers (W&B offline), and its twin without."""
    out = tmp_path_factory.mktemp("logged")
    bare = tmp_path_factory.mktemp("bare")
    saved = {k: os.environ.get(k) for k in OFFLINE}
    os.environ.update(OFFLINE)
    try:
        loggers = make_loggers({"tensorboard": {}, "mlflow": {}, "wandb": {}})
        summary = simulated_run(out, loggers)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    simulated_run(bare, [])
    assert not any(logger.disabled for logger in loggers)
    return out, bare, summary


def test_no_logger_changes_results_csv(logged):
    out, bare, _ = logged
    assert (out / "results.csv").read_bytes() == (bare / "results.csv").read_bytes()
    assert sorted(p.name for p in bare.iterdir()) == ["metadata.json", "results.csv"]


def test_tensorboard_has_a_series_per_trial_and_metric_against_the_fidelity(logged):
    out, _, summary = logged
    rows = trial_rows(out)
    assert len(rows) == N_TRIALS
    for trial_id, group in rows.items():
        logdir = out / "tensorboard" / f"trial_{trial_id}"
        got = scalars(logdir, "val_accuracy")
        assert [(s, round(v, 5)) for s, v, _ in got] == [
            (int(f), round(v, 5)) for f, v in zip(group["epoch"], group["val_accuracy"],
                                                   strict=True)]
        # wall times are the run's start plus the backend's (virtual) clock
        walls = [w - got[0][2] for _, _, w in got]
        assert walls == pytest.approx(list(group["time"] - group["time"].iloc[0]), abs=1e-3)
        assert [round(v, 3) for _, v, _ in scalars(logdir, "time")] == [
            round(t, 3) for t in group["time"]]
    best = scalars(out / "tensorboard", "best/val_accuracy")
    assert best and best[-1][1] == pytest.approx(summary.best, abs=1e-6)
    assert [s for s, _, _ in best] == sorted(s for s, _, _ in best)


def test_tensorboard_hparams_plugin_sees_every_trial(logged):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    out, _, _ = logged
    root = EventAccumulator(str(out / "tensorboard"))
    root.Reload()
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        root.PluginTagToContent("hparams")["_hparams_/experiment"]).experiment
    assert "learning_rate_init" in {h.name for h in experiment.hparam_infos}
    assert "val_accuracy" in {m.name.tag for m in experiment.metric_infos}
    configs = pd.read_csv(out / "results.csv").drop_duplicates("trial_id").set_index("trial_id")
    for trial_id in range(N_TRIALS):
        acc = EventAccumulator(str(out / "tensorboard" / f"trial_{trial_id}"))
        acc.Reload()
        content = acc.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(
            content["_hparams_/session_start_info"]).session_start_info
        assert start.hparams["width"].number_value == configs.loc[trial_id, "config_width"]
        assert start.hparams["activation"].string_value == configs.loc[trial_id,
                                                                       "config_activation"]
        assert "_hparams_/session_end_info" in content


def test_mlflow_has_a_parent_run_and_a_nested_run_per_trial(logged):
    out, _, summary = logged
    assert_mlflow_has_every_report(out)
    parent, children = mlflow_runs(out)
    location = mlflow_client(out).get_experiment_by_name("simtune").artifact_location
    assert location == (out / "mlartifacts").resolve().as_uri() + "/1"
    for run in (parent, *children.values()):  # where MLflow would put their artifacts
        assert run.info.artifact_uri == f"{location}/{run.info.run_id}/artifacts"
    assert sorted(children) == list(range(N_TRIALS))
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(summary.best)
    client = mlflow_client(out)
    results = pd.read_csv(out / "results.csv")
    for trial_id, group in trial_rows(out).items():
        run = children[trial_id]
        config = results[results["trial_id"] == trial_id].iloc[0]
        assert run.data.params["width"] == str(config["config_width"])
        assert run.data.params["activation"] == config["config_activation"]
        last = results[results["trial_id"] == trial_id].iloc[-1]
        assert run.data.tags["status"] == last["status"]
        assert run.data.tags["decision"] == group["decision"].iloc[-1]
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [(m.step, round(m.value, 6)) for m in history] == [
            (int(f), round(v, 6)) for f, v in zip(group["epoch"], group["val_accuracy"],
                                                  strict=True)]
        # timestamps: the run's start plus the virtual clock, in ms
        stamps = [m.timestamp - history[0].timestamp for m in history]
        assert stamps == pytest.approx(list((group["time"] - group["time"].iloc[0]) * 1000),
                                       abs=2)
        assert run.info.status == "FINISHED"


def test_wandb_writes_one_offline_run_per_trial_grouped_by_the_run(logged):
    out, _, _ = logged
    runs = wandb_runs(out)
    assert sorted(r["name"] for r in runs) == sorted(f"trial_{t}" for t in range(N_TRIALS))
    assert len({r["run_id"].rsplit("-", 1)[0] for r in runs}) == 1  # one group
    results = pd.read_csv(out / "results.csv")
    rows = trial_rows(out)
    for run in runs:
        trial_id = int(run["name"].removeprefix("trial_"))
        group = rows[trial_id]
        assert run["state"] == "finished"
        assert run["step"] == int(group["epoch"].iloc[-1])
        assert run["summary"]["val_accuracy"] == pytest.approx(group["val_accuracy"].iloc[-1])
        assert run["summary"]["status"] == results[results["trial_id"] == trial_id][
            "status"].iloc[-1]
        assert run["config"]["width"] == group["config_width"].iloc[0]


def test_a_resumed_run_logs_each_point_once(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        simulated_run(out, make_loggers({"tensorboard": {}, "mlflow": {}}),
                      interrupt_after=12, n_trials=8)
    assert len(pd.read_csv(out / "results.csv")) == 12
    summary = simulated_run(out, make_loggers({"tensorboard": {}, "mlflow": {}}), n_trials=8)
    assert summary.complete
    rows = trial_rows(out)
    parent, children = mlflow_runs(out)  # one parent: the resume continued it
    assert sorted(children) == list(range(8))

    client = mlflow_client(out)
    for trial_id, group in rows.items():
        steps = list(group["epoch"].astype(int))
        tb = [s for s, _, _ in scalars(out / "tensorboard" / f"trial_{trial_id}",
                                       "val_accuracy")]
        assert sorted(tb) == steps, trial_id  # every point once, over both processes
        history = client.get_metric_history(children[trial_id].info.run_id, "val_accuracy")
        assert sorted(m.step for m in history) == steps, trial_id


def test_a_run_set_aside_takes_what_its_loggers_wrote_along(tmp_path):
    out = tmp_path / "run"
    simulated_run(out, make_loggers({"tensorboard": {}}), n_trials=3)
    simulated_run(out, make_loggers({"tensorboard": {}}), n_trials=2, resume=False)
    old, new = out / "superseded" / "0" / "tensorboard", out / "tensorboard"
    assert sorted(p.name for p in old.glob("trial_*")) == ["trial_0", "trial_1", "trial_2"]
    assert sorted(p.name for p in new.glob("trial_*")) == ["trial_0", "trial_1"]
    assert len(list((new / "trial_0").iterdir())) == 1  # one event file: the new run's


def assert_mlflow_has_every_report(out: Path, uri: str | None = None) -> None:
    """Each trial of results.csv has its MLflow run, its reports as `val_accuracy` history
    (step = epoch), its last status as tag and its newest value as the run's metric."""
    _, children = mlflow_runs(out, uri)
    client = mlflow_client(out, uri)
    assert sorted(children) == sorted(trial_rows(out))
    for trial_id, group in trial_rows(out).items():
        run = children[trial_id]
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        assert [(m.step, m.value) for m in history] == list(zip(
            group["epoch"].astype(int), group["val_accuracy"], strict=True)), trial_id
        assert run.data.metrics["val_accuracy"] == group["val_accuracy"].iloc[-1]
        assert run.data.tags["status"] == group["status"].iloc[-1]


def test_mlflow_to_another_tracking_uri_goes_through_its_client(tmp_path, monkeypatch):
    """A file store (any URI but a SQLite file): MLflow's client writes it, in full."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    out, uri = tmp_path / "run", (tmp_path / "mlruns").resolve().as_uri()
    summary = simulated_run(out, make_loggers({"mlflow": {"tracking_uri": uri}}))
    assert summary.complete and not (out / "mlflow.db").exists()
    assert list((tmp_path / "mlruns").iterdir())  # MLflow's file store, not ours
    assert_mlflow_has_every_report(out, uri)
    assert mlflow_runs(out, uri)[0].info.status == "FINISHED"


def test_a_database_of_tables_unknown_to_the_fast_writer_goes_through_mlflows_client(
        tmp_path, monkeypatch, caplog):
    """A schema whose tables lack a column the SQLite writer writes (as a future MLflow's
    may): one warning, and MLflow's client writes the same runs."""
    from simtune.core.loggers import mlflow_sqlite

    monkeypatch.setitem(mlflow_sqlite.WRITES, "runs",
                        (*mlflow_sqlite.WRITES["runs"], "shard"))
    out = tmp_path / "run"
    loggers = make_loggers({"mlflow": {}})
    loggers[0].in_process = False  # its warning in this process, where caplog sees it
    with caplog.at_level(logging.WARNING, logger="simtune.loggers"):
        summary = simulated_run(out, loggers)
    said = [r.getMessage() for r in caplog.records if r.name == "simtune.loggers"]
    assert said == [f"logger mlflow: {(out / 'mlflow.db').resolve()}: MLflow's table runs "
                    "lacks the columns ['shard'], which simtune's SQLite writer does not "
                    "know; writing through MLflow's client instead (slower)"], said
    assert summary.complete and not loggers[0].disabled
    assert_mlflow_has_every_report(out)


def test_a_logger_that_raises_is_disabled_with_one_warning(tmp_path, caplog):
    out = tmp_path / "run"
    out.mkdir()
    (out / "tensorboard").write_text("a file where the logger wants its directory")
    loggers = make_loggers({"tensorboard": {}, "mlflow": {}})
    with caplog.at_level(logging.WARNING, logger="simtune.loggers"):
        summary = simulated_run(out, loggers)
    assert summary.complete and summary.n_started == N_TRIALS
    said = [r.getMessage() for r in caplog.records if r.name == "simtune.loggers"]
    assert len(said) == 1 and said[0].startswith("logger tensorboard disabled"), said
    assert loggers[0].disabled and not loggers[1].disabled
    assert sorted(mlflow_runs(out)[1]) == list(range(N_TRIALS))  # mlflow went on


class Sigint(Logger):
    """A real SIGINT to this process after `after` reports (the Tuner holds it until its
    loop next waits, then raises KeyboardInterrupt)."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after, self.seen = after, 0

    def on_report(self, trial, report, decision) -> None:
        self.seen += 1
        if self.seen == self.after:
            os.kill(os.getpid(), signal.SIGINT)


def assert_every_report_logged(out: Path) -> None:
    """Each report in results.csv is in TensorBoard's and MLflow's record of its trial, once."""

    _, children = mlflow_runs(out)
    client = mlflow_client(out)
    for trial_id, group in trial_rows(out).items():
        steps = list(group["epoch"].astype(int))
        tb = [s for s, _, _ in scalars(out / "tensorboard" / f"trial_{trial_id}",
                                       "val_accuracy")]
        assert tb == steps, trial_id
        history = client.get_metric_history(children[trial_id].info.run_id, "val_accuracy")
        assert [m.step for m in history] == steps, trial_id


@pytest.fixture
def interactive_sigint():
    """SIGINT raising KeyboardInterrupt, as in an interactive shell, for one test: whatever
    disposition the test process had is restored after. (A shell without job control, as
    CI's may be, starts background commands with SIGINT ignored; the ignoring is inherited
    by every process below, Python keeps it, and the Tuner holds Ctrl-C only over Python's
    default handler. That is why this test's SIGINT never reached the Tuner in one CI run.)
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("interactive_sigint")
def test_a_run_stopped_by_sigint_has_its_logs_written_when_it_returns(tmp_path, monkeypatch):
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "run"
    loggers = make_loggers({"tensorboard": {}, "mlflow": {}, "wandb": {}})
    bb = repository.load_shared("mlp_sklearn", "digits")
    run = assemble(bb, "asha", seed=0, stop=StoppingCriterion(max_trials=8), n_workers=2)
    session = open_run(out, fidelity=bb.fidelity_name, metrics=list(bb.objectives),
                       hyperparameters=list(bb.space))
    with pytest.raises(KeyboardInterrupt):
        run.tuner(session=session, callbacks=[*loggers, Sigint(10)]).run()
    assert not any(logger.disabled for logger in loggers)
    rows = pd.read_csv(out / "results.csv")
    assert 10 <= len(rows) < 20  # stopped early, by the signal
    assert_every_report_logged(out)  # the writers drained before run() raised
    parent, children = mlflow_runs(out)
    assert parent.info.status == "KILLED"
    running = {t for t, g in rows.groupby("trial_id") if g["status"].iloc[-1] == "running"}
    assert running and {t for t, r in children.items() if r.info.status == "KILLED"} == running
    wandb = {int(r["name"].removeprefix("trial_")): r for r in wandb_runs(out)}
    assert sorted(wandb) == sorted(children)  # one offline run per trial that reported
    for trial_id, group in trial_rows(out).items():
        assert wandb[trial_id]["step"] == int(group["epoch"].iloc[-1]), trial_id
        assert wandb[trial_id]["summary"]["status"] == rows[rows["trial_id"] == trial_id][
            "status"].iloc[-1]


def test_running_trials_are_flushed_while_they_run(tmp_path):
    """flush_every=0: each report is sent at once; a trial's points are on disk before it
    ends, and none is written twice."""
    out = tmp_path / "run"
    loggers = make_loggers({"tensorboard": {}, "mlflow": {}})
    for logger in loggers:
        logger.flush_every = 0.0
    seen: dict[int, int] = {}

    class Watch(Logger):  # after the loggers: wait for their writers, then read back
        def on_report(self, trial, report, decision) -> None:
            if trial.trial_id in seen or report.fidelity < 2 or decision.value != "continue":
                return
            for logger in loggers:
                assert logger.sync(60)
            seen[trial.trial_id] = len(scalars(out / "tensorboard" / f"trial_{trial.trial_id}",
                                               "val_accuracy"))

    simulated_run(out, [*loggers, Watch()])
    assert seen and all(n >= 2 for n in seen.values()), seen  # live, before the trial ended
    assert_every_report_logged(out)
    assert all(len(list(p.iterdir())) == 1 for p in (out / "tensorboard").glob("trial_*"))


def test_a_logger_failing_on_its_writer_thread_mid_run_is_disabled_once(tmp_path, caplog):
    out = tmp_path / "run"
    (out / "tensorboard").mkdir(parents=True)
    (out / "tensorboard" / "trial_3").write_text("a file where trial 3's directory goes")
    loggers = make_loggers({"tensorboard": {}})
    with caplog.at_level(logging.WARNING, logger="simtune.loggers"):
        summary = simulated_run(out, loggers)
    assert summary.complete and summary.n_started == N_TRIALS
    said = [r.getMessage() for r in caplog.records if r.name == "simtune.loggers"]
    assert len(said) == 1 and said[0].startswith("logger tensorboard disabled"), said
    assert "FileExistsError" in said[0] and loggers[0].disabled
    assert scalars(out / "tensorboard" / "trial_0", "val_accuracy")  # written before


FIT = textwrap.dedent("""
    from pathlib import Path

    def fit(config, reporter, checkpoint_dir=None):
        if config["x"] == 3:
            raise RuntimeError("x=3 is not allowed")
        for epoch in range(1, 4):
            Path(checkpoint_dir, "epoch.txt").write_text(str(epoch))
            reporter(epoch=epoch, loss=config["x"] / epoch)
""")


@pytest.fixture(scope="module")
def python_run(tmp_path_factory):
    """run.py, backend=python, all three loggers (W&B offline): 4 trials, x=3's fails."""
    tmp = tmp_path_factory.mktemp("python")
    (tmp / "fit.py").write_text(FIT)
    (tmp / "space.yaml").write_text("x: {type: choice, categories: [1, 2, 3, 4]}\n")
    out = tmp / "run"
    proc = run_py(["benchmark=custom", "benchmark.training=fit.py:fit",
                   "benchmark.space=space.yaml", "benchmark.metric=loss", "benchmark.mode=min",
                   "benchmark.max_fidelity=3", "backend=python", "scheduler=grid",
                   "stop.max_trials=4", "n_workers=2", "logger=[tensorboard,mlflow,wandb]"],
                  tmp, out, **OFFLINE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_python_backend_logs_every_trial(python_run):
    out = python_run
    results = pd.read_csv(out / "results.csv")
    configs = results.drop_duplicates("trial_id").set_index("trial_id")["config_x"]
    _, children = mlflow_runs(out)
    assert sorted(children) == sorted(configs.index)
    for trial_id, x in configs.items():
        run = children[trial_id]
        steps = [s for s, _, _ in scalars(out / "tensorboard" / f"trial_{trial_id}", "loss")]
        if x == 3:
            assert run.info.status == "FAILED" and steps == []
            assert "x=3 is not allowed" in run.data.tags["error"]
        else:
            assert run.info.status == "FINISHED" and steps == [1, 2, 3]
            assert run.data.tags["status"] == "completed"
            assert run.data.metrics["loss"] == pytest.approx(x / 3)
    wandb = {int(r["name"].removeprefix("trial_")): r for r in wandb_runs(out)}
    assert sorted(wandb) == sorted(configs.index)  # one offline run per trial
    for trial_id, x in configs.items():
        summary = wandb[trial_id]["summary"]
        assert summary["status"] == ("failed" if x == 3 else "completed")
        assert wandb[trial_id]["exit_code"] == (1 if x == 3 else 0)
        if x != 3:
            assert summary["loss"] == pytest.approx(x / 3) and wandb[trial_id]["step"] == 3
        else:
            assert "x=3 is not allowed" in summary["error"]


def test_results_give_each_trials_checkpoint_and_error(python_run):
    from simtune import load_run

    run = load_run(python_run)
    trials = run.trials()
    configs = run.configs()
    for trial_id, row in trials.iterrows():
        if configs[trial_id]["x"] == 3:
            assert row["status"] == "failed" and "x=3 is not allowed" in row["error"]
        else:
            assert row["status"] == "completed" and row["error"] is None
            assert (row["checkpoint"] / "epoch.txt").read_text() == "3"
    best = run.best()
    assert configs[best.trial_id]["x"] == 1
    assert best.checkpoint == python_run / "trials" / f"trial_{best.trial_id}" / "checkpoints"


def test_simulated_runs_have_no_checkpoint(logged):
    from simtune import load_run

    run = load_run(logged[0])
    assert run.best(metric="val_accuracy", mode="max").checkpoint is None
    assert run.trials()["checkpoint"].isna().all() and run.trials()["error"].isna().all()


def test_a_missing_library_is_one_line_naming_the_extra_and_nothing_is_written(tmp_path):
    hide = tmp_path / "hide"
    (hide / "mlflow").mkdir(parents=True)  # an mlflow that cannot be imported
    (hide / "mlflow" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    out = tmp_path / "run"
    proc = run_py(["benchmark=synthetic", "stop.max_trials=3", "logger=[tensorboard,mlflow]"],
                  tmp_path, out, PYTHONPATH=str(hide))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == ['error: logger=mlflow needs mlflow (mlflow-skinny), which is not '
                     'installed: pip install "simtune[mlflow]"'], proc.stderr
    assert not out.exists()


def test_bad_logger_choices_and_parameters_are_one_line():
    from simtune.experiments.sweeps.overrides import check_command_line

    conf = ROOT / "conf"
    assert check_command_line(["logger=[tensorboard,mlflow]", "logger.mlflow.experiment=x"],
                              conf) is None
    assert check_command_line(["logger=[tensorboard,nope]"], conf) == (
        "logger=nope: no such logger; available: mlflow, tensorboard, wandb")
    assert "logger 'mlflow' is not chosen; add logger=mlflow" in check_command_line(
        ["logger=tensorboard", "logger.mlflow.experiment=x"], conf)
    with pytest.raises(ValueError, match="logger.mlflow.bogus is not a parameter of logger "
                                         "mlflow; its parameters: tracking_uri, experiment"):
        make_loggers({"mlflow": {"bogus": 1}})
    with pytest.raises(ValueError, match="unknown logger 'nope'; available: tensorboard"):
        make_loggers({"nope": {}})

"""blackboxes/tabulate.py on real training: the sklearn MLP on wine, a few configs x 2 seeds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simtune.blackboxes.blackbox import TIME, TabularBlackbox
from simtune.blackboxes.sources.mlp_sklearn import OBJECTIVES, TRAINING, mlp_sklearn_space
from simtune.blackboxes.tabulate import grid, load_space, main, random_configs, tabulate
from simtune.blackboxes.tabulate_eval import evaluate, load_function
from simtune.core.space import Space, choice, uniform

ROOT = Path(__file__).resolve().parents[1]
FN = f"{ROOT / TRAINING.partition(':')[0]}:train"  # works from any working directory
SEEDS = [0, 1]
EPOCHS = 3


def _space() -> Space:
    return mlp_sklearn_space("wine")


def _configs() -> list[dict]:
    # 3 configs that differ in every hyperparameter family (rows 0, 100, 200 of the grid)
    return grid(_space())[::100]


def _table(**kwargs) -> TabularBlackbox | None:
    return tabulate(
        FN,
        _space(),
        configs=_configs(),
        seeds=SEEDS,
        max_fidelity=EPOCHS,
        objectives=OBJECTIVES,
        name="mlp_test",
        task="wine",
        progress=False,
        **{"workers": 0, **kwargs},
    )


@pytest.fixture(scope="module")
def table() -> TabularBlackbox:
    bb = _table()
    assert bb is not None
    return bb


def test_shape_and_monotone_time(table: TabularBlackbox) -> None:
    assert dict(table.ds.sizes) == {"config": 3, "seed": 2, "fidelity": EPOCHS}
    assert table.fidelities == [1, 2, 3] and table.seeds == SEEDS
    assert set(table.objectives) == set(OBJECTIVES)
    for name in [*OBJECTIVES, TIME, "cpu_time"]:
        assert np.isfinite(table.ds[name].values).all(), name
    for name in (TIME, "cpu_time"):
        t = table.ds[name].values
        assert (t > 0).all() and (np.diff(t, axis=2) > 0).all(), name
    # the configurations are the rows, in the order given
    assert table.configs() == _configs()
    attrs = table.ds.attrs
    assert json.loads(attrs["seeds"]) == SEEDS
    assert "scikit-learn" in json.loads(attrs["versions"])
    assert json.loads(attrs["machine"])["cpu_count"] >= 1


def test_values_equal_a_direct_call(table: TabularBlackbox) -> None:
    fn = load_function(FN)
    config, seed = _configs()[1], 1
    reports: list[dict] = []
    fn({**config, "seed": seed, "epochs": EPOCHS}, lambda **m: reports.append(m))
    assert [r["epoch"] for r in reports] == [1, 2, 3]
    curve = table.curve(config, seed)
    for name in OBJECTIVES:
        assert curve.metrics[name] == [r[name] for r in reports], name
    # seeds differ: another split and initialization gives another curve
    other = table.curve(config, 0).metrics["val_logloss"]
    assert other != curve.metrics["val_logloss"]


def test_resume_after_interruption_gives_the_same_table(
    table: TabularBlackbox, tmp_path: Path
) -> None:
    ckpt = tmp_path / "eval.jsonl"
    assert _table(checkpoint=ckpt, limit=2) is None  # interrupted after 2 of 6 evaluations
    lines = ckpt.read_text().splitlines()
    assert len(lines) == 1 + 1 + 2 + 1  # header, part start, 2 evaluations, part end
    first = [json.loads(line) for line in lines[2:4]]
    with open(ckpt, "a") as f:
        f.write('{"config": 1, "seed"')  # a line torn by a kill: ignored, evaluated again
    resumed = _table(checkpoint=ckpt)
    assert resumed is not None
    for name in OBJECTIVES:
        np.testing.assert_array_equal(resumed.ds[name].values, table.ds[name].values)
    # the 2 finished evaluations were not redone: their measured times are kept as they were
    for row in first:
        s = SEEDS.index(row["seed"])
        assert resumed.ds[TIME].values[row["config"], s].tolist() == row["elapsed"]
    rows = [json.loads(line) for line in ckpt.read_text().splitlines() if line.endswith("}")]
    assert len(rows) == 1 + 6 + 2 * 2  # the header, 6 evaluations, 2 parts of 2 lines
    assert resumed.ds.attrs["wallclock_parts"] == 2


def test_wallclock_seconds_sums_every_part(tmp_path: Path) -> None:
    ckpt = tmp_path / "eval.jsonl"

    def rewrite(edit) -> None:
        rows = [json.loads(line) for line in ckpt.read_text().splitlines()]
        ckpt.write_text("".join(json.dumps(r) + "\n" for r in edit(rows)))

    assert _table(checkpoint=ckpt, limit=2) is None  # part 1, made 1000 s long
    rewrite(lambda rows: [{"part": r["part"] - 1000} if "part" in r else r for r in rows])
    assert _table(checkpoint=ckpt, limit=2) is None  # part 2, killed 50 s after its start

    def killed(rows):
        start = rows[5]["part"]
        rows[6]["at"], rows[7]["at"] = start + 10, start + 50
        return rows[:8]  # no part_end: a kill leaves none

    rewrite(killed)
    bb = _table(checkpoint=ckpt)  # part 3 finishes the table
    assert bb is not None
    spans: list[float] = []
    for row in map(json.loads, ckpt.read_text().splitlines()[1:]):
        if "part" in row:
            start = row["part"]
            spans.append(0.0)
        spans[-1] = max(spans[-1], row.get("part_end", row.get("at", start)) - start)
    assert len(spans) == 3 and spans[0] >= 1000 and spans[1] == 50
    assert bb.ds.attrs["wallclock_seconds"] == pytest.approx(sum(spans), abs=0.051)
    assert bb.ds.attrs["wallclock_parts"] == 3 and "wallclock_note" not in bb.ds.attrs


def test_a_checkpoint_without_timed_parts_says_what_it_did_not_count(tmp_path: Path) -> None:
    ckpt = tmp_path / "eval.jsonl"
    assert _table(checkpoint=ckpt, limit=2) is None
    rows = [json.loads(line) for line in ckpt.read_text().splitlines()]
    old = [r for r in rows if "part" not in r and "part_end" not in r]  # the earlier format
    ckpt.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "at"}) + "\n"
                            for r in old))
    bb = _table(checkpoint=ckpt)
    assert bb is not None and bb.ds.attrs["wallclock_parts"] == 1
    assert bb.ds.attrs["wallclock_note"].startswith("2 evaluations were made by parts that")


def test_checkpoint_of_another_job_is_refused(tmp_path: Path) -> None:
    ckpt = tmp_path / "eval.jsonl"
    assert _table(checkpoint=ckpt, limit=1) is None
    with pytest.raises(ValueError, match="belongs to another job.*max_fidelity"):
        tabulate(
            FN,
            _space(),
            configs=_configs(),
            seeds=SEEDS,
            max_fidelity=2,
            objectives=OBJECTIVES,
            name="x",
            task="wine",
            workers=0,
            checkpoint=ckpt,
            progress=False,
        )


@pytest.mark.slow  # spawns 2 worker processes that import scikit-learn
def test_worker_processes_give_the_same_values(table: TabularBlackbox) -> None:
    parallel = _table(workers=2, clock="cpu")
    assert parallel is not None
    for name in OBJECTIVES:
        np.testing.assert_array_equal(parallel.ds[name].values, table.ds[name].values)
    assert parallel.ds.attrs["clock"] == "cpu"
    # cpu time of a single-threaded job never exceeds its wall-clock time by much
    assert (parallel.ds[TIME].values <= parallel.ds["wall_time"].values * 1.05 + 0.01).all()


def test_cli_interrupt_resume_and_save(tmp_path: Path) -> None:
    out = tmp_path / "t.h5"
    argv = [
        FN, "--space", "simtune.blackboxes.sources.mlp_sklearn:mlp_sklearn_space",
        "--n-configs", "2", "--config-seed", "3", "--seeds", "5", "--max-fidelity", "2",
        "--name", "mlp_test", "--task", "wine", "--objective", "val_accuracy=max",
        "--out", str(out), "--workers", "0", "--no-progress",
    ]  # fmt: skip
    assert main([*argv, "--limit", "1"]) == 0 and not out.exists()
    assert Path(f"{out}.jsonl").exists()
    assert main(argv) == 0
    assert not Path(f"{out}.jsonl").exists()  # removed once the table is written
    bb = TabularBlackbox.load(out)
    assert dict(bb.ds.sizes) == {"config": 2, "seed": 1, "fidelity": 2}
    assert bb.configs() == random_configs(_space(), 2, np.random.default_rng(3))
    assert bb.objectives == {"val_accuracy": "max"}
    assert "val_logloss" in bb.ds  # reported metrics that are not objectives are kept
    assert json.loads(bb.ds.attrs["command"])[4:6] == ["--space", argv[2]]


def test_cli_bad_input_gives_one_readable_line(tmp_path: Path, capsys) -> None:
    base = [
        "--grid",
        "--seeds",
        "0",
        "--max-fidelity",
        "2",
        "--name",
        "n",
        "--task",
        "wine",
        "--objective",
        "val_accuracy=max",
        "--out",
        str(tmp_path / "t.h5"),
    ]
    assert (
        main(
            [
                "nowhere/train.py:train",
                "--space",
                "simtune.blackboxes.sources.mlp_sklearn:mlp_sklearn_space",
                *base,
            ]
        )
        == 2
    )
    assert "no file" in capsys.readouterr().err
    assert main([FN, "--space", "simtune.blackboxes.sources.mlp_sklearn:nothing", *base]) == 2
    assert "has no attribute 'nothing'" in capsys.readouterr().err


def test_grid_and_random_configs() -> None:
    space = Space({"a": choice([1, 2]), "b": choice(["x", "y", "z"]), "c": 7})
    assert grid(space)[:2] == [{"c": 7, "a": 1, "b": "x"}, {"c": 7, "a": 1, "b": "y"}]
    assert len(grid(space)) == 6 and len(random_configs(space, 50, np.random.default_rng(0))) == 6
    assert len(grid(_space())) == 288
    with pytest.raises(ValueError, match="continuous"):
        grid(Space({"x": uniform(0, 1)}))
    with pytest.raises(ValueError, match="bad function reference"):
        load_function("no_colon")


def test_space_from_json_file(tmp_path: Path) -> None:
    path = tmp_path / "space.json"
    path.write_text(_space().to_json())
    assert load_space(str(path), "ignored") == _space()
    assert (
        load_space("simtune.blackboxes.sources.mlp_sklearn:mlp_sklearn_space", "digits")["dataset"]
        == "digits"
    )


def test_evaluate_stops_at_max_fidelity() -> None:
    config = {**_configs()[0], "epochs": 50}  # the function would train 50 epochs
    result = evaluate(FN, config, seed=0, max_fidelity=2)
    assert result["fidelity"] == [1, 2] and len(result["metrics"]["val_accuracy"]) == 2


@pytest.mark.slow
def test_module_cli_runs_in_a_process(tmp_path: Path) -> None:
    out = tmp_path / "t.h5"
    proc = subprocess.run(
        [sys.executable, "-m", "simtune.blackboxes.tabulate", TRAINING, "--space",
         "simtune.blackboxes.sources.mlp_sklearn:mlp_sklearn_space", "--n-configs", "1",
         "--seeds", "0",
         "--max-fidelity", "1", "--name", "n", "--task", "wine", "--objective",
         "val_accuracy=max", "--out", str(out), "--workers", "0", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and out.exists()


def _conditional_train(config: dict, reporter, checkpoint_dir=None) -> None:
    """Raises on a configuration that is not exactly its active hyperparameters."""
    want = {"optimizer", "width", "momentum" if config["optimizer"] == "sgd" else "beta1"}
    if set(config) - {"seed"} != want:
        raise ValueError(f"got {sorted(config)}, want {sorted(want)}")
    knob = config.get("momentum", config.get("beta1"))
    for epoch in (1, 2):
        reporter(epoch=epoch, loss=knob * config["width"] / epoch)


def test_a_conditional_space_tabulates_saves_and_loads(tmp_path: Path) -> None:
    space = Space(
        {"optimizer": choice(["sgd", "adam"]), "width": choice([8, 16]),
         "momentum": choice([0.0, 0.9]), "beta1": choice([0.8, 0.9, 0.99])},
        conditions={"momentum": {"optimizer": "sgd"}, "beta1": {"optimizer": "adam"}},
    )
    configs = grid(space)
    assert len(configs) == 2 * 2 + 2 * 3  # only valid combinations, none twice
    bb = tabulate(_conditional_train, space, configs=configs, seeds=[0], max_fidelity=2,
                  objectives={"loss": "min"}, name="cond", task="t", progress=False, workers=0)
    back = TabularBlackbox.load(bb.save(tmp_path / "cond.h5"))
    assert back.space == space and back.configs() == configs
    adam = {"optimizer": "adam", "width": 16, "beta1": 0.99}
    assert back.evaluate(adam, fidelity=2, seed=0)["loss"] == pytest.approx(0.99 * 16 / 2)
    with pytest.raises(ValueError, match="inactive"):
        back.row({**adam, "momentum": 0.9})


def test_space_from_a_configspace_json_file(tmp_path: Path) -> None:
    from simtune.core.configspace import write_configspace

    space = Space({"opt": choice(["sgd", "adam"]), "m": choice([0.0, 0.9])},
                  conditions={"m": {"opt": "sgd"}})
    path = tmp_path / "cs.json"
    write_configspace(space, path)
    assert "hyperparameters" in json.loads(path.read_text())
    assert load_space(str(path), "ignored") == space
    path.write_text('{"hyperparameters": [{"name": "x", "type": "bogus"}]}')
    with pytest.raises(ValueError, match=f"--space {path}"):
        load_space(str(path), "ignored")

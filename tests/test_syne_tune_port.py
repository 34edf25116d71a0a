"""A port from Syne Tune works: a dict config space, `Reporter()` in a trial, functions taking
their hyperparameters as keywords, the three ported examples (experiments/examples/), and
SageMaker without a region or credentials (one line, no run directory)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from simtune import PythonBackend, Reporter, Space, StoppingCriterion, Tuner, create_scheduler
from simtune.core.domains import choice, randint, uniform
from simtune.core.problem import Problem
from simtune.core.report import (
    CONFIG_SHAPE,
    KEYWORDS_SHAPE,
    StdoutReporter,
    call_train,
    function_shape,
    parse_report,
)
from simtune.core.trial import Trial
from tests import test_sagemaker_backend as base

aws = base.aws  # the fixture: moto, a bucket and the log group

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "experiments" / "examples"
HEIGHT = {"steps": 100, "width": randint(0, 20), "height": randint(-100, 100)}


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), **extra}


# -- a dict config space ----------------------------------------------------------------------

def test_a_dict_config_space_is_a_space():
    space = Space.of(HEIGHT)
    assert isinstance(space, Space) and space.constants == {"steps": 100}
    assert Space.of(space) is space
    assert Problem(space=HEIGHT, metric="mean_loss", mode="min").space == space


def test_a_dict_config_space_schedules_as_its_space_does():
    def suggestions(space) -> list[dict]:
        sched = create_scheduler("asha", space=space, metric="mean_loss", mode="min",
                                 max_fidelity=9, seed=3)
        return [sched.suggest(i).config for i in range(5)]

    from_dict = suggestions(HEIGHT)
    assert from_dict == suggestions(Space(HEIGHT))  # same seed, same decisions
    for config in from_dict:
        Space(HEIGHT).validate(config)


@pytest.mark.parametrize("bad, message", [
    ([("x", 1)], "a config space is a Space or a dict"),
    ({"x": object()}, "hyperparameter 'x' is a builtins.object"),
])
def test_what_is_no_config_space_is_named(bad, message):
    with pytest.raises(ValueError, match=message):
        Space.of(bad)


# -- Reporter ---------------------------------------------------------------------------------

def test_the_public_reporter_writes_the_report_line_in_a_script():
    code = "from simtune import Reporter\nreport = Reporter()\nreport(epoch=1, mean_loss=0.3)\n"
    out = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert [parse_report(line) for line in out.splitlines()] == [{"epoch": 1, "mean_loss": 0.3}]


class Collect(Reporter):
    def __init__(self) -> None:
        self.reports: list[dict] = []

    def __call__(self, **metrics) -> None:
        self.reports.append(metrics)


def train_height(steps: int, width: float, height: float):
    """Syne Tune's shape: hyperparameters as keywords, reports through Reporter()."""
    report = Reporter()
    for step in range(steps):
        report(step=step, mean_loss=(0.1 + width * step / 100) ** (-1) + height * 0.1,
               epoch=step + 1)


def test_reporter_made_in_a_function_reaches_the_trials_reporter():
    got = Collect()
    call_train(train_height, {"steps": 2, "width": 10, "height": -5}, got, None)
    assert got.reports == [{"step": 0, "mean_loss": 9.5, "epoch": 1},
                           {"step": 1, "mean_loss": 1 / 0.2 - 0.5, "epoch": 2}]
    buf = io.StringIO()
    call_train(train_height, {"steps": 1, "width": 1, "height": 0}, StdoutReporter(buf), None)
    assert parse_report(buf.getvalue()) == {"step": 0, "mean_loss": 10.0, "epoch": 1}


# -- the function's shape ---------------------------------------------------------------------

def config_shape(config, reporter, checkpoint_dir=None): ...
def config_shape_plain(cfg, report): ...
def config_shape_checkpoint_required(config, reporter, checkpoint_dir): ...
def keywords_any(**hyperparameters): ...
def keywords_with_checkpoint(steps, width, height, checkpoint_dir=None): ...
def both(*args, **kwargs): ...


@pytest.mark.parametrize("fn, shape", [
    (config_shape, CONFIG_SHAPE), (config_shape_plain, CONFIG_SHAPE),
    (config_shape_checkpoint_required, CONFIG_SHAPE),
    (train_height, KEYWORDS_SHAPE), (keywords_any, KEYWORDS_SHAPE),
    (keywords_with_checkpoint, KEYWORDS_SHAPE), (both, CONFIG_SHAPE),
])
def test_the_shape_is_read_from_the_signature(fn, shape):
    assert function_shape(fn, HEIGHT) == shape


def test_a_keywords_function_gets_the_checkpoint_dir_if_it_takes_it():
    seen = {}

    def train(steps, width, height, checkpoint_dir=None):
        seen.update(steps=steps, checkpoint_dir=checkpoint_dir)

    call_train(train, {"steps": 3, "width": 1, "height": 2}, Collect(), "/ckpt")
    assert seen == {"steps": 3, "checkpoint_dir": "/ckpt"}


def two_of_three(steps, width): ...
def unrelated(a, b, c): ...


@pytest.mark.parametrize("fn, why", [
    (two_of_three, "unexpected keyword argument 'height'"),
    (unrelated, "missing a required argument: 'a'"),
])
def test_a_function_of_neither_shape_is_refused_before_the_first_trial(fn, why, tmp_path):
    with pytest.raises(ValueError, match="fits neither shape") as e:
        PythonBackend(fn, config_space=HEIGHT, root=tmp_path / "a")
    assert why in str(e.value) and "\n" not in str(e.value)
    # without config_space: at the first start, before its process or directory exists
    backend = PythonBackend(fn, root=tmp_path / "b", fidelity="epoch", max_fidelity=3)
    with pytest.raises(ValueError, match="fits neither shape"):
        backend.start(Trial(0, {"steps": 3, "width": 1, "height": 2}))
    backend.close()
    assert not (tmp_path / "b").exists()


def test_the_python_backend_runs_syne_tunes_function_shape(tmp_path):
    """The TypeError-in-every-trial port: every trial now reports to the end."""
    space = {"steps": 3, "width": randint(0, 20), "height": randint(-100, 100)}
    sched = create_scheduler("random", space=space, metric="mean_loss", mode="min",
                             max_fidelity=3, seed=0)
    backend = PythonBackend(train_height, config_space=space, root=tmp_path,
                            fidelity="epoch", max_fidelity=3)
    summary = Tuner(scheduler=sched, backend=backend, stop=StoppingCriterion(max_trials=3),
                    n_workers=2, progress=False).run()
    assert (summary.n_started, summary.n_failed, summary.n_reports) == (3, 0, 9)
    width, height = summary.best_config["width"], summary.best_config["height"]
    assert summary.best == pytest.approx(min(1 / (0.1 + width * s / 100) + 0.1 * height
                                             for s in range(3)))


# -- the ported examples ----------------------------------------------------------------------

@pytest.mark.parametrize("script", ["launch_randomsearch.py", "launch_height_python_backend.py"])
def test_ported_example_runs(script, tmp_path):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--max-wallclock", "3",
                           "--n-workers", "2"], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith(("budget reached:", "metric target reached:")), line
    assert "(0 failed); best mean_loss: trial " in line, line  # an incumbent, and which


def test_train_height_script_reports_when_run_by_hand():
    script = EXAMPLES / "training_scripts" / "height_example" / "train_height.py"
    out = subprocess.run([sys.executable, str(script), "--steps", "2", "--width", "10",
                          "--height", "-5", "--sleep_time", "0"], env=_env(),
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert [parse_report(line) for line in out.splitlines()] == [
        {"step": 0, "mean_loss": 9.5, "epoch": 1}, {"step": 1, "mean_loss": 4.5, "epoch": 2}]


def test_dict_spaces_and_shapes_reach_every_choice():
    """A dict with a choice and a float domain goes through create_scheduler's searchers."""
    space = {"opt": choice(["sgd", "adam"]), "lr": uniform(0.0, 1.0), "epochs": 5}
    sched = create_scheduler("bo", space=space, metric="loss", mode="min", seed=1)
    configs = [sched.suggest(i).config for i in range(4)]
    assert {c["epochs"] for c in configs} == {5}
    assert all(c["opt"] in ("sgd", "adam") and 0 <= c["lr"] <= 1 for c in configs)
    assert np.isfinite([c["lr"] for c in configs]).all()


# -- SageMaker without a region or credentials -----------------------------------------------

NO_AWS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
          "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_DEFAULT_PROFILE")


SAGEMAKER = ["backend=sagemaker", "backend.bucket=b", "backend.image_uri=img",
             "backend.role=arn:aws:iam::123456789012:role/R", "benchmark=mlp_sklearn"]
LAUNCHER = ["launcher=sagemaker", "launcher.bucket=b", "launcher.image_uri=img",
            "launcher.role=arn:aws:iam::123456789012:role/R"]


@pytest.mark.parametrize("args, message", [
    (SAGEMAKER, "SageMaker needs an AWS region and none is set: pass backend.region="),
    ([*SAGEMAKER, "backend.region=us-east-1"], "SageMaker needs AWS credentials and none"),
    (LAUNCHER, "SageMaker needs an AWS region and none is set: pass launcher.region="),
    ([*LAUNCHER, "launcher.region=us-east-1"], "SageMaker needs AWS credentials and none"),
], ids=["backend-region", "backend-credentials", "launcher-region", "launcher-credentials"])
def test_sagemaker_without_region_or_credentials_says_so_in_one_line(args, message, tmp_path):
    (tmp_path / "empty").write_text("")
    env = {k: v for k, v in _env().items() if k not in NO_AWS}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "empty"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "empty"),
               AWS_EC2_METADATA_DISABLED="true", SIMTUNE_CACHE=str(tmp_path / "cache"))
    run_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), *args, "progress=false",
         f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and message in errors[0], proc.stderr[-2000:]
    assert not run_dir.exists()


# -- the SageMaker example, at the boto3 boundary ---------------------------------------------

class StandInPyTorch:
    """What `sagemaker.pytorch.PyTorch(...)` of the example holds (the SDK is not installed
    here; the backend reads an estimator duck-typed)."""

    def __init__(self, entry_point: str, bucket: str, image: str, role: str) -> None:
        self.entry_point, self.source_dir, self.role = entry_point, None, role
        self.instance_type, self.instance_count, self.max_run = "ml.m5.large", 1, 600
        self.framework_version, self.py_version = "2.2", "py310"
        self.output_path, self.image_uri, self._image = f"s3://{bucket}", None, image

    def training_image_uri(self) -> str:
        return self._image


def test_ported_sagemaker_example_runs_train_height_in_its_jobs(aws, tmp_path):
    """Each CreateTrainingJob runs what a framework container would: the entry point of
    the uploaded sourcedir.tar.gz with the job's hyperparameters as `--name value`, with
    only the code dir importable (-S); its stdout goes to the job's CloudWatch log."""
    import importlib.util
    import tarfile
    import time

    spec = importlib.util.spec_from_file_location("launch_height_sagemaker",
                                                  EXAMPLES / "launch_height_sagemaker.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    ran: list[dict] = []

    def container(params, **kwargs):
        hps = {k: json.loads(v) for k, v in params["HyperParameters"].items()}
        bucket, key = hps["sagemaker_submit_directory"][len("s3://"):].split("/", 1)
        code = tmp_path / params["TrainingJobName"]
        body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        tarfile.open(fileobj=io.BytesIO(body)).extractall(code, filter="data")
        argv = [a for k, v in hps.items() if not k.startswith("sagemaker_")
                for a in (f"--{k}", str(v))]
        out = subprocess.run([sys.executable, "-S", hps["sagemaker_program"], *argv,
                              "--sleep_time", "0"], cwd=code, env={"PYTHONPATH": str(code)},
                             capture_output=True, text=True, timeout=60, check=True).stdout
        ran.append(hps)
        base.log_lines(aws, params["TrainingJobName"], out.splitlines(), int(time.time() * 1000))

    # the backend's clients are made from this session, so they carry the hook
    aws.events.register("provide-client-params.sagemaker.CreateTrainingJob", container)
    estimator = StandInPyTorch(str(example.ENTRY_POINT), base.BUCKET, base.IMAGE, base.ROLE)
    summary = example.main(estimator, max_trials=3, n_workers=2, max_steps=4, session=aws,
                           poll_interval=0.0, sleep=lambda s: None, run_id=str(tmp_path))
    assert (summary.n_started, summary.n_failed, summary.n_reports) == (3, 0, 12)
    assert [h["steps"] for h in ran] == [4, 4, 4]
    best = min(1 / (0.1 + h["width"] * s / 100) + 0.1 * h["height"] for h in ran
               for s in range(4))
    assert summary.best == pytest.approx(best)


def test_run_script_names_a_function_of_neither_shape_in_one_line(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("from simtune.core.report import run_script\n\n"
                      "def train(a, b, c):\n    pass\n\nrun_script(train)\n")
    proc = subprocess.run([sys.executable, str(script), "--width", "3"], env=_env(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: training function train(a, b, c) fits neither shape")
    assert len(proc.stderr.splitlines()) == 1

"""SageMakerBackend at the boto3 boundary: moto (S3, CloudWatch Logs, SageMaker) and Stubber.

moto marks a training job Completed at once; the tests set each job's status in
moto's state to drive InProgress, Failed, Stopped and spot interruptions, and use
botocore's Stubber for StopTrainingJob (which moto lacks) and for throttling.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

from botocore.exceptions import ClientError  # noqa: E402
from botocore.stub import Stubber  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.sagemaker.models import sagemaker_backends  # noqa: E402

from simtune.core.backends._aws import job_name  # noqa: E402
from simtune.core.backends._sagemaker_io import LOG_GROUP  # noqa: E402
from simtune.core.backends.sagemaker import SageMakerBackend  # noqa: E402
from simtune.core.backends.sagemaker_launcher import launch_tuning_job  # noqa: E402
from simtune.core.trial import Failure, Report, Trial  # noqa: E402

REGION = "us-east-1"
BUCKET = "simtune-test"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.2-1"
RUN_ID = "/runs/2026-12-01/asha"
KEY = "asha-" + __import__("hashlib").sha256(RUN_ID.encode()).hexdigest()[:8]  # its run key
CKPT = f"simtune/{KEY}/checkpoints"  # the S3 prefix of this run's checkpoints
JOB = rf"simtune-{KEY[-8:]}"  # the head of this run's job names


@pytest.fixture
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    with moto.mock_aws():
        session = boto3.Session(region_name=REGION)
        session.client("s3").create_bucket(Bucket=BUCKET)
        session.client("logs").create_log_group(logGroupName=LOG_GROUP)
        yield session


@pytest.fixture
def source(tmp_path):
    d = tmp_path / "src"
    d.mkdir()
    (d / "train.py").write_text("print('hi')\n")
    (d / "__pycache__").mkdir()
    (d / "__pycache__" / "x.pyc").write_bytes(b"junk")
    return d


def make(session, source, **kwargs) -> SageMakerBackend:
    kwargs.setdefault("max_fidelity", 3)
    kwargs.setdefault("run_id", RUN_ID)
    return SageMakerBackend(entry_point="train.py", source_dir=str(source), image_uri=IMAGE,
                            role=ROLE, bucket=BUCKET, session=session, poll_interval=0.0,
                            sleep=lambda s: None, **kwargs)


def moto_job(name: str):
    return sagemaker_backends[DEFAULT_ACCOUNT_ID][REGION].training_jobs[name]


def set_status(name: str, status: str, secondary: str | None = None, reason: str | None = None):
    job = moto_job(name)
    job.training_job_status = status
    job.secondary_status = secondary or status
    if reason is not None:
        job.failure_reason = reason


def log_lines(session, name: str, lines: list[str], t0_ms: int) -> None:
    logs = session.client("logs")
    stream = f"{name}/algo-1-1700000000"
    try:
        logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    except ClientError:
        pass
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=[
        {"timestamp": t0_ms + i, "message": line} for i, line in enumerate(lines)])


def drain(backend, polls: int = 4) -> list:
    out = []
    for _ in range(polls):
        out += [event for _, event in backend.poll()]
    return out


def test_job_names_are_findable_and_short():
    from datetime import datetime

    now = datetime(2026, 11, 28, 19, 4, 5)
    assert job_name("simtune", 12, 0, now) == "simtune-12-20261128-190405"
    assert job_name("my_run.v2", 3, 2, now) == "my-run-v2-3-20261128-190405-r2"
    long = job_name("x" * 100, 123456, 11, now)
    assert len(long) == 63 and long.endswith("-123456-20261128-190405-r11")
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*", long)


def test_start_sends_one_training_job_request(aws, source):
    backend = make(aws, source, use_spot=True, max_run=3600, instance_type="ml.g4dn.xlarge")
    config = {"lr": 0.001, "layers": 2, "act": "a b; 'c'"}
    backend.start(Trial(4, config))
    (job,) = backend._by_name.values()
    assert re.fullmatch(JOB + r"-4-\d{8}-\d{6}", job.name)
    desc = aws.client("sagemaker").describe_training_job(TrainingJobName=job.name)
    hps = desc["HyperParameters"]
    assert {k: json.loads(hps[k]) for k in config} == config  # JSON, decoded by the toolkit
    assert json.loads(hps["sagemaker_program"]) == "train.py"
    assert desc["CheckpointConfig"] == {
        "S3Uri": f"s3://{BUCKET}/{CKPT}/trial_4/", "LocalPath": "/opt/ml/checkpoints"}
    assert desc["EnableManagedSpotTraining"] is True
    assert desc["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert desc["ResourceConfig"]["InstanceType"] == "ml.g4dn.xlarge"
    assert desc["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    # the code is in S3, packed as the SageMaker SDK does, without caches
    uri = json.loads(hps["sagemaker_submit_directory"])
    key = uri.removeprefix(f"s3://{BUCKET}/")
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
    names = tarfile.open(fileobj=io.BytesIO(body)).getnames()
    assert sorted(names) == ["simtune/__init__.py", "simtune/core/__init__.py",  # + reporter
                            "simtune/core/report.py", "train.py"]
    req = backend.training_job_request(Trial(4, config), job.name)
    assert req["Environment"]["SIMTUNE_CHECKPOINT_DIR"] == "/opt/ml/checkpoints"
    assert req["Environment"]["PYTHONPATH"] == "/opt/ml/code"  # core.report importable


def test_reports_from_the_log_stream_then_completion(aws, source):
    backend = make(aws, source, max_fidelity=None)
    backend.start(Trial(0, {"lr": 0.1}))
    (name,) = backend._by_name
    set_status(name, "InProgress")
    t0 = int(backend._wall0 * 1000) + 1000
    log_lines(aws, name, ["Invoking script", '[simtune] {"epoch": 1, "acc": 0.5}',
                          '[simtune] {"epoch": 2, "acc": 0.7}'], t0)
    first = drain(backend)
    assert [(e.fidelity, e.metrics, e.last) for e in first] == [(1, {"acc": 0.5}, False)]
    assert abs(first[0].time - 1.0) < 0.01  # the worker's (log event's) timestamp
    log_lines(aws, name, ['[simtune] {"epoch": 3, "acc": 0.8}', "done"], t0 + 10)
    set_status(name, "Completed")
    rest = drain(backend)
    assert [(e.fidelity, e.metrics["acc"], e.last) for e in rest] == [(2, 0.7, False),
                                                                      (3, 0.8, True)]
    assert backend.next_events(until=5) == []  # nothing runs any more


def test_one_list_and_one_log_call_per_poll_for_all_jobs(aws, source):
    backend = make(aws, source)
    for i in range(3):
        backend.start(Trial(i, {"i": i}))
    for name in backend._by_name:
        set_status(name, "InProgress")
    calls = []
    for client in (backend.sm, backend.logs, backend.s3):
        client.meta.events.register("before-call.*.*",
                                    lambda model, **kw: calls.append(model.name))
    backend.poll()
    backend.poll()
    assert calls == ["ListTrainingJobs", "FilterLogEvents"] * 2


def test_failed_job_gives_reason_and_log_tail(aws, source):
    backend = make(aws, source)
    backend.start(Trial(0, {}))
    (name,) = backend._by_name
    set_status(name, "InProgress")
    log_lines(aws, name, ['[simtune] {"epoch": 1, "acc": 0.5}', "Traceback ...",
                          "ValueError: lr must be positive"], int(backend._wall0 * 1000) + 5)
    set_status(name, "Failed", reason="AlgorithmError: ExecuteUserScriptError: exit code 1")
    events = drain(backend)
    assert isinstance(events[0], Report) and isinstance(events[1], Failure)
    lines = events[1].reason.splitlines()
    assert lines[0] == (f"trial 0: job {name} failed: AlgorithmError: ExecuteUserScriptError: "
                        "exit code 1")
    assert lines[-1] == "ValueError: lr must be positive"


def test_malformed_report_line_fails_the_trial(aws, source):
    backend = make(aws, source)
    backend.start(Trial(0, {}))
    (name,) = backend._by_name
    set_status(name, "InProgress")
    log_lines(aws, name, ['[simtune] {"epoch": 1, acc}'], int(backend._wall0 * 1000) + 5)
    (failure,) = drain(backend)
    assert isinstance(failure, Failure) and "malformed report" in failure.reason


def test_stop_calls_the_api_and_a_stopped_job_is_not_news(aws, source):
    backend = make(aws, source)
    backend.start(Trial(0, {}))
    (name,) = backend._by_name
    set_status(name, "InProgress")
    with Stubber(backend.sm) as stub:
        stub.add_response("stop_training_job", {}, {"TrainingJobName": name})
        backend.stop(0)
        stub.assert_no_pending_responses()
    set_status(name, "Stopped")
    assert drain(backend) == []
    assert backend.next_events(until=5) == []


def test_a_job_stopped_by_someone_else_fails(aws, source):
    backend = make(aws, source)
    backend.start(Trial(0, {}))
    (name,) = backend._by_name
    set_status(name, "Stopped")
    (failure,) = drain(backend)
    assert failure.reason.splitlines()[0] == f"trial 0: job {name} stopped: Stopped"


def test_pause_and_resume_start_a_new_job_on_the_same_checkpoint(aws, source):
    backend = make(aws, source)
    trial = Trial(2, {"lr": 0.1})
    backend.start(trial)
    with Stubber(backend.sm) as stub:
        stub.add_response("stop_training_job", {}, {"TrainingJobName": backend._jobs[2].name})
        backend.pause(2)
    (first,) = backend._by_name
    set_status(first, "Stopping")  # uploading its last checkpoint
    backend.resume(trial)
    backend.poll()
    assert list(backend._by_name) == [first]  # the new job waits for the final checkpoint
    set_status(first, "Stopped")
    backend.poll()
    first, second = backend._by_name
    assert second.endswith("-r1") and second != first
    sm = aws.client("sagemaker")
    uris = {sm.describe_training_job(TrainingJobName=n)["CheckpointConfig"]["S3Uri"]
            for n in (first, second)}
    assert uris == {f"s3://{BUCKET}/{CKPT}/trial_2/"}


def test_spot_interruption_resumes_from_the_s3_checkpoint(aws, source):
    backend = make(aws, source, use_spot=True, max_fidelity=4)
    backend.start(Trial(0, {"lr": 0.1}))
    (first,) = backend._by_name
    set_status(first, "InProgress")
    t0 = int(backend._wall0 * 1000)
    log_lines(aws, first, ['[simtune] {"epoch": 1, "acc": 0.5}',
                           '[simtune] {"epoch": 2, "acc": 0.6}'], t0 + 5)
    set_status(first, "Stopped", secondary="Interrupted")
    events = drain(backend, polls=2)  # seen ended, then handled (moto completes new jobs at once)
    assert [e.fidelity for e in events] == [1, 2]
    second = backend._jobs[0].name
    assert second.endswith("-r1")
    desc = aws.client("sagemaker").describe_training_job(TrainingJobName=second)
    assert desc["CheckpointConfig"]["S3Uri"] == f"s3://{BUCKET}/{CKPT}/trial_0/"
    set_status(second, "InProgress")
    log_lines(aws, second, ['[simtune] {"epoch": 3, "acc": 0.7}',
                            '[simtune] {"epoch": 4, "acc": 0.8}'], t0 + 50)
    rest = drain(backend)
    assert [(e.fidelity, e.last) for e in rest] == [(3, False), (4, True)]


def test_spot_restarts_are_bounded(aws, source):
    backend = make(aws, source, use_spot=True, max_spot_restarts=1)
    backend.start(Trial(0, {}))
    for _ in range(2):
        name = backend._jobs[0].name
        set_status(name, "Failed", secondary="MaxWaitTimeExceeded",
                   reason="Spot capacity was not available")
        events = drain(backend, polls=2)
    assert len(backend._by_name) == 2
    assert len(events) == 1 and "Spot capacity was not available" in events[0].reason


def test_pbt_copies_the_checkpoint_in_s3(aws, source):
    s3 = aws.client("s3")
    for key in ("model.pkl", "sub/state.json"):
        s3.put_object(Bucket=BUCKET, Key=f"{CKPT}/trial_0/{key}", Body=key.encode())
    backend = make(aws, source)
    backend.start(Trial(1, {"lr": 0.2}, checkpoint_of=0))
    got = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{CKPT}/trial_1/")["Contents"]
    assert sorted(o["Key"] for o in got) == [f"{CKPT}/trial_1/model.pkl",
                                             f"{CKPT}/trial_1/sub/state.json"]


def test_missing_settings_are_named(aws, source):
    with pytest.raises(ValueError, match="backend=sagemaker needs role, bucket: set backend.role"):
        SageMakerBackend(entry_point="train.py", image_uri=IMAGE, session=aws)


def test_launcher_packs_the_project_and_starts_one_job(aws, tmp_path):
    root = Path(__file__).resolve().parents[1]
    cfg = {"seed": 3, "scheduler": {"name": "asha"}, "backend": {"name": "local"},
           "launcher": {"name": "sagemaker"}, "stop": {"max_wallclock": 60}}
    request = launch_tuning_job(cfg, project_root=root, image_uri=IMAGE, role=ROLE,
                                bucket=BUCKET, session=aws)
    name = request["TrainingJobName"]
    desc = aws.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert desc["HyperParameters"]["sagemaker_program"] == '"simtune_launch.py"'
    assert desc["CheckpointConfig"]["S3Uri"] == f"s3://{BUCKET}/simtune/{name}/results/"
    key = f"simtune/{name}/code/sourcedir.tar.gz"
    tar = tarfile.open(fileobj=io.BytesIO(
        aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()))
    names = set(tar.getnames())
    assert {"experiments/run.py", "core/tuner.py", "pyproject.toml", "simtune_launch.py",
            "simtune_launch/run.yaml"} <= names
    assert not any("__pycache__" in n or n.startswith(".git/") for n in names)
    # only the project's fixed top level: never a virtual environment (e.g. CI's .venv-ci)
    tops = {n.split("/")[0] for n in names}
    assert tops <= {"pyproject.toml", "README.md", "core", "blackboxes", "experiments", "conf",
                    "analysis", "simtune_launch.py", "simtune_launch"}
    packed = json.loads(tar.extractfile("simtune_launch/run.yaml").read())
    assert packed == {k: v for k, v in cfg.items() if k != "launcher"}


@pytest.mark.slow
def test_run_py_make_backend_drives_asha_over_sagemaker_jobs(aws, tmp_path):
    """experiments/run.py's code path to the boto3 calls, with fake containers that log.

    Each ListTrainingJobs (one per poll) lets every running job log its next epoch
    (loss = 10 (i + 1) / epoch, as the toy table); StopTrainingJob, which moto lacks,
    is answered at the botocore boundary and marks the job Stopped in moto's state.
    """
    import numpy as np
    from omegaconf import OmegaConf

    from simtune.core.schedulers import make_scheduler
    from simtune.core.stopping import StoppingCriterion
    from simtune.core.tuner import Tuner
    from simtune.experiments.assemble import make_backend
    from tests.helpers import context, toy_table

    table = toy_table()
    cfg = OmegaConf.create({
        "n_workers": 2,  # max_jobs: ${n_workers}
        "backend": {**OmegaConf.to_container(OmegaConf.load(
            Path(__file__).resolve().parents[1] / "conf" / "backend" / "sagemaker.yaml")),
            "bucket": BUCKET, "role": ROLE, "image_uri": IMAGE, "poll_interval": 0,
            "region": REGION, "run_id": str(tmp_path)},  # in a run: ${hydra:runtime.output_dir}
    })
    params = OmegaConf.to_container(cfg.backend, resolve=True)
    backend = make_backend(params.pop("name"), params, table, np.random.default_rng(0),
                           training="experiments/training/mlp_sklearn.py:train", out_dir=tmp_path)
    assert isinstance(backend, SageMakerBackend) and backend.max_fidelity == 4
    assert backend.max_jobs == 2
    logs, epochs, stopped = aws.client("logs"), {}, []
    t_ms = [int(backend._wall0 * 1000)]

    def containers(**kwargs):
        for job in list(backend._by_name.values()):
            fake = moto_job(job.name)
            if fake.training_job_status == "Completed" and job.name not in epochs:
                fake.training_job_status = "InProgress"  # moto completes jobs at once
                epochs[job.name] = 0
            if fake.training_job_status != "InProgress":
                continue
            e = epochs[job.name] = epochs[job.name] + 1
            i = json.loads(fake.hyper_parameters["i"])
            t_ms[0] += 10
            log_lines(aws, job.name, [f'[simtune] {{"epoch": {e}, "loss": {10 * (i + 1) / e}}}'],
                      t_ms[0])
            if e == 4:
                fake.training_job_status = "Completed"

    def stop_job(params, **kwargs):  # params: the serialized request
        name = json.loads(params["body"])["TrainingJobName"]
        stopped.append(name)
        moto_job(name).training_job_status = "Stopped"
        from botocore.awsrequest import AWSResponse

        return AWSResponse(None, 200, {}, None), {}  # as botocore's Stubber answers

    backend.sm.meta.events.register("before-call.sagemaker.ListTrainingJobs", containers)
    backend.sm.meta.events.register("before-call.sagemaker.StopTrainingJob", stop_job)
    del logs
    sched = make_scheduler("asha", context(table, np.random.default_rng(1)), eta=2)
    tuner = Tuner(scheduler=sched, backend=backend, stop=StoppingCriterion(max_trials=6),
                  n_workers=2, progress=False)
    summary = tuner.run()
    assert summary.n_started == 6 and summary.n_failed == 0
    assert len(backend._by_name) == 6  # one job per trial
    statuses = {t.status.value for t in tuner.trials.values()}
    assert statuses <= {"completed", "stopped"} and "completed" in statuses
    n_stopped = sum(t.status.value == "stopped" for t in tuner.trials.values())
    assert n_stopped >= 1 and len(stopped) == n_stopped  # each ASHA stop: one StopTrainingJob
    # the best loss seen is that of the best config trained to the end: 10 (i + 1) / 4
    best = min(10 * (t.config["i"] + 1) / 4 for t in tuner.trials.values()
               if t.status.value == "completed")
    assert summary.best == pytest.approx(best)


def test_run_py_launcher_hook_starts_the_tuning_job(aws, capsys):
    from omegaconf import OmegaConf

    from simtune.experiments.run import launch_remote

    conf = Path(__file__).resolve().parents[1] / "conf" / "launcher"
    launcher = {**OmegaConf.to_container(OmegaConf.load(conf / "sagemaker.yaml")),
                "bucket": BUCKET, "role": ROLE, "image_uri": IMAGE}
    cfg = OmegaConf.create({"seed": 4, "backend": {"name": "local"}, "launcher": launcher})
    assert launch_remote(cfg) is True
    (job,) = aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"]
    assert re.fullmatch(r"simtune-tuner-4-\d{8}-\d{6}", job["TrainingJobName"])
    assert f"s3://{BUCKET}/simtune/{job['TrainingJobName']}/results/" in capsys.readouterr().out
    local = OmegaConf.create({"seed": 4, "launcher": {"name": "local"}})
    assert launch_remote(local) is False and launch_remote(OmegaConf.create({})) is False


def test_one_event_per_trial_per_batch_and_nothing_after_a_stop(aws, source):
    backend = make(aws, source, max_fidelity=10)
    backend.start(Trial(0, {}))
    backend.start(Trial(1, {}))
    a, b = backend._by_name
    for name in (a, b):
        set_status(name, "InProgress")
    t0 = int(backend._wall0 * 1000)
    log_lines(aws, a, [f'[simtune] {{"epoch": {e}, "loss": 1}}' for e in (1, 2, 3)], t0 + 1)
    log_lines(aws, b, ['[simtune] {"epoch": 1, "loss": 2}', "[simtune] {bad"], t0 + 10)
    first = backend.next_events(until=30)
    assert [(e.trial_id, e.fidelity) for e in first] == [(0, 1)]  # b's lines came later
    second = backend.next_events(until=30)
    assert [(e.trial_id, e.fidelity) for e in second] == [(0, 2)]
    with Stubber(backend.sm) as stub:  # the scheduler stops trial 0 after its epoch 2
        stub.add_response("stop_training_job", {}, {"TrainingJobName": a})
        backend.stop(0)
    third = backend.next_events(until=30)
    assert [(e.trial_id, e.fidelity) for e in third] == [(1, 1)]  # 0's epoch 3 is stale
    (failure,) = backend.next_events(until=30)
    assert isinstance(failure, Failure) and failure.trial_id == 1


def test_a_retry_restarts_a_failed_job_on_its_s3_checkpoint(aws, source):
    """Tuner(retries=N) calls restart after a failure: a new job on the same checkpoint."""
    backend = make(aws, source)
    trial = Trial(1, {"lr": 0.1})
    backend.start(trial)
    (first,) = backend._by_name
    set_status(first, "Failed", reason="AlgorithmError: exit code 1")
    assert any(isinstance(e, Failure) for e in drain(backend))
    backend.restart(trial)
    backend.poll()
    first, second = backend._by_name
    assert second.endswith("-r1")
    sm = aws.client("sagemaker")
    uris = {sm.describe_training_job(TrainingJobName=n)["CheckpointConfig"]["S3Uri"]
            for n in (first, second)}
    assert uris == {f"s3://{BUCKET}/{CKPT}/trial_1/"}

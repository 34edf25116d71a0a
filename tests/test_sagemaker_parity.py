"""What SageMaker users rely on, at the boto3 boundary (moto, Stubber, botocore events):
CreateTrainingJob pass-through, warm pools, the Estimator adapter, quota backoff, botocore
retry modes, Stopping jobs counted against max_jobs, core.report in any source_dir, and
taking over the trials of an interrupted run.
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests import test_sagemaker_backend as base

boto3 = pytest.importorskip("boto3")
from botocore.awsrequest import AWSResponse  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402
from botocore.stub import Stubber  # noqa: E402

from simtune.core.backends.sagemaker import SageMakerBackend  # noqa: E402
from simtune.core.backends.sagemaker_settings import metric_definitions, run_key  # noqa: E402
from simtune.core.report import format_report  # noqa: E402
from simtune.core.trial import Trial  # noqa: E402

aws, source = base.aws, base.source  # the fixtures
BUCKET, CKPT, IMAGE, ROLE, RUN_ID = base.BUCKET, base.CKPT, base.IMAGE, base.ROLE, base.RUN_ID
make, set_status, moto_job = base.make, base.set_status, base.moto_job


def jobs_of(backend, trial_id: int) -> list[str]:
    return [n for n, j in backend._by_name.items() if j.trial_id == trial_id]


def answer_stop(backend, stopped: list[str]) -> None:
    """StopTrainingJob (moto lacks it): the job turns Stopping, as SageMaker's do."""

    def stop(params, **kwargs):
        name = json.loads(params["body"])["TrainingJobName"]
        stopped.append(name)
        moto_job(name).training_job_status = "Stopping"
        return AWSResponse(None, 200, {}, None), {}

    backend.sm.meta.events.register("before-call.sagemaker.StopTrainingJob", stop)


def test_user_fields_pass_through_to_create_training_job(aws, source):
    vpc = {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    backend = make(aws, source, inputs={"train": "s3://data/train", "test": {
        "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://d/m"}}}},
        metric_definitions=["val_accuracy", {"Name": "loss", "Regex": "loss=(.*)"}],
        keep_alive_period=900, vpc_config=vpc, environment={"MY_VAR": "1"},
        tags={"team": "hpo"}, volume_kms_key="kms-vol", output_kms_key="kms-out",
        hyperparameters={"dataset": "digits", "lr": 0.5},
        request_overrides={"EnableNetworkIsolation": True,
                           "StoppingCondition": {"MaxPendingTimeInSeconds": 7200}})
    trial = Trial(1, {"lr": 0.1})
    with Stubber(backend.sm) as stub:  # the request is checked against the API's model
        stub.add_response("create_training_job", {"TrainingJobArn": "arn:job"}, None)
        backend.start(trial)
        stub.assert_no_pending_responses()
    req = backend.training_job_request(trial, "name")
    assert req["InputDataConfig"] == [
        {"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://data/train",
            "S3DataDistributionType": "FullyReplicated"}}},
        {"ChannelName": "test", "DataSource": {"S3DataSource": {
            "S3DataType": "ManifestFile", "S3Uri": "s3://d/m"}}}]
    names = [m["Name"] for m in req["AlgorithmSpecification"]["MetricDefinitions"]]
    assert names == ["val_accuracy", "loss"]
    assert req["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 900
    assert req["ResourceConfig"]["VolumeKmsKeyId"] == "kms-vol"
    assert req["OutputDataConfig"]["KmsKeyId"] == "kms-out"
    assert req["VpcConfig"] == vpc and req["EnableNetworkIsolation"] is True
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400,
                                        "MaxPendingTimeInSeconds": 7200}
    assert req["Environment"]["MY_VAR"] == "1"
    assert {"Key": "team", "Value": "hpo"} in req["Tags"]
    assert {"Key": "simtune-trial", "Value": "1"} in req["Tags"]
    hps = {k: json.loads(v) for k, v in req["HyperParameters"].items()}
    assert hps["dataset"] == "digits" and hps["lr"] == 0.1  # fixed ones, the config wins


def test_a_metric_name_gets_the_regex_of_its_report_line():
    (acc,) = metric_definitions(["val_accuracy"])
    for value in (0.91, -1.5e-3, 3, 12.0):
        line = format_report({"epoch": 3, "val_accuracy": value, "val_loss": 9.5})
        assert float(re.search(acc["Regex"], line).group(1)) == value
    assert re.search(acc["Regex"], 'epoch 3 "val_accuracy": 0.5') is None  # not a report


@pytest.mark.parametrize("kwargs, message", [
    ({"inputs": {"train": "/local/data"}}, "backend.inputs.train='/local/data' is not an S3 URI"),
    ({"metric_definitions": [{"Name": "x"}]}, "backend.metric_definitions item"),
    ({"keep_alive_period": 4000}, "backend.keep_alive_period=4000"),
    ({"max_jobs": 0}, "backend.max_jobs must be an integer >= 1 or null, got 0"),
    ({"job_prefix": "x" * 25}, "backend.job_prefix='xxxx.* is longer than 24"),
    ({"retry_mode": "eager"}, "retry_mode='eager' is not a botocore retry mode"),
])
def test_bad_settings_are_named(aws, source, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(aws, source, **kwargs)


def test_every_trial_asks_for_the_same_warm_pool(aws, source):
    """SageMaker reuses a warm pool for a job whose role, resources and VPC match."""
    vpc = {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}
    backend = make(aws, source, keep_alive_period=600, vpc_config=vpc)
    for tid in range(3):
        backend.start(Trial(tid, {"lr": 0.1 * (tid + 1)}))
    sm = aws.client("sagemaker")
    descs = [sm.describe_training_job(TrainingJobName=n) for n in backend._by_name]
    matched = [(d["RoleArn"], d["ResourceConfig"], d.get("VpcConfig")) for d in descs]
    assert matched[0][1]["KeepAlivePeriodInSeconds"] == 600
    assert matched == [matched[0]] * 3


class StandInEstimator:
    """The shape of a sagemaker SDK Estimator (SKLearn), without the SDK."""

    image_uri = base.IMAGE
    role = base.ROLE
    instance_type, instance_count, volume_size, max_run = "ml.c5.xlarge", 2, 50, 7200
    use_spot_instances, max_wait = True, 14400
    entry_point, source_dir = "train.py", None
    output_path = "s3://estimator-bucket/out"
    environment = {"A": "1"}
    subnets, security_group_ids = ["subnet-9"], ["sg-9"]
    tags = [{"Key": "project", "Value": "x"}]
    metric_definitions = [{"Name": "acc", "Regex": "acc=(.*)"}]
    keep_alive_period_in_seconds = 300
    volume_kms_key = output_kms_key = None

    def __init__(self, source_dir: str) -> None:
        self.source_dir = source_dir
        self._hyperparameters = {"dataset": "wine", "sagemaker_region": "us-east-1"}


def test_an_estimator_becomes_the_backends_settings(aws, source):
    est = StandInEstimator(str(source))
    aws.client("s3").create_bucket(Bucket="estimator-bucket")
    backend = SageMakerBackend.from_estimator(est, session=aws, run_id=RUN_ID, max_fidelity=3,
                                              sleep=lambda s: None)
    req = backend.training_job_request(Trial(0, {"lr": 0.1}), "n")
    assert backend.bucket == "estimator-bucket"
    assert req["AlgorithmSpecification"]["TrainingImage"] == IMAGE and req["RoleArn"] == ROLE
    assert req["ResourceConfig"] == {"InstanceType": "ml.c5.xlarge", "InstanceCount": 2,
                                     "VolumeSizeInGB": 50, "KeepAlivePeriodInSeconds": 300}
    assert req["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200,
                                        "MaxWaitTimeInSeconds": 14400}
    assert req["EnableManagedSpotTraining"] is True
    assert req["VpcConfig"] == {"Subnets": ["subnet-9"], "SecurityGroupIds": ["sg-9"]}
    assert req["AlgorithmSpecification"]["MetricDefinitions"] == est.metric_definitions
    assert {"Key": "project", "Value": "x"} in req["Tags"] and req["Environment"]["A"] == "1"
    hps = {k: json.loads(v) for k, v in req["HyperParameters"].items()}
    assert hps["dataset"] == "wine" and hps["lr"] == 0.1 and "sagemaker_region" not in hps
    assert json.loads(req["HyperParameters"]["sagemaker_program"]) == "train.py"
    backend.start(Trial(0, {"lr": 0.1}))  # moto takes the request
    assert len(backend._by_name) == 1
    other = SageMakerBackend.from_estimator(est, session=aws, run_id=RUN_ID, instance_count=1)
    assert other.instance_count == 1  # overrides win
    est.entry_point = None
    with pytest.raises(ValueError, match="the Estimator has no entry_point"):
        SageMakerBackend.from_estimator(est, session=aws)


class StandInGenericEstimator:
    """The other shape: the image from training_image_uri(), hyperparameters() a method,
    the bucket from the session's default bucket."""

    role, instance_type, instance_count, entry_point = base.ROLE, "ml.m5.large", 1, "train.py"

    class sagemaker_session:  # noqa: N801 (the SDK's attribute name)
        @staticmethod
        def default_bucket() -> str:
            return base.BUCKET

    def training_image_uri(self) -> str:
        return base.IMAGE

    def hyperparameters(self) -> dict:
        return {"epochs": 20}


def test_an_estimator_of_the_other_shape(aws, source):
    from simtune.core.backends.sagemaker_settings import settings_from_estimator

    assert settings_from_estimator(StandInGenericEstimator()) == {
        "image_uri": IMAGE, "role": ROLE, "instance_type": "ml.m5.large", "instance_count": 1,
        "entry_point": "train.py", "hyperparameters": {"epochs": 20}, "bucket": BUCKET}


def quota_errors(backend, n: int, code: str = "ResourceLimitExceeded") -> list[int]:
    """The next `n` CreateTrainingJob calls fail with `code`; returns the calls seen."""
    calls = []

    def create(**kwargs):
        calls.append(1)
        if len(calls) <= n:
            return AWSResponse(None, 400, {}, None), {
                "Error": {"Code": code, "Message": "The account-level service limit "
                          "'ml.m5.large for training job usage' is 4 Instances"}}
        return None  # on to moto

    backend.sm.meta.events.register("before-call.sagemaker.CreateTrainingJob", create)
    return calls


def test_resource_limit_exceeded_is_waited_out_with_backoff(aws, source, caplog):
    backend = make(aws, source, quota_backoff=0.05, max_quota_backoff=0.1)
    calls = quota_errors(backend, 3)
    trial = Trial(0, {"lr": 0.1})
    with caplog.at_level(logging.WARNING, logger="simtune.sagemaker"):
        backend.start(trial)  # no error: the launch waits
        assert backend._by_name == {} and len(calls) == 1
        while not backend._by_name:
            backend.poll()
    assert len(calls) == 4 and len(jobs_of(backend, 0)) == 1
    waits = [re.search(r"ResourceLimitExceeded .*next try in (\S+) s", r.getMessage())
             for r in caplog.records]
    assert [float(w.group(1)) for w in waits if w] == [0.05, 0.1, 0.1]  # doubled, capped
    other = make(aws, source)
    quota_errors(other, 1, code="ValidationException")
    with pytest.raises(ClientError, match="ValidationException"):
        other.start(Trial(0, {}))


def throttle(client, operation: str, n: int) -> list[int]:
    """The next `n` HTTP sends of `operation` answer 400 ThrottlingException (before moto)."""
    sent = []

    def send(request, **kwargs):
        sent.append(1)
        if len(sent) > n:
            return None

        class Raw:
            def stream(self, **kw):
                yield b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'

        return AWSResponse(request.url, 400, {"x-amzn-ErrorType": "ThrottlingException"}, Raw())

    client.meta.events.register_first(f"before-send.sagemaker.{operation}", send)
    return sent


def test_botocore_retry_modes_retry_throttled_calls(aws, source):
    backend = make(aws, source, retry_mode="standard", max_attempts=3)
    assert backend.sm.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    sent = throttle(backend.sm, "ListTrainingJobs", 2)
    backend.poll()  # two throttled sends, the third reaches moto
    assert len(sent) == 3
    sent = throttle(backend.sm, "ListTrainingJobs", 3)
    with pytest.raises(ClientError, match="ThrottlingException"):
        backend.poll()
    adaptive = make(aws, source, retry_mode="adaptive")
    assert adaptive.logs.meta.config.retries["mode"] == "adaptive"


def test_stopping_jobs_count_against_max_jobs(aws, source):
    backend = make(aws, source, max_jobs=2)
    stopped: list[str] = []
    answer_stop(backend, stopped)
    for tid in (0, 1):
        backend.start(Trial(tid, {"i": tid}))
    for name in backend._by_name:
        set_status(name, "InProgress")
    backend.stop(0)
    assert stopped == jobs_of(backend, 0)
    backend.start(Trial(2, {"i": 2}))  # trial 0's job still holds its instance
    backend.poll()
    assert jobs_of(backend, 2) == []
    set_status(stopped[0], "Stopped")
    backend.poll()
    assert len(jobs_of(backend, 2)) == 1
    holding = [n for n in backend._by_name if moto_job(n).training_job_status
               in ("InProgress", "Stopping")]
    assert len(holding) <= 2
    backend.start(Trial(3, {"i": 3}))  # trials 1 and 2 hold both
    backend.stop(3)  # a launch still waiting is dropped, never created
    set_status(jobs_of(backend, 1)[0], "Completed")
    backend.poll()
    assert jobs_of(backend, 3) == []
    unlimited = make(aws, source, max_jobs=None)
    for tid in range(5):
        unlimited.start(Trial(tid, {"i": tid}))
    assert len(unlimited._by_name) == 5


TRAIN = """
from simtune.core.report import run_script

def train(config, reporter):
    reporter(epoch=1, loss=float(config["x"]) * 2)

if __name__ == "__main__":
    run_script(train)
"""


def test_core_report_is_shipped_with_any_source_dir(aws, tmp_path):
    src = tmp_path / "user_code"
    src.mkdir()
    (src / "train.py").write_text(TRAIN)
    backend = SageMakerBackend(entry_point="train.py", source_dir=str(src), image_uri=IMAGE,
                               role=ROLE, bucket=BUCKET, session=aws, run_id=RUN_ID)
    uri = json.loads(backend.training_job_request(Trial(0, {}), "n")["HyperParameters"][
        "sagemaker_submit_directory"])
    body = aws.client("s3").get_object(Bucket=BUCKET, Key=uri.removeprefix(f"s3://{BUCKET}/"))
    code = tmp_path / "opt_ml_code"  # as the training toolkit unpacks it
    tarfile.open(fileobj=io.BytesIO(body["Body"].read())).extractall(code, filter="data")
    # -S: no site-packages, so core.report can only come from the unpacked code
    out = subprocess.run([sys.executable, "-S", "train.py", "--x", "1.5"], cwd=code,
                         env={"PYTHONPATH": str(code)}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout == '[simtune] {"epoch": 1, "loss": 3.0}\n'
    own = tmp_path / "own"
    (own / "simtune" / "core").mkdir(parents=True)
    (own / "train.py").write_text(TRAIN)
    (own / "simtune" / "core" / "report.py").write_text("# the user's own\n")
    from simtune.core.backends._aws import reporter_files

    assert reporter_files(own) == {} and set(reporter_files(src)) == {
        "simtune/__init__.py", "simtune/core/__init__.py", "simtune/core/report.py"}


def test_recover_stops_the_interrupted_runs_job_and_resumes_from_its_checkpoint(aws, source):
    config = {"lr": 0.1}
    first = make(aws, source)  # the process that was interrupted
    first.start(Trial(3, config))
    (old,) = first._by_name
    set_status(old, "InProgress")
    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key=f"{CKPT}/trial_3/model.pkl", Body=b"epoch 7")

    backend = make(aws, source)  # the rerun, in a new process: same run id, same prefix
    assert backend.checkpoint_s3_uri(3) == first.checkpoint_s3_uri(3)
    other_run = make(aws, source, run_id="/runs/other")
    assert other_run.checkpoint_s3_uri(3) != first.checkpoint_s3_uri(3)
    stopped: list[str] = []
    answer_stop(backend, stopped)
    with pytest.raises(ValueError, match=r"trial 3: s3://.*/trial_3/config.json holds config "
                                         r"\{'lr': 0.1\}, not \{'lr': 0.2\}"):
        backend.recover(Trial(3, {"lr": 0.2}))
    trial = Trial(3, config)
    backend.recover(trial)
    assert stopped == [old]  # stopped, not adopted
    assert backend.next_events(until=1) == []  # taken over as paused: nothing runs
    backend.resume(trial)
    backend.poll()
    assert jobs_of(backend, 3) == [old]  # waits until the old job wrote its last checkpoint
    set_status(old, "Stopped")
    backend.poll()
    new = [n for n in jobs_of(backend, 3) if n != old]
    assert len(new) == 1 and new[0].endswith("-r1")
    desc = aws.client("sagemaker").describe_training_job(TrainingJobName=new[0])
    assert desc["CheckpointConfig"]["S3Uri"] == first.checkpoint_s3_uri(3)
    assert s3.get_object(Bucket=BUCKET, Key=f"{CKPT}/trial_3/model.pkl")["Body"].read() == (
        b"epoch 7")
    nothing = Trial(5, {"lr": 0.5})  # never started before: resumes from scratch
    backend.recover(nothing)
    backend.resume(nothing)
    assert len(jobs_of(backend, 5)) == 1


def test_a_new_trial_never_starts_from_a_stale_checkpoint(aws, source):
    s3 = aws.client("s3")
    s3.put_object(Bucket=BUCKET, Key=f"{CKPT}/trial_0/model.pkl", Body=b"old run")
    backend = make(aws, source)
    backend.start(Trial(0, {"lr": 0.1}))
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{CKPT}/trial_0/")
    recorded = s3.get_object(Bucket=BUCKET, Key=f"simtune/{base.KEY}/trials/trial_0/config.json")
    assert json.loads(recorded["Body"].read()) == {"lr": 0.1}


def test_a_job_prefix_with_odd_characters_still_finds_its_jobs(aws, source):
    backend = make(aws, source, job_prefix="my_run.v2", max_fidelity=None)
    backend.start(Trial(0, {"lr": 0.1}))
    (name,) = backend._by_name
    assert name.startswith(f"my-run-v2-{base.KEY[-8:]}-0-")
    set_status(name, "InProgress")
    base.log_lines(aws, name, ['[simtune] {"epoch": 1, "acc": 0.5}',
                               '[simtune] {"epoch": 2, "acc": 0.6}'],
                   int(backend._wall0 * 1000) + 5)
    set_status(name, "Completed")
    events = base.drain(backend)
    assert [(e.fidelity, e.last) for e in events] == [(1, False), (2, True)]


def test_the_run_key_depends_on_the_run_id_alone():
    assert run_key(RUN_ID) == run_key(RUN_ID) == base.KEY
    assert run_key("/runs/a/seed=1") != run_key("/runs/b/seed=1")
    assert re.fullmatch(r"[a-zA-Z0-9-]+", run_key("/x/scheduler=asha,seed=3"))
    assert Path(run_key("/x/y/")).name == run_key("/x/y/")  # no slashes

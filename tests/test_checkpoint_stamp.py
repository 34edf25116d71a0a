"""A checkpoint reaches object storage only with the report it stands for (issue 26).

Training writes its checkpoint, then reports. A push to storage that caught the new
checkpoint before its report line would leave storage a checkpoint whose report dies with
the node: the trial retried from it skips that report for good. Each report line carries
the checkpoint's fingerprint ($SIMTUNE_CHECKPOINT_STAMP=1), and a push uploads the
checkpoint only while it is still the one the newest report names. Against a local S3
server (moto's server mode) and a real trial process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simtune.core.checkpoint_stamp import STAMP_ENV, STAMP_KEY, checkpoint_stamp
from simtune.core.report import PREFIX, parse_report, split_report
from tests.s3_local import local_s3

BUCKET = "stamps"

TRAIN = textwrap.dedent(
    """
    from pathlib import Path

    from simtune.core.report import run_script


    def train(config, reporter, checkpoint_dir):
        ckpt = Path(checkpoint_dir) / "state.txt"
        for epoch in range(1, 3):
            (ckpt.parent / "tmp").write_text(str(epoch))
            (ckpt.parent / "tmp").replace(ckpt)
            reporter(epoch=epoch, loss=1.0 / epoch)


    if __name__ == "__main__":
        run_script(train)
    """
)


@pytest.fixture(scope="module")
def store():
    """An ObjectStorage on a bucket of a local S3 server."""
    pytest.importorskip("pyarrow", reason='storage=s3://... needs pyarrow: pip install -e ".[ray]"')
    from simtune.core.backends._objectstore import ObjectStorage

    with local_s3(BUCKET) as (endpoint, _):
        yield ObjectStorage(f"s3://{BUCKET}/run?endpoint_override={endpoint}&scheme=http"
                            "&region=us-east-1")


def _replace(path: Path, text: str) -> None:
    """Write a checkpoint file as training does: a temporary file renamed over it."""
    (path.parent / "tmp").write_text(text)
    (path.parent / "tmp").replace(path)


def _stored(store, rel: str) -> str | None:
    try:
        with store.fs.open_input_stream(f"{store.base}/{rel}") as f:
            return f.read().decode()
    except (FileNotFoundError, OSError):
        return None


def test_a_trial_process_stamps_its_reports_with_its_checkpoint_when_asked(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    ckpt = tmp_path / "ckpt"
    env = {**os.environ, STAMP_ENV: "1", "PYTHONPATH": str(Path.cwd())}
    out = subprocess.run([sys.executable, str(script), "--checkpoint-dir", str(ckpt)],
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    lines = [line for line in out.stdout.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 2
    stamps = [json.loads(line[len(PREFIX):])[STAMP_KEY] for line in lines]
    assert stamps[0] != stamps[1]  # each report names the checkpoint written before it
    assert stamps[1] == checkpoint_stamp(str(ckpt))  # the last one is still there
    assert parse_report(lines[1]) == {"epoch": 2, "loss": 0.5}  # no metric of its own
    assert split_report(lines[1]) == ({"epoch": 2, "loss": 0.5}, stamps[1])
    env.pop(STAMP_ENV)
    plain = subprocess.run([sys.executable, str(script), "--checkpoint-dir", str(ckpt)],
                           env=env, capture_output=True, text=True, timeout=60, check=True)
    assert STAMP_KEY not in plain.stdout  # only a backend that syncs checkpoints asks


def test_a_checkpoint_newer_than_the_newest_report_stays_off_storage(store, tmp_path):
    trial = tmp_path / "trial_0"
    ckpt = trial / "checkpoints" / "state.txt"
    ckpt.parent.mkdir(parents=True)
    out = trial / "stdout.txt"
    sent: dict = {}

    _replace(ckpt, "1")
    out.write_text("report 1\n")
    reported = checkpoint_stamp(str(ckpt.parent))  # what report 1's line carries
    store.push(trial, "trial_0", sent, reported)
    assert _stored(store, "trial_0/checkpoints/state.txt") == "1"

    _replace(ckpt, "2")  # checkpoint 2 written, its report not yet made
    (ckpt.parent / "extra.bin").write_bytes(b"x")  # part of checkpoint 2 too
    out.write_text("report 1\nsome log line\n")
    store.push(trial, "trial_0", sent, reported)
    assert _stored(store, "trial_0/checkpoints/state.txt") == "1"  # still report 1's
    assert _stored(store, "trial_0/checkpoints/extra.bin") is None
    assert _stored(store, "trial_0/stdout.txt") == "report 1\nsome log line\n"
    store.push(trial, "trial_0", sent, None)  # no report made yet: nothing to stand for
    assert _stored(store, "trial_0/checkpoints/state.txt") == "1"

    out.write_text("report 1\nsome log line\nreport 2\n")
    store.push(trial, "trial_0", sent, checkpoint_stamp(str(ckpt.parent)))  # report 2
    assert _stored(store, "trial_0/checkpoints/state.txt") == "2"
    assert _stored(store, "trial_0/checkpoints/extra.bin") == "x"

    (ckpt.parent / "extra.bin").unlink()
    _replace(ckpt, "3")  # written after its last report, then the process ended well
    store.push(trial, "trial_0", sent, True)
    assert _stored(store, "trial_0/checkpoints/state.txt") == "3"
    assert _stored(store, "trial_0/checkpoints/extra.bin") is None  # replaced whole

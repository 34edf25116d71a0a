"""The stdout line protocol and the script entry point, through a real subprocess."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from simtune.core.report import (
    StdoutReporter,
    config_to_argv,
    format_report,
    parse_args,
    parse_report,
    parse_value,
)


def test_reporter_writes_one_parseable_line_per_call():
    buf = io.StringIO()
    reporter = StdoutReporter(buf)
    reporter(epoch=3, val_accuracy=np.float32(0.5), n=np.int64(7))
    reporter(epoch=4, loss=float("nan"))
    lines = buf.getvalue().splitlines()
    assert lines[0] == '[simtune] {"epoch": 3, "val_accuracy": 0.5, "n": 7}'
    assert parse_report(lines[0]) == {"epoch": 3, "val_accuracy": 0.5, "n": 7}
    loss = parse_report(lines[1])["loss"]
    assert loss != loss  # NaN survives the round trip


def test_other_output_is_ignored_and_bad_reports_say_why():
    assert parse_report("epoch 3 done, loss 0.2") is None
    assert parse_report("[simtune]no space") is None
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_report('[simtune] {"epoch": 3,')
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_report("[simtune] [1, 2]")
    with pytest.raises(ValueError, match=r"acc='high' is not a number"):
        parse_report('[simtune] {"epoch": 1, "acc": "high"}')
    with pytest.raises(ValueError, match="acc='high' is not a number; report numbers only"):
        format_report({"epoch": 1, "acc": "high"})
    with pytest.raises(ValueError, match="at least one metric"):
        format_report({})


@pytest.mark.parametrize(
    "text, value",
    [("3", 3), ("-12", -12), ("0.001", 0.001), ("1e-05", 1e-05), (".5", 0.5),
     ("True", True), ("relu", "relu"), ("1 2", "1 2"), ("", ""), ("nan", "nan"),
     ("--x", "--x")],
)
def test_parse_value(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


def test_argv_round_trip_keeps_types_and_odd_strings():
    config = {"lr": 0.1 + 0.2, "layers": 3, "act": "relu", "s": "a 'b' \"c\" $X; `y` | z",
              "neg": -1e-300, "flag": False, "dash": "--lr"}
    argv = [*config_to_argv(config), "--checkpoint-dir", "/tmp/c d"]
    assert parse_args(argv) == (config, "/tmp/c d")


@pytest.mark.parametrize(
    "argv, message",
    [(["--lr"], "in '--name value' pairs"), (["lr", "0.1"], "argument 1 is 'lr'"),
     (["--", "1"], "argument 1 is '--'")],
)
def test_bad_argv_names_the_item(argv, message):
    with pytest.raises(ValueError, match=message):
        parse_args(argv)


SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    from simtune.core.report import run_script

    def train(config, reporter, checkpoint_dir=None):
        print("a log line that is not a report")
        json.dump({"config": config, "ckpt": checkpoint_dir}, sys.stderr)
        reporter(epoch=1, loss=config["lr"] * 2)

    if __name__ == "__main__":
        run_script(train)
    """
)


def test_run_script_end_to_end(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ckpt = tmp_path / "ck pt"
    proc = subprocess.run(
        [sys.executable, str(script), "--lr", "0.25", "--name", "two words",
         "--checkpoint-dir", str(ckpt)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "a log line that is not a report", '[simtune] {"epoch": 1, "loss": 0.5}']
    seen = json.loads(proc.stderr)
    assert seen == {"config": {"lr": 0.25, "name": "two words"}, "ckpt": str(ckpt)}
    assert ckpt.is_dir()


def test_run_script_bad_argv_exits_2_with_one_line(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    proc = subprocess.run([sys.executable, str(script), "--lr"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: arguments must come in '--name value' pairs; got 1 items: ['--lr']"]


TYPED = {"id": "007", "cat": "1", "lr": 0.1, "flag": True, "n": 3, "none": None}


def test_pairs_take_their_types_from_the_json_of_the_same_config():
    argv = config_to_argv(TYPED)
    guessed, _ = parse_args(argv)
    assert guessed["id"] == 7 and guessed["cat"] == 1  # what the pairs alone can say
    exact, _ = parse_args(argv, json.dumps(TYPED))
    assert exact == TYPED and [type(v) for v in exact.values()] == [
        type(v) for v in TYPED.values()]
    # JSON of another config (inherited by a nested script): the pairs alone count
    other = {**TYPED, "id": "008"}
    assert parse_args(argv, json.dumps(other))[0] == guessed
    assert parse_args(argv[:-2], json.dumps(TYPED))[0]["id"] == 7


def test_config_json_argument():
    config, ckpt = parse_args(["--config-json", json.dumps(TYPED), "--checkpoint-dir", "c"])
    assert (config, ckpt) == (TYPED, "c")
    config, _ = parse_args(["--config-json", '{"a": "1"}', "--b", "2"])
    assert config == {"a": "1", "b": 2}
    with pytest.raises(ValueError, match="'a' is given both in --config-json and as --a"):
        parse_args(["--config-json", '{"a": 1}', "--a", "2"])
    with pytest.raises(ValueError, match="--config-json is not valid JSON"):
        parse_args(["--config-json", "{a: 1}"])
    with pytest.raises(ValueError, match="--config-json must be a JSON object"):
        parse_args(["--config-json", "[1]"])


def test_run_script_reads_the_json_argument_and_the_typed_environment(tmp_path):
    import os

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "SIMTUNE_CONFIG": json.dumps({"lr": 1, "id": "007"})}
    runs = {
        "json": ([sys.executable, str(script), "--config-json", '{"lr": 0.5, "id": "007"}'],
                 {k: v for k, v in env.items() if k != "SIMTUNE_CONFIG"}),
        "typed pairs": ([sys.executable, str(script), "--lr", "1", "--id", "007"], env),
    }
    seen = {}
    for name, (argv, run_env) in runs.items():
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=run_env)
        assert proc.returncode == 0, proc.stderr
        seen[name] = json.loads(proc.stderr)["config"]
    assert seen == {"json": {"lr": 0.5, "id": "007"}, "typed pairs": {"lr": 1, "id": "007"}}

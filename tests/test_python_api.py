"""docs/python_api.md runs as written: its quickstart, the plot command, a rerun."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "python_api.md"


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.mark.slow
def test_the_quickstart_runs_as_documented(tmp_path):
    (tmp_path / "quickstart.py").write_text(_blocks("python")[0])
    proc = subprocess.run([sys.executable, "quickstart.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = proc.stdout.splitlines()[0]
    assert re.match(r"trial budget reached: best loss \d\.\d{4} by trial \d+, config \{'lr'",
                    first), first
    rows = pd.read_csv(tmp_path / "quickstart" / "results.csv")
    assert rows["trial_id"].nunique() == 16
    assert {"config_lr", "config_layers", "config_activation"} <= set(rows.columns)
    assert rows.groupby("trial_id")["epoch"].max().nunique() > 1  # several fidelities
    assert (rows["decision"] == "stop").any()  # ASHA stopped some early
    meta = json.loads((tmp_path / "quickstart" / "metadata.json").read_text())
    assert meta["complete"] is True and meta["scheduler"]["name"] == "asha"

    plot = _blocks("bash")[0].split()
    assert plot[:2] == ["python", "analysis/plot_results.py"]
    out = subprocess.run([sys.executable, str(ROOT / plot[1]), *plot[2:]], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "quickstart" / "plots" / "run.png").stat().st_size > 10_000  # one run

    again = subprocess.run([sys.executable, "quickstart.py"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode != 0
    assert "holds a complete run of this configuration already" in again.stderr

"""experiments.assemble builds a run from names; core.backends' registry finds the backends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from simtune.blackboxes.blackbox import TabularBlackbox
from simtune.blackboxes.synthetic import BraninCurves
from simtune.core.backends import BACKENDS, backend_class
from simtune.core.backends.simulated import SimulatedBackend
from simtune.core.rundir import open_run
from simtune.core.stopping import StoppingCriterion
from simtune.experiments.assemble import assemble
from tests.helpers import simulate, toy_table

ROOT = Path(__file__).resolve().parents[1]


def test_the_registry_imports_a_backend_only_when_asked() -> None:
    script = ("import sys\nfrom core.backends import backend_class\n"
              "backend_class('simulated')\n"
              "print([m for m in ('ray', 'boto3', 'simtune.core.backends.local')"
              " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "[]"
    assert backend_class("simulated") is SimulatedBackend
    assert set(BACKENDS) == {"simulated", "local", "python", "sagemaker", "ray"}


def test_an_unknown_backend_gets_one_line_listing_the_known() -> None:
    with pytest.raises(ValueError, match="unknown backend 'slurm'; available: simulated, local"):
        assemble(BraninCurves(), "random", seed=0, stop=StoppingCriterion(max_trials=2),
                 backend="slurm")


def _rows(path: Path) -> str:
    return (path / "results.csv").read_text()


@pytest.mark.parametrize("scheduler", ["random", "asha"])
def test_a_run_assembled_from_names_is_the_run_of_its_seed(tmp_path: Path, scheduler) -> None:
    bb = BraninCurves(max_fidelity=9)

    def run(seed: int, out: Path) -> str:
        parts = assemble(bb, scheduler, seed=seed, stop=StoppingCriterion(max_trials=12),
                         n_workers=3)
        session = open_run(out, fidelity=bb.fidelity_name, metrics=list(bb.objectives),
                           hyperparameters=list(bb.space))
        parts.tuner(session=session).run()
        return _rows(out)

    first = run(5, tmp_path / "a")
    assert run(5, tmp_path / "b") == first  # same seed, same bytes
    assert run(6, tmp_path / "c") != first
    simulate(bb, scheduler, 5, tmp_path / "by_hand", n_workers=3, max_trials=12)
    assert _rows(tmp_path / "by_hand") == first  # the streams of core.seeds.run_rngs


def test_a_multi_fidelity_scheduler_on_one_fidelity_is_refused_unless_allowed() -> None:
    table = toy_table()
    bb = TabularBlackbox.from_arrays(
        name="toy", task="final", space=table.space, configs=table.configs(), seeds=[0],
        fidelities=[4], objectives={"loss": "min"}, source="test",
        values={k: table._arrays[k][:, :1, -1:] for k in ("loss", "elapsed_time")})
    stop = StoppingCriterion(max_trials=2)
    with pytest.raises(ValueError, match="asha"):
        assemble(bb, "asha", seed=0, stop=stop)
    parts = assemble(bb, "asha", seed=0, stop=stop, allow_single_fidelity=True)
    assert parts.one_fidelity and parts.objective == ("loss", "min")

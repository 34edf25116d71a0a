"""experiments.assemble.load_benchmark: a cached table is read once per process, and again when
it is rebuilt; runs sharing it give the results they give alone."""

import os
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from simtune.blackboxes import repository
from simtune.experiments.assemble import load_benchmark
from simtune.experiments.run import run
from tests.test_lcbench import write_lcbench

CONF = Path(__file__).resolve().parents[1] / "conf"


def _cfg(raw: Path):
    return OmegaConf.create(
        {"benchmark": {"name": "lcbench", "task": "credit-g", "raw_dir": str(raw)}}
    )


def test_table_shared_between_loads_and_reread_once_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    cfg = _cfg(write_lcbench(tmp_path / "raw").parent)
    converted = load_benchmark(cfg)  # converts the raw file into the cache
    [cached] = repository.cached_files("lcbench", "credit-g")
    first = load_benchmark(cfg)
    assert first is not converted
    assert load_benchmark(cfg) is first  # read once for the runs that follow
    converted.save(cached)  # rebuilt: a newer file
    stat = cached.stat()
    os.utime(cached, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    rebuilt = load_benchmark(cfg)
    assert rebuilt is not first
    assert rebuilt.configs() == first.configs()
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "other"))
    assert repository.cached_files("lcbench", "credit-g") == []
    assert load_benchmark(cfg) is not rebuilt  # another cache: not the kept table


def test_runs_sharing_a_table_give_the_results_of_a_fresh_process(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    raw = write_lcbench(tmp_path / "raw").parent
    with initialize_config_dir(config_dir=str(CONF), version_base=None):
        cfg = compose(
            "config",
            overrides=[
                "benchmark=lcbench", "benchmark.task=credit-g", f"benchmark.raw_dir={raw}",
                "scheduler=asha", "seed=5", "stop.max_trials=30", "progress=false",
            ],
        )
    load_benchmark(cfg)  # convert once, so that every run below reads the cached table
    outs = []
    for name in ("a", "b", "c"):
        run(cfg, tmp_path / name)
        outs.append((tmp_path / name / "results.csv").read_bytes())
    assert outs[0] == outs[1] == outs[2]
    assert outs[0].count(b"\n") > 30

"""The catalogue of bad input: every case gets one readable line, exit code 2, and changes
nothing on disk. Each case is a command a user could type, run as a real process."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from simtune.core.runlock import LOCK_FILE

ROOT = Path(__file__).resolve().parents[1]
RUN, PLOT = "run", "plot"
BLACKBOXES = "blackboxes"

_TAB = {"train": "experiments/training/mlp_sklearn.py:train", "--seeds": "0", "--name": "x",
        "--task": "y", "--objective": "val_accuracy=max", "--max-fidelity": "2",
        "--out": "{tmp}/t.h5",
        "--space": "simtune.blackboxes.sources.mlp_sklearn:mlp_sklearn_space"}


def tab(**changes: str) -> list[str]:
    """A `python -m simtune.blackboxes tabulate` command line, with `changes` (option=value)."""
    opts = {**_TAB, **{f"--{k.replace('_', '-')}" if k != "train" else k: v
                       for k, v in changes.items()}}
    out = ["tabulate", opts.pop("train"), "--grid"]
    for key, value in opts.items():
        out += [key, value]
    return out


# the finished run every case is tried against
FIN = ["scheduler=random", "stop.max_trials=5", "stop.max_wallclock=null", "n_workers=2",
       "hydra.run.dir={fin}"]

# (tool, arguments, a piece of the one line expected); {fin}, {tmp} are filled in
CASES: list[tuple[str, list[str], str]] = [
    # run.py: the run's own keys
    (RUN, ["seed=abc"], "seed must be a non-negative integer"),
    (RUN, ["seed=1.5"], "seed must be a non-negative integer"),
    (RUN, ["seed=-1"], "seed must be a non-negative integer"),
    (RUN, ["seed=true"], "seed must be a non-negative integer"),
    (RUN, ["seed=null"], "seed must be a non-negative integer"),
    (RUN, ["n_workers=0"], "n_workers must be a positive integer"),
    (RUN, ["n_workers=-1"], "n_workers must be a positive integer"),
    (RUN, ["n_workers=abc"], "n_workers must be a positive integer"),
    (RUN, ["n_workers=1.5"], "n_workers must be a positive integer"),
    (RUN, ["n_workers=true"], "n_workers must be a positive integer"),
    (RUN, ["resume=maybe"], "resume must be true or false"),
    (RUN, ["status_every=-1"], "status_every must be a positive number"),
    (RUN, ["status_every=abc"], "status_every must be a positive number"),
    # run.py: the budget
    (RUN, ["stop.max_trials=abc"], "stop.max_trials must be a positive integer"),
    (RUN, ["stop.max_trials=1.5"], "stop.max_trials must be a positive integer"),
    (RUN, ["stop.max_trials=0"], "stop.max_trials must be a positive integer"),
    (RUN, ["stop.max_trials=-3"], "stop.max_trials must be a positive integer"),
    (RUN, ["stop.max_trials=true"], "stop.max_trials must be a positive integer"),
    (RUN, ["stop.max_wallclock=-5"], "stop.max_wallclock must be a positive number"),
    (RUN, ["stop.max_wallclock=abc"], "stop.max_wallclock must be a positive number"),
    (RUN, ["stop.max_wallclock=inf"], "stop.max_wallclock must be a positive number"),
    (RUN, ["stop.max_wallclock=nan"], "stop.max_wallclock must be a positive number"),
    (RUN, ["stop.max_failures=0"], "stop.max_failures must be a positive integer"),
    (RUN, ["stop.max_trials_finished=2.5"], "stop.max_trials_finished must be a positive int"),
    (RUN, ["stop.max_cost=-1"], "stop.max_cost must be a positive number"),
    (RUN, ["stop.metric_target=abc"], "stop.metric_target must be a finite number"),
    (RUN, ["stop.metric_target=inf"], "stop.metric_target must be a finite number"),
    (RUN, ["stop.cost_attribute=3"], "stop.cost_attribute must name a reported metric"),
    (RUN, ["+stop.nope=1"], "stop.nope is not a stop criterion"),
    (RUN, ["stop.max_wallclock=null", "stop.max_trials=null"], "the run has no budget"),
    # run.py: stoppers, retries, checkpoint cleanup
    (RUN, ["stop.max_trial_fidelity=0"], "stop.max_trial_fidelity must be an integer >= 1"),
    (RUN, ["stop.trial_plateau_std=-1"], "stop.trial_plateau_std must be a positive number"),
    (RUN, ["stop.trial_plateau_std=0.1", "stop.trial_plateau_reports=1"],
     "stop.trial_plateau_reports must be an integer >= 2"),
    (RUN, ["stop.run_plateau_trials=abc"], "stop.run_plateau_trials must be an integer >= 1"),
    (RUN, ["retries=-1"], "retries must be a non-negative integer"),
    (RUN, ["retries=1.5"], "retries must be a non-negative integer"),
    (RUN, ["keep_checkpoints=best:0"], "keep_checkpoints must be all, null or best:K"),
    (RUN, ["keep_checkpoints=worst"], "keep_checkpoints must be all, null or best:K"),
    (RUN, ["keep_checkpoints=best:2", "scheduler=pbt"], "cannot run with scheduler=pbt"),
    # run.py: names
    (RUN, ["scheduler=bogus"], "scheduler=bogus: no such scheduler; available: asha"),
    (RUN, ["benchmark=bogus"], "benchmark=bogus: no such benchmark; available:"),
    (RUN, ["backend=bogus"], "backend=bogus: no such backend; available:"),
    (RUN, ["launcher=bogus"], "launcher=bogus: no such launcher; available: local"),
    (RUN, ["stop=bogus"], "stop=bogus: no such stop; available: default"),
    (RUN, ["-m", "scheduler=asha,bogus"], "scheduler=bogus: no such scheduler"),
    # run.py: the scheduler's arguments
    (RUN, ["+scheduler.etta=2"], "scheduler 'asha' has no parameter 'etta'"),
    (RUN, ["scheduler.etta=2"], "scheduler.etta: scheduler 'asha' has no parameter 'etta'"),
    (RUN, ["scheduler=dehb", "scheduler.mutation_factor=0.7"],  # under searcher_args now
     "scheduler 'dehb' has no parameter 'mutation_factor'"),
    (RUN, ["scheduler=bohb", "scheduler.searcher_args.gama=0.2"],
     "conf/scheduler/bohb.yaml does not set 'gama'"),
    (RUN, ["-m", "scheduler=asha,bo", "scheduler.eta=2"], "scheduler 'bo' has no parameter 'eta'"),
    (RUN, ["seeed=3"], "seeed: no such key; the run's keys are allow_single_fidelity, "),
    (RUN, ["stop.max_trails=3"], "conf/stop/default.yaml does not set 'max_trails'"),
    (RUN, ["benchmark=fcnet", "benchmark.tsk=naval"], "fcnet.yaml does not set 'tsk'"),
    (RUN, ["scheduler.eta=abc"], "eta"),
    (RUN, ["scheduler.eta=1"], "eta must be a finite number > 1"),
    (RUN, ["scheduler.eta=1e400"], "eta"),
    (RUN, ["scheduler.grace_period=0"], "grace_period"),
    (RUN, ["scheduler.grace_period=abc"], "grace_period"),
    (RUN, ["scheduler.type=bogus"], "type must be one of"),
    (RUN, ["scheduler=bo", "scheduler.n_init=-1"], "n_init must be a positive integer"),
    (RUN, ["scheduler=moasha", "benchmark=nasbench201"], "optimizes several objectives"),
    # run.py: a multi-fidelity scheduler on a table with one fidelity is random search
    (RUN, ["benchmark=nasbench201"], "scheduler=asha is multi-fidelity, but nasbench201/cifar10 "
     "has a single fidelity (epoch 200 only), so it would be random search; fetch its learning "
     "curves once with `python -m simtune.blackboxes download nasbench201` (1.1 GB), or use a "
     "benchmark with curves offline: benchmark=mlp_sklearn"),
    (RUN, ["scheduler=bohb", "benchmark=nasbench201", "benchmark.task=cifar100"],
     "the NATS-Bench records hold curves for cifar10 only: benchmark.task=cifar10 after"),
    (RUN, ["scheduler=median_stopping", "benchmark=fcnet"], "but fcnet/protein_structure has "
     "a single fidelity (epoch 100 only), so it would be random search; fetch its learning "
     "curves once with `python -m simtune.blackboxes download fcnet`"),
    (RUN, ["scheduler=pbt", "benchmark=hpobench_mlp"], "hpobench_mlp/australian has a single "
     "fidelity (iter 243 only), so it would be random search; no source of hpobench_mlp "
     "records learning curves: use a benchmark with curves offline: benchmark=mlp_sklearn"),
    (RUN, ["scheduler=sync_sh", "benchmark=custom", "backend=local",
           "benchmark.training={tmp}/fit.py:fit", "benchmark.space={tmp}/space.yaml",
           "benchmark.metric=f1", "benchmark.max_fidelity=1"],
     "set benchmark.max_fidelity to the last value of the fidelity your training reports"),
    (RUN, ["benchmark=nasbench201", "allow_single_fidelity=maybe"],
     "allow_single_fidelity must be true or false"),
    # ... and a sweep holding one such pair stops before its directory is made
    (RUN, ["-m", "scheduler=asha,bo", "benchmark=nasbench201"],
     "scheduler=asha is multi-fidelity, but nasbench201/cifar10 has a single fidelity"),
    (RUN, ["-m", "scheduler=random,hyperband", "benchmark=nasbench201",
           "benchmark.task=cifar10,imagenet16-120", "allow_single_fidelity=false"],
     "scheduler=hyperband is multi-fidelity, but nasbench201/cifar10 has a single fidelity"),
    (RUN, ["scheduler=pbt", "scheduler.population_size=0"], "population_size"),
    # run.py: the backend's arguments
    (RUN, ["+backend.nope=1"], "backend 'simulated' has no parameter 'nope'"),
    (RUN, ["backend.charge_decision_time=maybe"], "charge_decision_time must be true or false"),
    (RUN, ["backend=local", "backend.hang_timeout=-1"], "hang_timeout must be a non-negative"),
    (RUN, ["backend=local", "backend.grace_period=abc"], "grace_period must be a non-negative"),
    (RUN, ["backend=local", "backend.max_trial_seconds=-1"], "max_trial_seconds must be"),
    (RUN, ["backend=python", "+backend.nope=1"], "backend 'python' has no parameter 'nope'"),
    (RUN, ["backend=sagemaker"], "backend=sagemaker needs image_uri, role, bucket"),
    # run.py: the benchmark
    (RUN, ["benchmark.task=mnist"], "has no task 'mnist'; tasks: digits"),
    (RUN, ["benchmark=nasbench201", "benchmark.task=cifar11"], "has no task 'cifar11'"),
    (RUN, ["benchmark.metric=nope"], "has no objective 'nope'; objectives: val_accuracy"),
    (RUN, ["benchmark.surrogate=bogus"], "unknown surrogate model 'bogus'"),
    (RUN, ["benchmark=nasbench201", "benchmark.raw_dir={tmp}/nothing"], "has no NATS-Bench raw"),
    (RUN, ["backend=local", "benchmark=nasbench201"], "has no `training:` entry"),
    (RUN, ["backend=local", "benchmark.training=nope.py:train"], "benchmark.training: "),
    (RUN, ["backend=local", "benchmark.training=notapath"], "benchmark.training: "),
    (RUN, ["backend=python", "benchmark.training=nope.py:train"], "benchmark.training: "),
    (RUN, ["benchmark=custom", "backend=local"], "benchmark.training must name your training"),
    (RUN, ["benchmark=custom", "backend=local", "benchmark.training={tmp}/fit.py:fit"],
     "benchmark.space must be a YAML or JSON file"),
    (RUN, ["benchmark=custom", "backend=local", "benchmark.training={tmp}/fit.py:fit",
           "benchmark.space={tmp}/nope.yaml"], "no such file"),
    (RUN, ["benchmark=custom", "backend=local", "benchmark.training={tmp}/fit.py:fit",
           "benchmark.space={tmp}/broken.yaml"], "cannot be read"),
    (RUN, ["benchmark=custom", "backend=local", "benchmark.training={tmp}/fit.py:fit",
           "benchmark.space={tmp}/space.yaml"], "benchmark.metric must name the metric"),
    (RUN, ["benchmark=custom", "backend=local", "benchmark.training={tmp}/fit.py:fit",
           "benchmark.space={tmp}/space.yaml", "benchmark.metric=f1",
           "benchmark.mode=maximise"], "benchmark.mode must be min or max"),
    (RUN, ["benchmark=custom", "backend=local", "benchmark.training={tmp}/fit.py:fit",
           "benchmark.space={tmp}/space.yaml", "benchmark.metric=f1"],
     "benchmark.max_fidelity must be a positive integer"),
    (RUN, ["benchmark=custom", "backend=simulated", "benchmark.training={tmp}/fit.py:fit",
           "benchmark.space={tmp}/space.yaml", "benchmark.metric=f1",
           "benchmark.max_fidelity=3"], "has no table to simulate"),
    (RUN, ["benchmark=custom", "backend=local", "benchmark.training={tmp}/fit.py:fit",
           "benchmark.space={tmp}/misspelt.yaml"], "misspelt.yaml: "
     "hyperparameter 'x': type choice takes no key 'categroies' (did you mean 'categories'?)"),
    # run.py: entries of benchmark=custom given to a table benchmark
    (RUN, ["benchmark=synthetic", "benchmark.space={tmp}/space.yaml"],
     "benchmark=synthetic has its own space, objectives and fidelities and takes no space; "
     "for your own, use benchmark=custom, e.g. benchmark=custom"),
    (RUN, ["+benchmark.space={tmp}/space.yaml"],  # "+" passes the command-line check
     "benchmark.space: benchmark=mlp_sklearn has its own space"),
    (RUN, ["benchmark=fcnet", "+benchmark.max_fidelity=30"],
     "takes no max_fidelity; for your own, use benchmark=custom"),
    (RUN, ["benchmark=fcnet", "backend=local", "benchmark.training={tmp}/fit.py:fit"],
     "benchmark=fcnet sets no training; to train your script on fcnet's own space write "
     "+benchmark.training="),
    # run.py: directories and the finished run
    (RUN, ["hydra.run.dir={tmp}/afile"], "that is a file; name a directory"),
    (RUN, [*FIN, "seed=5"], "another configuration (seed: 0 -> 5)"),
    (RUN, [*FIN, "n_workers=3"], "another configuration (n_workers: 2 -> 3)"),
    (RUN, [*FIN, "stop.max_trials=6"], "another configuration (stop.max_trials: 5 -> 6)"),
    (RUN, [*FIN, "scheduler=asha"], "another configuration (scheduler.name: 'random' -> 'asha');"),
    (RUN, [*FIN[:-1], "hydra.run.dir={tmp}/edited"], "was changed after simtune wrote it"),
    # run.py: the command line itself (Hydra's syntax, Hydra's own groups)
    (RUN, ["seed=[1,2"], "seed=[1,2: not an override Hydra can read"),
    (RUN, ["seed"], "seed: not an override Hydra can read (missing EQUAL"),
    (RUN, ["hydra/launcher=nope"], "hydra/launcher=nope: no such hydra/launcher; available:"),
    (RUN, ["backend=local", "benchmark.training=experiments/training/mlp_sklearn.py:nope"],
     "has no function 'nope' (its functions: evaluate, split, train)"),
    # plot_results.py
    (PLOT, [], "the following arguments are required"),
    (PLOT, ["{tmp}/nothing"], "does not exist"),
    (PLOT, ["{tmp}/emptydir"], "no runs found"),
    (PLOT, ["{fin}", "--out", "{tmp}/afile"], "afile"),
    (PLOT, ["{tmp}/randrun"], "results.csv"),
    (PLOT, ["{tmp}/truncated"], "results.csv"),
    (PLOT, ["{tmp}/badmeta"], "metadata.json"),
    (PLOT, ["{fin}", "--baseline", "bogus"], "--baseline 'bogus' has no runs"),
    (PLOT, ["{fin}", "--reference", "bogus"], "invalid choice: 'bogus'"),
    (PLOT, ["{fin}", "--bogus"], "unrecognized arguments: --bogus"),
    # python -m simtune.blackboxes
    (BLACKBOXES, [], "no command; use one of list, info"),
    (BLACKBOXES, ["bogus"], "invalid choice: 'bogus'"),
    (BLACKBOXES, ["list", "--bogus"], "unrecognized arguments: --bogus"),
    (BLACKBOXES, ["info", "bogus"], "unknown benchmark 'bogus'; available:"),
    (BLACKBOXES, ["info", "nasbench201", "--task", "bogus"], "has no task 'bogus'"),
    (BLACKBOXES, ["info", "mlp_sklearn", "--task", "mnist"], "has no task 'mnist'"),
    (BLACKBOXES, ["convert", "bogus", "--raw", "{tmp}"], "unknown benchmark 'bogus'"),
    (BLACKBOXES, ["convert", "nasbench201", "--raw", "{tmp}/nothing"], "NATS-Bench raw"),
    (BLACKBOXES, ["convert", "nasbench201", "--raw", "{tmp}/emptydir"], "NATS-Bench raw"),
    (BLACKBOXES, ["download", "bogus"], "no download for 'bogus'"),
    (BLACKBOXES, ["info", "nasbench201", "--env", "SIMTUNE_CACHE={tmp}/afile"],
     "SIMTUNE_CACHE="),
    (BLACKBOXES, ["tabulate", "nope"], "the following arguments are required"),
    (BLACKBOXES, tab(space="wrongsig:space"), "must be a Space or a function"),
    (BLACKBOXES, tab(workers="abc"), "invalid int value"),
    (BLACKBOXES, tab(max_fidelity="0"), "max_fidelity"),
    (BLACKBOXES, tab(train="experiments/training/mlp_sklearn.py:nofn"), "has no attribute"),
    (BLACKBOXES, tab(out="{tmp}/afile/t.h5"), "is not a directory"),
    (BLACKBOXES, tab(objective="val_accuracy=best"), "write NAME=min or NAME=max"),
]

FIT = """
from simtune.core.report import run_script
def fit(config, reporter, checkpoint_dir=None):
    reporter(round=1, f1=0.5)
if __name__ == "__main__":
    run_script(fit)
"""


def _snapshot(directory: Path) -> dict[str, str]:
    """Every file below `directory` but the table cache (loading a benchmark may fill it)."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*"))
            if p.is_file() and p.relative_to(directory).parts[0] != "cache"
            and p.name != LOCK_FILE}  # a writer's lock, there only while it runs


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad")
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp / "cache")}
    fin = tmp / "fin"
    subprocess.run([sys.executable, str(ROOT / "experiments" / "run.py"),
                    *(a.format(fin=fin) for a in FIN), "progress=false"], check=True, env=env,
                   capture_output=True, timeout=300)
    (tmp / "afile").write_text("a file, not a directory\n")
    (tmp / "emptydir").mkdir()
    (tmp / "fit.py").write_text(FIT)
    (tmp / "space.yaml").write_text("x: {type: uniform, low: 0, high: 1}\n")
    (tmp / "broken.yaml").write_text("x: {type: uniform, low: [0\n")
    (tmp / "misspelt.yaml").write_text("x: {type: choice, categroies: [a, b]}\n")
    (tmp / "wrongsig.py").write_text("def space(task, other):\n    return None\n")
    for name, results, meta in (
        ("randrun", os.urandom(4000), (fin / "metadata.json").read_bytes()),
        ("truncated", b"".join((fin / "results.csv").read_bytes().splitlines(True)[:3]),
         (fin / "metadata.json").read_bytes()),
        ("badmeta", (fin / "results.csv").read_bytes(), b"{not json"),
        ("edited", b"".join((fin / "results.csv").read_bytes().splitlines(True)[:-1]),
         (fin / "metadata.json").read_bytes()),  # its last row deleted
    ):
        (tmp / name).mkdir()
        (tmp / name / "results.csv").write_bytes(results)
        (tmp / name / "metadata.json").write_bytes(meta)
    before = _snapshot(tmp)
    fill = {"tmp": str(tmp), "fin": str(fin)}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp), str(ROOT)])

    def one(case):
        tool, args, _ = case
        args = [a.format(**fill) for a in args]
        case_env = dict(env)
        if "--env" in args:
            i = args.index("--env")
            key, _, value = args[i + 1].partition("=")
            case_env[key] = value
            args = args[:i] + args[i + 2:]
        if tool == RUN:
            if not any(a.startswith("hydra.") for a in args):
                args.append(f"hydra.run.dir={fin}")
            if "-m" in args:
                args.append(f"hydra.sweep.dir={tmp}/sweep")
            argv = [sys.executable, str(ROOT / "experiments" / "run.py"), *args, "progress=false"]
        elif tool == PLOT:
            argv = [sys.executable, str(ROOT / "analysis" / "plot_results.py"), *args]
        else:
            argv = [sys.executable, "-m", "simtune.blackboxes", *args]
        cwd = tmp if tool == PLOT else ROOT  # plot_results' default --out is ./results
        proc = subprocess.run(argv, cwd=cwd, env=case_env, capture_output=True, text=True,
                              timeout=300)
        return proc

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(one, CASES))
    return {"before": before, "after": _snapshot(tmp), "results": results}


def test_the_catalogue_is_large():
    assert len(CASES) >= 80


@pytest.mark.slow
@pytest.mark.parametrize("i", range(len(CASES)), ids=[" ".join(c[1])[:60] or c[0] for c in CASES])
def test_bad_input_gets_one_line_and_exit_code_2(world, i):
    tool, args, expected = CASES[i]
    proc = world["results"][i]
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error:" in ln]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-1000:])
    assert len(errors) == 1, lines  # one line says what is wrong (argparse adds its usage)
    assert expected in errors[0], errors[0]


@pytest.mark.slow
def test_bad_input_changes_no_file(world):
    before, after = world["before"], world["after"]
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == [], changed  # nothing rewritten, removed or added


def test_bad_input_into_the_default_directory_leaves_no_outputs_dir(tmp_path):
    """Without hydra.run.dir, Hydra makes outputs/DATE/TIME: bad input removes all three;
    an outputs/ that was there before stays, with what it held."""
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")}
    run = [sys.executable, str(ROOT / "experiments" / "run.py"), "scheduler=asha",
           "benchmark=synthetic", "benchmark.task=branin", "scheduler.eta=1", "progress=false"]
    fresh, kept = tmp_path / "fresh", tmp_path / "kept"
    fresh.mkdir()
    (kept / "outputs" / "old").mkdir(parents=True)
    for cwd in (fresh, kept):
        proc = subprocess.run(run, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "eta must be a finite number > 1" in proc.stderr
    assert list(fresh.iterdir()) == []
    assert list((kept / "outputs").iterdir()) == [kept / "outputs" / "old"]


def test_bad_input_into_a_new_directory_leaves_no_trace(tmp_path):
    """The run directory Hydra made for the invocation goes again, and no run.log is
    written; a directory that was there before (empty) stays."""
    run = [sys.executable, str(ROOT / "experiments" / "run.py"), "scheduler=tpe",
           "scheduler.initial_design=halton", "progress=false"]
    env = {**os.environ, "SIMTUNE_CACHE": str(tmp_path / "cache")}
    (tmp_path / "there").mkdir()
    for name in ("new", "there"):
        proc = subprocess.run([*run, f"hydra.run.dir={tmp_path / name}"], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and "initial_design must be one of" in proc.stderr
    assert not (tmp_path / "new").exists()
    assert list((tmp_path / "there").iterdir()) == []

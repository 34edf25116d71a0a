"""Where a benchmark's learning curves come from: the fix named when a multi-fidelity
scheduler meets a table with a single fidelity (experiments/run.py refuses that run).

Example:
    >>> how_to_get_curves("nasbench201", "cifar10")
    'fetch its learning curves once with '
    '`python -m simtune.blackboxes download nasbench201` (1.1 GB)'
"""

from __future__ import annotations

# benchmarks whose learning curves work offline, with no download
OFFLINE_CURVES = ("benchmark=mlp_sklearn (real curves, shipped) or benchmark=synthetic "
                  "(closed-form curves)")


def human_size(n: int) -> str:
    """`n` bytes as a short decimal size, e.g. 1.1 GB."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.2g} {unit}" if value < 10 else f"{value:.0f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def how_to_get_curves(name: str, task: str | None) -> str | None:
    """How `name`/`task`, loaded with a single fidelity, gets learning curves: the
    download that brings them (with its size where recorded); None if no source has any."""
    from simtune.blackboxes.download import SOURCES

    if name == "custom":
        return ("set benchmark.max_fidelity to the last value of the fidelity your training "
                "reports (e.g. its number of epochs)")
    source = SOURCES.get(name)
    if source is None:
        return None
    sizes = [f.size for f in source.files]
    size = (human_size(sum(sizes)) if all(s is not None for s in sizes)  # type: ignore[misc]
            else "size not recorded")
    command = f"`python -m simtune.blackboxes download {name}` ({size})"
    if name == "nasbench201":
        from simtune.blackboxes.sources.nasbench201 import TASKS

        if task in TASKS and not TASKS[task][2]:
            return (f"the NATS-Bench records hold curves for cifar10 only: benchmark.task=cifar10 "
                    f"after {command}")
    return f"fetch its learning curves once with {command}"


def single_fidelity_refusal(scheduler: str, name: str, task: str | None,
                            fidelity: str, value: int) -> str:
    """The one line refusing multi-fidelity `scheduler` on `name`/`task`, whose table has
    the single fidelity `fidelity`=`value`: the fixes, then the override."""
    where = name if task is None else f"{name}/{task}"
    fix = how_to_get_curves(name, task)
    fix = (f"{fix}, or use" if fix else f"no source of {name} records learning curves: use")
    return (f"scheduler={scheduler} is multi-fidelity, but {where} has a single fidelity "
            f"({fidelity} {value} only), so it would be random search; {fix} a benchmark "
            f"with curves offline: {OFFLINE_CURVES}; allow_single_fidelity=true runs it anyway")

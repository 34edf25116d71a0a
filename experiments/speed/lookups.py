"""How fast the offline tables load from the cache and answer lookups.

python experiments/speed/lookups.py                 # fcnet, hpobench_mlp, nasbench201
python experiments/speed/lookups.py fcnet:slice_localization

For each table: the time to load it from the cache (converted first if absent,
not timed), and the mean time of `curve(config, seed)`, `evaluate(config)`
(the whole curve averaged over seeds) and `evaluate(config, fidelity, seed)`
over random configs of the table. Uses $SIMTUNE_CACHE like everything else.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from simtune.blackboxes import repository

DEFAULT = ["fcnet:protein_structure", "hpobench_mlp:australian", "nasbench201:cifar10"]


def _per_call(fn, args: list[tuple]) -> float:
    start = time.perf_counter()
    for a in args:
        fn(*a)
    return (time.perf_counter() - start) / len(args)


def measure(name: str, task: str, n: int = 20_000, repeats: int = 3) -> dict[str, float]:
    """Seconds: best cached load of `repeats`, and mean per lookup over `n` random configs."""
    repository.load(name, task)  # converts once if the cache is empty
    loads = []
    for _ in range(repeats):
        start = time.perf_counter()
        bb = repository.load(name, task)
        loads.append(time.perf_counter() - start)
    rng = np.random.default_rng(0)
    configs = bb.configs()
    picks = [configs[i] for i in rng.integers(0, len(configs), n)]
    seeded = [(c, bb.seeds_of(c)[0]) for c in picks]
    fid = bb.fidelities[-1]
    return {
        "load_s": min(loads),
        "curve_us": 1e6 * _per_call(bb.curve, seeded),
        "evaluate_curve_us": 1e6 * _per_call(bb.evaluate, [(c,) for c in picks]),
        "evaluate_point_us": 1e6 * _per_call(bb.evaluate, [(c, fid, s) for c, s in seeded]),
        "rows": len(bb),
    }


def main(argv: list[str]) -> None:
    print(f"{'table':<32} {'rows':>7} {'load s':>7} {'curve us':>9} {'eval us':>8} {'point us':>9}")
    for spec in argv or DEFAULT:
        name, _, task = spec.partition(":")
        m = measure(name, task or None)
        print(
            f"{spec:<32} {m['rows']:>7} {m['load_s']:>7.3f} {m['curve_us']:>9.1f} "
            f"{m['evaluate_curve_us']:>8.1f} {m['evaluate_point_us']:>9.1f}"
        )


if __name__ == "__main__":
    main(sys.argv[1:])

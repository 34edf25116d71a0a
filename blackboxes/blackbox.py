"""Blackbox interface and the xarray-backed TabularBlackbox stored as HDF5."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from simtune.core.space import INACTIVE, Space

TIME = "elapsed_time"  # cumulative training time in seconds, in every blackbox


@dataclass(frozen=True, slots=True)
class Curve:
    """What one trial of one config and seed reports: parallel lists, one entry per fidelity."""

    fidelities: list[int]
    elapsed: list[float]  # cumulative seconds at each fidelity
    metrics: dict[str, list[float]]


class Blackbox:
    """A benchmark answering `evaluate(config, fidelity=None, seed=None)`.

    Attributes every blackbox sets: `name`, `task`, `space`, `objectives`
    (objective name -> "min"|"max"), `fidelity_name`, `fidelities` (sorted ints),
    `seeds` (seed labels), `source` (where the data came from) and `optimum`
    (objective -> best value any report can show: over every config, seed and fidelity,
    so regret of a best-so-far curve is never negative; None if unknown).
    A constrained benchmark also sets `constraints`: metrics its curves report besides the
    objectives that must be <= 0 (core.constraints), then its `optimum` is the best
    feasible value.
    """

    name: str
    task: str
    space: Space
    objectives: dict[str, str]
    fidelity_name: str
    fidelities: list[int]
    seeds: list[int]
    source: str = ""
    optimum: dict[str, float] | None = None
    constraints: tuple[str, ...] = ()

    @property
    def metrics(self) -> list[str]:
        """The metrics its curves report: the objectives, then the constraints."""
        return [*self.objectives, *(c for c in self.constraints if c not in self.objectives)]

    def curve(self, config: dict[str, Any], seed: int) -> Curve:
        """The whole learning curve of `config` under `seed` (only the fidelities that exist)."""
        raise NotImplementedError

    def seeds_of(self, config: dict[str, Any]) -> list[int]:
        """Seeds for which `config` has results."""
        return list(self.seeds)

    def evaluate(
        self, config: dict[str, Any], fidelity: int | None = None, seed: int | None = None
    ) -> dict[str, float] | dict[str, np.ndarray]:
        """Objectives and elapsed time at `fidelity` (whole curves if None).

        `seed=None` averages over the seeds that exist for `config`: at each fidelity,
        over the seeds whose curve has it (curves may differ in length). Whole curves
        run over every fidelity that one of the seeds has, in order.
        """
        seeds = self.seeds_of(config) if seed is None else [seed]
        curves = [self.curve(config, s) for s in seeds]
        fids = sorted(set().union(*(c.fidelities for c in curves)))
        if fidelity is not None and fidelity not in fids:
            raise ValueError(
                f"{self.name}/{self.task}: fidelity {fidelity!r} not available; "
                f"{self.fidelity_name} takes values {_span(fids)}"
            )
        values = _mean_curves(curves, [*self.objectives, TIME], fids)
        if fidelity is None:
            return values
        i = fids.index(fidelity)
        return {n: float(v[i]) for n, v in values.items()}

    def describe(self) -> str:
        """One line: name, task, size and what the data lacks."""
        size = self.space.size()
        rows = len(self) if hasattr(self, "__len__") else size
        if size is None:
            n = "continuous space"
        elif rows == size:
            n = f"{size:,} configs"
        else:
            n = f"{rows:,} of {size:,} configs"
        fid = (
            f"{self.fidelity_name} {self.fidelities[0]}..{self.fidelities[-1]}"
            if len(self.fidelities) > 1
            else f"final {self.fidelity_name} only ({self.fidelities[0]}): "
            "multi-fidelity schedulers get a single rung"
        )
        return (
            f"{self.name}/{self.task}: {n}, {len(self.seeds)} seeds, {fid} (source: {self.source})"
        )


def _span(values: list[int]) -> str:
    """`1..50` for a run of consecutive values, else the values (the first 8)."""
    if values[-1] - values[0] + 1 == len(values):
        return f"{values[0]}..{values[-1]}"
    shown = ", ".join(map(str, values[:8]))
    return shown + (f", ... ({len(values)} values)" if len(values) > 8 else "")


def _mean_curves(curves: list[Curve], names: list[str], fids: list[int]) -> dict[str, np.ndarray]:
    """Per fidelity of `fids`, the mean of each of `names` over the curves that have it."""
    if all(c.fidelities == fids for c in curves):  # the common case: one stack
        return {
            n: np.array([c.elapsed if n == TIME else c.metrics[n] for c in curves]).mean(axis=0)
            for n in names
        }
    at = {f: i for i, f in enumerate(fids)}
    sums = {n: np.zeros(len(fids)) for n in names}
    counts = np.zeros(len(fids))
    for c in curves:
        idx = np.array([at[f] for f in c.fidelities], dtype=int)
        counts[idx] += 1
        for n in names:
            sums[n][idx] += c.elapsed if n == TIME else c.metrics[n]
    return {n: v / counts for n, v in sums.items()}


ACTIVE = "__active"  # suffix of the coordinate that says where a conditional one is active


def _column(ds: xr.Dataset, name: str, space: Space) -> list:
    """The values of hyperparameter `name` along `config`, INACTIVE where it is inactive."""
    values = ds[name].values.tolist()
    if name not in space.conditions:
        return values
    active = ds[name + ACTIVE].values.tolist()
    return [v if on else INACTIVE for v, on in zip(values, active, strict=True)]


class TabularBlackbox(Blackbox):
    """A table of results: an xarray Dataset with dims (config, seed, fidelity).

    Data variables: one per objective plus `elapsed_time`; hyperparameters are
    coordinates along `config` (a conditional one with a boolean `<name>__active`
    coordinate beside it, its inactive cells holding a placeholder); a missing
    (config, seed) is NaN. Attributes hold
    the name, task, space (JSON), objectives (JSON), fidelity name and source.

    Example:
        >>> bb = TabularBlackbox.load("cifar10.h5")
        >>> bb.evaluate(config, fidelity=200, seed=777)
    """

    def __init__(self, ds: xr.Dataset) -> None:
        missing = {"config", "seed", "fidelity"} - set(ds.dims)
        if missing:
            raise ValueError(f"table needs dims config, seed, fidelity; missing {sorted(missing)}")
        self.ds = ds
        self.name = str(ds.attrs["name"])
        self.task = str(ds.attrs["task"])
        self.space = Space.from_json(ds.attrs["space"])
        self.objectives = json.loads(ds.attrs["objectives"])
        self.fidelity_name = str(ds.attrs.get("fidelity_name", "epoch"))
        self.source = str(ds.attrs.get("source", ""))
        self.fidelities = [int(f) for f in ds["fidelity"].values]
        self.seeds = [int(s) for s in ds["seed"].values]
        for n in [*self.objectives, TIME]:
            if n not in ds.data_vars:
                raise ValueError(f"{self.name}/{self.task}: table has no data variable {n!r}")
        self._names = [*self.objectives, TIME]
        self._arrays = {
            n: np.asarray(ds[n].transpose("config", "seed", "fidelity").values) for n in self._names
        }
        hp_columns = [_column(ds, name, self.space) for name in self.space.tunable]
        self._configs = list(zip(*hp_columns, strict=True)) if hp_columns else [()]
        key = self.space.key_of_values
        self._row = {key(c): i for i, c in enumerate(self._configs)}
        if len(self._row) != ds.sizes["config"]:
            raise ValueError(f"{self.name}/{self.task}: duplicate configurations in the table")
        # a fidelity exists for (config, seed) where the first objective is finite
        self._present = np.isfinite(self._arrays[next(iter(self.objectives))])
        self._has_seed = self._present.any(axis=2)  # (config, seed)
        self._seed_index = {s: i for i, s in enumerate(self.seeds)}
        self._fid_index = {f: i for i, f in enumerate(self.fidelities)}
        best = {"min": np.nanmin, "max": np.nanmax}
        self.optimum = {n: float(best[m](self._arrays[n])) for n, m in self.objectives.items()}

    def __len__(self) -> int:
        return len(self._configs)

    def configs(self) -> list[dict[str, Any]]:
        """Every configuration of the table, in row order (constants included)."""
        tunable = list(self.space.tunable)
        configs = [
            {**self.space.constants, **dict(zip(tunable, c, strict=True))} for c in self._configs
        ]
        if self.space.conditions:  # a conditional table's inactive cells are left out
            return [{k: v for k, v in c.items() if v is not INACTIVE} for c in configs]
        return configs

    def row(self, config: dict[str, Any]) -> int:
        """Row of `config` in the table; ValueError if the table does not have it."""
        try:
            return self._row[self.space.key(config)]
        except KeyError:
            self.space.validate(config)
            shown = {k: config[k] for k in self.space.tunable if k in config}
            raise ValueError(
                f"{self.name}/{self.task}: configuration {shown} is not in the table "
                f"({len(self)} configs); pick one of table.configs() or answer off-table configs "
                "with a surrogate (blackboxes.surrogate.SurrogateBlackbox; in a run: "
                "benchmark.surrogate=nearest|knn|random_forest)"
            ) from None
        except TypeError as e:
            raise ValueError(
                f"{self.name}/{self.task}: bad configuration {config!r}: {e}"
            ) from None

    def evaluate(
        self, config: dict[str, Any], fidelity: int | None = None, seed: int | None = None
    ) -> dict[str, float] | dict[str, np.ndarray]:
        if seed is not None and fidelity is not None:  # fast path: one cell of the table
            row = self.row(config)
            s, f = self._seed_index.get(seed), self._fid_index.get(fidelity)
            if s is not None and f is not None and self._present[row, s, f]:
                return {n: float(a[row, s, f]) for n, a in self._arrays.items()}
        return super().evaluate(config, fidelity, seed)  # averages, curves, clear errors

    def seeds_of(self, config: dict[str, Any]) -> list[int]:
        row = self.row(config)
        return [self.seeds[i] for i in np.flatnonzero(self._has_seed[row]).tolist()]

    def curve(self, config: dict[str, Any], seed: int) -> Curve:
        row = self.row(config)
        s = self._seed_index.get(seed)
        if s is None or not self._has_seed[row, s]:
            raise ValueError(
                f"{self.name}/{self.task}: no results for seed {seed!r} of this configuration; "
                f"it has seeds {self.seeds_of(config)}"
            )
        return self.curve_at(row, s)

    def curve_at(self, row: int, s: int) -> Curve:
        """The curve of table row `row` under the seed at index `s`: every fidelity whose
        first objective is finite (an interior gap is skipped, never a cut)."""
        present = self._present[row, s]
        a = self._arrays
        if present.all():
            at: Any = slice(None)
            fids = list(self.fidelities)
        else:
            at = np.flatnonzero(present)
            fids = [self.fidelities[i] for i in at.tolist()]
        return Curve(
            fidelities=fids,
            elapsed=a[TIME][row, s, at].tolist(),
            metrics={k: a[k][row, s, at].tolist() for k in self.objectives},
        )

    def save(self, path: str | Path, level: int = 4) -> Path:
        """Write the table as HDF5 (netCDF4 through h5netcdf), atomically, gzip at `level`
        (with byte shuffle)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.partial")  # one per writer process
        opts = {"compression": "gzip", "compression_opts": level, "shuffle": True}
        encoding = {n: opts for n in self.ds.data_vars}
        self.ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> TabularBlackbox:
        """Read a table written by `save`; a damaged file gives an error naming it."""
        path = Path(path)
        try:
            ds = xr.load_dataset(path, engine="h5netcdf")
            return cls(ds)
        except FileNotFoundError:
            raise
        except Exception as e:  # h5py/xarray raise many types for a damaged file
            raise ValueError(
                f"cannot read blackbox table {path} ({type(e).__name__}: {e}); "
                "the file is damaged or not a simtune table: delete it to rebuild it"
            ) from None

    @classmethod
    def from_arrays(
        cls,
        *,
        name: str,
        task: str,
        space: Space,
        configs: list[dict[str, Any]],
        seeds: list[int],
        fidelities: list[int],
        objectives: dict[str, str],
        values: dict[str, np.ndarray],
        fidelity_name: str = "epoch",
        source: str = "",
        attrs: dict[str, Any] | None = None,
    ) -> TabularBlackbox:
        """Build a table from arrays of shape (len(configs), len(seeds), len(fidelities))."""
        shape = (len(configs), len(seeds), len(fidelities))
        for n in [*objectives, TIME]:
            if n not in values:
                raise ValueError(f"values lacks {n!r}")
            if np.shape(values[n]) != shape:
                raise ValueError(f"values[{n!r}] has shape {np.shape(values[n])}, expected {shape}")
        coords: dict[str, Any] = {"seed": list(seeds), "fidelity": list(fidelities)}
        for hp, domain in space.tunable.items():
            if hp in space.conditions:  # inactive cells: a placeholder, and a mask beside
                fill = domain.values()[0] if domain.is_finite else domain.low
                coords[hp] = ("config", [c.get(hp, fill) for c in configs])
                coords[hp + ACTIVE] = ("config", [hp in c for c in configs])
            else:
                coords[hp] = ("config", [c[hp] for c in configs])
        ds = xr.Dataset(
            {
                n: (("config", "seed", "fidelity"), np.asarray(values[n], dtype=float))
                for n in [*objectives, TIME]
            },
            coords=coords,
            attrs={
                "name": name,
                "task": task,
                "space": space.to_json(),
                "objectives": json.dumps(objectives),
                "fidelity_name": fidelity_name,
                "source": source,
                **(attrs or {}),
            },
        )
        return cls(ds)

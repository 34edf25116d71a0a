"""GPU rotation for trial processes: which GPUs trials may use and which trial holds which.

The pool is what `nvidia-smi` lists, restricted to the devices of an existing
CUDA_VISIBLE_DEVICES (indices or UUIDs, read as CUDA reads it: up to the first entry
that names no device). Each trial gets the least-busy GPUs of the pool and gives
them back when it completes, stops, pauses or fails.
"""

from __future__ import annotations

import shutil
import subprocess

Gpu = int | str  # an index, or a UUID / MIG name as CUDA_VISIBLE_DEVICES gives it


class GpuPool:
    """The GPUs trials may use and the ones each running trial holds.

    Example:
        >>> pool = GpuPool([0, 1])
        >>> pool.acquire(7, 1), pool.acquire(8, 1), pool.release(7), pool.acquire(9, 1)
        ([0], [1], None, [0])
    """

    def __init__(self, gpus: list[Gpu]) -> None:
        self.gpus = list(gpus)
        self._of: dict[int, list[Gpu]] = {}

    def busy(self) -> dict[Gpu, int]:
        """How many trials hold each GPU of the pool."""
        count = {g: 0 for g in self.gpus}
        for held in self._of.values():
            for g in held:
                count[g] += 1
        return count

    def acquire(self, trial_id: int, n: int) -> list[Gpu]:
        """The `n` least-busy GPUs, now held by `trial_id` (what it held before is given back)."""
        self.release(trial_id)
        chosen = pick_gpus(self.gpus, self.busy(), n)
        self._of[trial_id] = chosen
        return chosen

    def release(self, trial_id: int) -> None:
        """Give back the GPUs of `trial_id` (no-op if it holds none)."""
        self._of.pop(trial_id, None)

    def held(self, trial_id: int) -> list[Gpu]:
        return list(self._of.get(trial_id, []))


def parse_nvidia_smi(text: str) -> list[int]:
    """GPU indices from `nvidia-smi --query-gpu=index[,uuid] --format=csv,noheader` output.

    Also accepts the `nvidia-smi -L` listing ("GPU 0: Tesla T4 (UUID: ...)").
    """
    return [index for index, _ in parse_gpu_table(text)]


def parse_gpu_table(text: str) -> list[tuple[int, str]]:
    """(index, uuid) of each GPU in `nvidia-smi` output; uuid is "" when not listed."""
    out: list[tuple[int, str]] = []
    for line in text.splitlines():
        line = line.strip()
        uuid = ""
        if line.startswith("GPU "):
            if "(UUID: " in line:
                uuid = line.split("(UUID: ", 1)[1].rstrip(")").strip()
            line = line[4:].split(":", 1)[0]
        head, _, rest = line.partition(",")
        if head.strip().isdigit():
            out.append((int(head), uuid or rest.strip()))
    return out


def visible_pool(table: list[tuple[int, str]], cuda_visible: str | None) -> list[Gpu]:
    """The GPUs of `table` that `cuda_visible` (CUDA_VISIBLE_DEVICES, None if unset) leaves.

    As CUDA does, the list ends at the first entry that names no listed device; indices
    stay ints, UUID and MIG entries stay as written.
    """
    if cuda_visible is None:
        return [index for index, _ in table]
    indices = {index for index, _ in table}
    pool: list[Gpu] = []
    for entry in cuda_visible.split(","):
        entry = entry.strip()
        if entry.isdigit() and int(entry) in indices:
            gpu: Gpu = int(entry)
        elif entry.startswith("MIG-") and table:
            gpu = entry
        elif entry.startswith("GPU-") and any(u.startswith(entry) for _, u in table):
            gpu = entry
        else:
            break
        if gpu not in pool:
            pool.append(gpu)
    return pool


def pick_gpus(gpus: list[Gpu], busy: dict[Gpu, int], n: int) -> list[Gpu]:
    """The `n` least-busy GPUs (fewest trials on them; earlier in the pool first on ties)."""
    if n > len(gpus):
        raise ValueError(f"gpus_per_trial={n} but this machine has {len(gpus)} GPU(s)")
    order = {g: i for i, g in enumerate(gpus)}
    chosen = sorted(gpus, key=lambda g: (busy.get(g, 0), order[g]))[:n]
    return sorted(chosen, key=order.__getitem__)


def detect_gpus(cuda_visible: str | None) -> list[Gpu]:
    """The GPU pool of this machine: `nvidia-smi`'s GPUs left by `cuda_visible`; [] without."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        res = subprocess.run(
            [exe, "--query-gpu=index,uuid", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if res.returncode != 0:
        return []
    return visible_pool(parse_gpu_table(res.stdout), cuda_visible)

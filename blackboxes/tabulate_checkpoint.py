"""The JSON-lines checkpoint of a tabulation: its header, finished evaluations and parts.

Line 1 is `{"header": ...}` (the job). Each call of `tabulate` (a part) then writes
`{"part": START}`, one line per finished evaluation (`{"config": i, "seed": s, ...,
"at": T}`) and `{"part_end": T}` when it returns or is interrupted (a killed part ends
at its last line). Times are `time.time()`; a resumed table's `wallclock_seconds`
is the sum of its parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Result = dict[str, Any]  # {"fidelity", "elapsed" (wall), "cpu", "metrics": {name: [...]}}


@dataclass
class Parts:
    """The earlier parts (calls) of a resumed tabulation, read from its checkpoint."""

    n: int = 0  # parts that recorded their start
    seconds: float = 0.0  # their wall-clock time: start to end (or to their last result)
    untimed: int = 0  # evaluations recorded outside any timed part (older checkpoints)


def start_part(path: Path, sink: Any, header: dict[str, Any], started: float) -> None:
    """Begin a part in the checkpoint: the header if the file is new, then the part's start."""
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        sink.write(json.dumps({"header": header}) + "\n")
    else:
        with open(path, "rb") as f:
            f.seek(size - 1)
            if f.read(1) != b"\n":  # a line torn by a kill: end it, so it eats no new line
                sink.write("\n")
    sink.write(json.dumps({"part": started}) + "\n")
    sink.flush()


def read_checkpoint(
    path: Path, header: dict[str, Any]
) -> tuple[dict[tuple[int, int], Result], Parts]:
    """Finished evaluations of a previous run of the same job (a torn line is ignored), and
    the time its parts took."""
    parts = Parts()
    if not path.exists() or path.stat().st_size == 0:
        return {}, parts
    done: dict[tuple[int, int], Result] = {}
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    try:
        first = json.loads(lines[0])["header"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ValueError(
            f"{path} is not a tabulate checkpoint; delete it or pick another path"
        ) from None
    if first != json.loads(json.dumps(header)):
        diff = [k for k in header if first.get(k) != json.loads(json.dumps(header[k]))]
        raise ValueError(
            f"checkpoint {path} belongs to another job (differs in {diff}); "
            "delete it or pass another checkpoint path"
        )
    span: list[float] | None = None  # [start, last seen] of the part being read
    for line in lines[1:]:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by an interruption: that evaluation runs again
        if not isinstance(row, dict):
            continue
        if "part" in row:
            parts.seconds += 0.0 if span is None else span[1] - span[0]
            parts.n += 1
            span = [float(row["part"])] * 2
            continue
        stamp = row.pop("part_end", row.pop("at", None))
        if span is not None and stamp is not None:
            span[1] = max(span[1], float(stamp))
        if "config" not in row:
            continue
        parts.untimed += span is None
        done[(row.pop("config"), row.pop("seed"))] = row
    parts.seconds += 0.0 if span is None else span[1] - span[0]
    return done, parts

"""Which checkpoint a report stands for: a fingerprint of the checkpoint directory.

Training writes its checkpoint first, then reports. Where checkpoints are copied to
object storage while the trial runs (backend=ray, `storage=s3://...`), a copy taken
between the two would hold a checkpoint whose report exists only on the node: lose the
node, and the trial retried from that checkpoint resumes past a step nobody recorded.
So when the backend asks for it ($SIMTUNE_CHECKPOINT_STAMP=1), each report line carries
the fingerprint of the checkpoint directory as it was when the report was made (the
reserved key `@checkpoint`), and a checkpoint is copied only while it is still the one
the newest report stands for.

The fingerprint is over each file's relative path, size, modification time and inode:
a checkpoint replaced file by file (write a temporary file, rename it) changes it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

from simtune.core.report import STAMP_ENV, STAMP_KEY

__all__ = ["STAMP_ENV", "STAMP_KEY", "checkpoint_stamp", "stamp_of"]


def stamp_of(entries: Iterable[tuple[str, os.stat_result]]) -> str:
    """The fingerprint of checkpoint files given as (relative posix path, stat result)."""
    digest = hashlib.blake2b(digest_size=12)
    for rel, st in sorted(entries, key=lambda e: e[0]):
        digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n".encode())
    return digest.hexdigest()


def checkpoint_stamp(directory: str) -> str:
    """The fingerprint of the files under `directory` now (of none if it does not exist)."""
    entries = []
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            try:
                st = os.stat(path)
            except OSError:  # replaced meanwhile: the newer one is the checkpoint
                continue
            entries.append((os.path.relpath(path, directory).replace(os.sep, "/"), st))
    return stamp_of(entries)

"""Trial directories on object storage (backend=ray, `storage=s3://bucket/prefix`).

With no file system every node reaches, each node runs its trials in a directory of its
own (`NodeMirror`) and the trial directories live on object storage through pyarrow.fs:
a node pulls a trial's directory before it starts or resumes it, and pushes it after each
report (the training protocol writes the checkpoint first, then reports) and when the
trial's process ends, before the driver hears of either. A report the driver recorded
therefore always has its checkpoint on storage, and a trial resumed or retried on any
node continues from the newest one. The driver keeps its own copy (config.json, output)
for the checks and recovery of backend=local, mirrored the same way.

The URI is pyarrow's: `s3://bucket/prefix?region=R&endpoint_override=HOST:PORT&scheme=http`
(credentials from the usual AWS variables or files on each node), `gs://...`, `hdfs://...`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from simtune.core.checkpoint_stamp import stamp_of


def is_uri(storage: object) -> bool:
    """True if `storage` names object storage (scheme://...) rather than a directory."""
    return isinstance(storage, str) and "://" in storage and not storage.startswith("file://")


class ObjectStorage:
    """A prefix on object storage holding trial directories, as pyarrow.fs reaches it.

    Example:
        >>> store = ObjectStorage("s3://bucket/run1?region=us-east-1")  # doctest: +SKIP
        >>> store.push(Path("/tmp/x/trial_3"), "trial_3")  # doctest: +SKIP
    """

    def __init__(self, uri: str) -> None:
        try:
            from pyarrow import fs
        except ImportError:
            raise ValueError(f'backend.storage={uri!r} needs pyarrow: pip install -e ".[ray]"'
                             ) from None
        self.uri = uri
        try:
            self.fs, self.base = fs.FileSystem.from_uri(uri)
            found = self.fs.get_file_info(self.base.split("/", 1)[0])  # the bucket
        except Exception as e:  # noqa: BLE001 - pyarrow raises OSError, ValueError, ArrowInvalid
            raise ValueError(f"backend.storage={uri!r} is not reachable: "
                             f"{_first_line(e)}; fix the URI or its credentials") from None
        if found.type != fs.FileType.Directory:
            raise ValueError(f"backend.storage={uri!r}: bucket {self.base.split('/', 1)[0]!r} "
                             "not found; create it first")

    def __reduce__(self) -> tuple[Any, ...]:  # an actor rebuilds it from the URI on its node
        return (ObjectStorage, (self.uri,))

    def _files(self, rel: str) -> dict[str, int]:
        """Relative path -> size of the files under `rel` ({} if there are none)."""
        from pyarrow import fs

        root = f"{self.base}/{rel}".rstrip("/")
        infos = self.fs.get_file_info(fs.FileSelector(root, recursive=True, allow_not_found=True))
        return {i.path[len(root) + 1:]: i.size for i in infos if i.type == fs.FileType.File}

    def push(self, local: Path, rel: str, sent: dict[str, tuple[int, int]] | None = None,
             stamp: str | None | bool = True) -> None:
        """Upload directory `local` to `rel` on storage; under checkpoints/, files gone
        locally go there too (a checkpoint is replaced whole). `sent` (name -> size and
        mtime uploaded, or pulled) skips the files unchanged since and stands for a listing.

        `stamp` gates the checkpoint: True uploads it as it is; a fingerprint
        (core.checkpoint_stamp: the newest report's, whose line is in the output already)
        uploads it only if it is still the checkpoint that report stands for, and None
        (no report yet) or False never. The output goes before the checkpoint and again
        after it: the trial keeps running meanwhile, and its output on storage must hold
        the report of every checkpoint there, also should the push be cut off (node lost).
        """
        sent = {} if sent is None else sent
        if not sent:
            sent.update({f"checkpoints/{n}": (-1, -1) for n in self._files(f"{rel}/checkpoints")})
        files = [p for p in sorted(local.rglob("*")) if p.is_file()]
        output = [p for p in files if p.parts[len(local.parts)] != "checkpoints"]
        self._put_changed(local, rel, output, sent)
        opened = self._open_checkpoint(local, [p for p in files if p not in output], stamp)
        if opened is not None:
            try:
                for name, (src, stat) in opened.items():
                    if sent.get(name) != (stat.st_size, stat.st_mtime_ns):
                        sent[name] = (stat.st_size, stat.st_mtime_ns)
                        with self.fs.open_output_stream(f"{self.base}/{rel}/{name}") as dst:
                            shutil.copyfileobj(src, dst, 1 << 20)
            finally:
                _closed(opened)
            for name in [n for n in sent if n.startswith("checkpoints/") and n not in opened]:
                self.fs.delete_file(f"{self.base}/{rel}/{name}")
                del sent[name]
        self._put_changed(local, rel, output, sent)

    def _put_changed(self, local: Path, rel: str, paths: list[Path],
                     sent: dict[str, tuple[int, int]]) -> None:
        for path in paths:
            name = path.relative_to(local).as_posix()
            try:
                stat = path.stat()
                if sent.get(name) != (stat.st_size, stat.st_mtime_ns):
                    sent[name] = (stat.st_size, stat.st_mtime_ns)
                    self.put_file(path, f"{rel}/{name}")
            except FileNotFoundError:  # replaced meanwhile (a temporary file renamed)
                continue

    @staticmethod
    def _open_checkpoint(local: Path, paths: list[Path], stamp: str | None | bool
                         ) -> dict[str, tuple[Any, os.stat_result]] | None:
        """The checkpoint's files opened (name -> (file, its stat)), or None if `stamp`
        says not to upload it: opened first, so what is compared is what is uploaded."""
        if stamp is None or stamp is False:
            return None
        opened: dict[str, tuple[Any, os.stat_result]] = {}
        for path in paths:
            try:
                src = open(path, "rb")  # noqa: SIM115 - closed by push
            except FileNotFoundError:  # replaced meanwhile: a newer checkpoint
                if stamp is True:
                    continue
                return _closed(opened)
            opened[path.relative_to(local).as_posix()] = (src, os.fstat(src.fileno()))
        if stamp is not True and stamp_of(
                (n[len("checkpoints/"):], st) for n, (_, st) in opened.items()) != stamp:
            return _closed(opened)
        return opened

    def pull(self, rel: str, local: Path, checkpoints: bool = True) -> bool:
        """Make directory `local` hold what `rel` on storage holds (without checkpoints/ if
        `checkpoints` is False: those stay as they are); False if it holds nothing."""
        files = self._files(rel)
        if not checkpoints:
            files = {n: b for n, b in files.items() if not n.startswith("checkpoints/")}
            for name in files:
                self.get_file(f"{rel}/{name}", local / name)
            return bool(files)
        if local.exists():
            shutil.rmtree(local)
        local.mkdir(parents=True, exist_ok=True)
        for name in files:
            self.get_file(f"{rel}/{name}", local / name)
        return bool(files)

    def get_file(self, rel: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with self.fs.open_input_stream(f"{self.base}/{rel}") as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)

    def put_file(self, path: Path, rel: str) -> None:
        with open(path, "rb") as src, self.fs.open_output_stream(f"{self.base}/{rel}") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)

    def nbytes(self, rel: str) -> int:
        return sum(self._files(rel).values())

    def delete(self, rel: str) -> None:
        self.fs.delete_dir_contents(f"{self.base}/{rel}", missing_dir_ok=True)


class NodeMirror:
    """One trial's directory on the node that runs it, synced with object storage.

    The driver names paths under its own root (`driver_root`); on the node they become
    paths under a directory of this node and this storage (`localize`).
    """

    def __init__(self, store: ObjectStorage, driver_root: str, trial_id: int,
                 node_id: str) -> None:
        self.store, self.driver_root = store, driver_root
        key = hashlib.sha256(store.uri.encode()).hexdigest()[:12]
        self.root = Path(tempfile.gettempdir()) / "simtune-ray" / node_id[:16] / key
        self.rel = f"trial_{trial_id}"
        self.dir = self.root / self.rel
        self._sent: dict[str, tuple[int, int]] = {}  # what the last pushes uploaded

    def localize(self, text: str) -> str:
        return text.replace(self.driver_root, str(self.root))

    def pull(self, function_file: str | None) -> None:
        """The trial's directory (and the pickled training function) from storage."""
        self.store.pull(self.rel, self.dir)
        self._sent = {p.relative_to(self.dir).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
                      for p in self.dir.rglob("*") if p.is_file()}
        (self.dir / "checkpoints").mkdir(exist_ok=True)
        if function_file is not None:
            target = self.root / function_file
            tmp = target.with_suffix(f".{os.getpid()}.tmp")
            self.store.get_file(function_file, tmp)
            tmp.replace(target)

    def push(self, stamp: str | None | bool = True) -> None:
        """Upload the trial's directory; `stamp` gates its checkpoint (ObjectStorage.push)."""
        self.store.push(self.dir, self.rel, self._sent, stamp)


def _closed(opened: dict[str, tuple[Any, os.stat_result]]) -> None:
    """Close the files `_open_checkpoint` opened (None: to return as nothing to upload)."""
    for src, _ in opened.values():
        src.close()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0] if text else ''}"

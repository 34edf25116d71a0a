"""`python -m simtune.blackboxes download NAME`: fetch a benchmark's original files, check, convert.

Each download goes to `<dest>/<file>.part` first and resumes from there with an
HTTP Range request; a finished file is checked against its recorded size and
SHA-256 (or, where none is recorded, against the server's Content-Length),
archives are unpacked, and every task is converted through the repository
loader so that later loads hit the cache. `dest` defaults to
`<cache>/raw/NAME`. Offline, one line says where to put the files by hand.

Example:
    >>> download("lcbench")               # or: python -m simtune.blackboxes download lcbench
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import logging
import re
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from simtune.blackboxes.cache import default_dest

log = logging.getLogger("simtune.blackboxes")

CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """One file of an official source; size and sha256 are None where not recorded."""

    name: str
    url: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class Source:
    """Where a benchmark's originals live and which folder its loader reads (`raw_subdir`)."""

    files: tuple[RemoteFile, ...]
    env: str  # the loader's raw-dir environment variable
    raw_subdir: str = ""  # below dest, the folder to pass as raw_dir


_YAHPO = "https://raw.githubusercontent.com/slds-lmu/yahpo_data/v1.0.2/lcbench"
SOURCES: dict[str, Source] = {
    # NATS-Bench topology archive (Google Drive file of the NATS-Bench README); size and
    # sha256 as pinned in public code, not re-checked here.
    "nasbench201": Source(
        (
            RemoteFile(
                "NATS-tss-v1_0-3ffb9-simple.tar",
                "https://drive.usercontent.google.com/download"
                "?id=17_saCsj_krKjlCBLOJEpNtzPXArMCqxU&export=download&confirm=t",
                1_145_989_120,
                "580fd8f3425fed9f495640b0f12ccb7744f89dec7aff263bd75aed37ab0b8bb6",
            ),
        ),
        "SIMTUNE_NATS_DIR",
        "NATS-tss-v1_0-3ffb9-simple",
    ),
    # HPOLib FCNet (nas_benchmarks README); reported offline (HTTP 404) by others in 2026.
    "fcnet": Source(
        (
            RemoteFile(
                "fcnet_tabular_benchmarks.tar.gz",
                "http://ml4aad.org/wp-content/uploads/2019/01/fcnet_tabular_benchmarks.tar.gz",
            ),
        ),
        "SIMTUNE_FCNET_DIR",
        "fcnet_tabular_benchmarks",
    ),
    # LCBench lightweight data (LCBench README -> figshare), holds data_2k_lw.json.
    "lcbench": Source(
        (RemoteFile("data_2k_lw.zip", "https://figshare.com/ndownloader/files/21188598"),),
        "SIMTUNE_LCBENCH_DIR",
    ),
    # PD1 (HyperBO README), holds pd1/pd1_*_results.jsonl.gz.
    "pd1": Source(
        (RemoteFile("pd1.tar.gz", "http://storage.googleapis.com/gresearch/pint/pd1.tar.gz"),),
        "SIMTUNE_PD1_DIR",
        "pd1",
    ),
    # YAHPO Gym surrogate files; size and sha256 of copies that reproduce YAHPO's
    # documented check value (task 3945, default config: 165.69 s, 93.40 % at epoch 52).
    "yahpo_lcbench": Source(
        (
            RemoteFile(
                "model.onnx",
                f"{_YAHPO}/model.onnx",
                2_153_124,
                "b45c0d85ae39abf8820c8bea5ac82f415763afcbaf3b725e36af452b09cb6dcd",
            ),
            RemoteFile(
                "config_space.json",
                f"{_YAHPO}/config_space.json",
                2_151,
                "4d1c78a91429b4a37628e13f286cf1abe15f778a09722a4c01714f2d72a8200d",
            ),
            RemoteFile(
                "encoding.json",
                f"{_YAHPO}/encoding.json",
                507,
                "d8af928f412bbeb07e58ecd69877fcab35fbc595333d1c1c3f76120d2f2508da",
            ),
        ),
        "SIMTUNE_YAHPO_DIR",
    ),
}


class OfflineError(ValueError):
    """The source could not be reached; the message says where to put the files by hand."""


def download(
    name: str,
    dest: str | Path | None = None,
    *,
    base_url: str | None = None,
    tasks: list[str] | None = None,
    convert: bool = True,
    progress: bool = True,
    timeout: float = 60.0,
    source: Source | None = None,
) -> Path:
    """Fetch, verify and unpack the originals of `name` into `dest`; convert `tasks` (all).

    `base_url` replaces each file's location by `<base_url>/<file name>` (mirrors, tests);
    `source` replaces the registered files, sizes and checksums (a mirror holding other
    copies, e.g. a sample of the records in the original format).
    Returns the raw dir to pass to the loader.
    """
    if name not in SOURCES:
        raise ValueError(
            f"no download for {name!r}; downloadable: {', '.join(sorted(SOURCES))} "
            "(other benchmarks ship with an installed package)"
        )
    source = source or SOURCES[name]
    dest = Path(dest).expanduser() if dest else default_dest(name)
    dest.mkdir(parents=True, exist_ok=True)
    for f in source.files:
        url = f"{base_url.rstrip('/')}/{f.name}" if base_url else f.url
        path = dest / f.name
        try:
            fetch(url, path, size=f.size, sha256=f.sha256, progress=progress, timeout=timeout)
        except OfflineError as e:
            raise OfflineError(
                f"{e}; download {url} by hand into {dest} (or set {source.env} to the folder "
                "holding the unpacked files) and run again"
            ) from None
        if _is_archive(path):
            extract(path, dest)
    raw_dir = dest / source.raw_subdir if source.raw_subdir else dest
    if convert:
        _convert(name, raw_dir, tasks)
    return raw_dir


def fetch(
    url: str,
    path: Path,
    *,
    size: int | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download `url` to `path`, resuming `path.part`; verify size and checksum.

    A complete `path` that passes the checks is kept (no request). Raises OfflineError
    when the server cannot be reached, ValueError on a size or checksum mismatch.
    """
    from tqdm import tqdm

    path = Path(path)
    if path.exists() and (size is None or path.stat().st_size == size):
        try:
            _verify(path, size, sha256, url)
        except ValueError:
            path.unlink()
            raise
        return path
    part = path.with_name(path.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    if size is not None and start > size:
        part.unlink()
        start = 0
    request = urllib.request.Request(url, headers={"User-Agent": "simtune"})
    if start:
        request.add_header("Range", f"bytes={start}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and size is not None and start == size:  # .part already complete
            part.replace(path)
            _verify(path, size, sha256, url)
            return path
        raise OfflineError(f"{url} answered HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise OfflineError(f"cannot reach {url} ({reason})") from None
    with response:
        resumed = response.status == 206
        if start and not resumed:
            log.info("%s: server ignored the Range request; starting over", url)
            start = 0
        total = _total(response, start)
        if size is not None and total is not None and total != size:
            raise ValueError(
                f"{url} announces {total} bytes but {path.name} should have {size}; "
                "the source changed or the URL is wrong"
            )
        expected = size if size is not None else total
        with (
            open(part, "ab" if resumed else "wb") as out,
            tqdm(
                total=expected,
                initial=start,
                unit="B",
                unit_scale=True,
                desc=path.name,
                disable=not progress,
            ) as bar,
        ):
            try:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
            except (OSError, http.client.HTTPException) as e:
                raise OfflineError(
                    f"connection to {url} broke at {out.tell()} bytes ({e}); run again to resume"
                ) from None
    got = part.stat().st_size
    if expected is not None and got != expected:  # the server hung up early
        raise OfflineError(
            f"connection to {url} broke at {got} bytes of {expected}; run again to resume"
        )
    try:
        _verify(part, None, sha256, url)
    except ValueError:
        part.unlink()
        raise
    part.replace(path)
    return path


def _total(response, start: int) -> int | None:
    """Full size of the file from Content-Range (206) or Content-Length (200)."""
    match = re.match(r"bytes \d+-\d+/(\d+)", response.headers.get("Content-Range", ""))
    if match:
        return int(match.group(1))
    length = response.headers.get("Content-Length")
    if length is None:
        return None
    return int(length) + (start if response.status == 206 else 0)


def _verify(path: Path, size: int | None, sha256: str | None, url: str) -> None:
    if size is not None and path.stat().st_size != size:
        raise ValueError(f"{path} has {path.stat().st_size} bytes, expected {size}; delete it")
    if sha256 is None:
        return
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    if digest.hexdigest() != sha256:
        raise ValueError(
            f"checksum mismatch for {path.name} from {url}: sha256 {digest.hexdigest()}, "
            f"expected {sha256}; the file was deleted, run again to retry"
        )


def _is_archive(path: Path) -> bool:
    return path.name.endswith((".tar", ".tar.gz", ".tgz", ".zip"))


def extract(archive: Path, dest: Path) -> None:
    """Unpack a tar or zip `archive` into `dest` (once; refuses paths that leave `dest`)."""
    marker = dest / f".{archive.name}.extracted"
    if marker.exists() and marker.stat().st_mtime >= archive.stat().st_mtime:
        return
    root = dest.resolve()
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                _check_members(archive, root, z.namelist())
                z.extractall(dest)
        else:
            with tarfile.open(archive) as t:
                members = t.getmembers()
                _check_members(archive, root, [m.name for m in members])
                bad = [m.name for m in members if not (m.isfile() or m.isdir())]
                if bad:
                    raise ValueError(f"{archive}: refusing links or devices, e.g. {bad[0]!r}")
                if hasattr(tarfile, "data_filter"):  # Python >= 3.12 (and 3.11.4+)
                    t.extractall(dest, filter="data")
                else:  # pragma: no cover
                    t.extractall(dest)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        reason = " ".join(str(e).split())  # tarfile's messages span lines
        raise ValueError(
            f"cannot unpack {archive} ({type(e).__name__}: {reason}); delete it and download again"
        ) from None
    marker.touch()
    log.info("unpacked %s into %s", archive, dest)


def _check_members(archive: Path, root: Path, names: list[str]) -> None:
    for n in names:
        if not (root / n).resolve().is_relative_to(root):
            raise ValueError(f"{archive}: member {n!r} would be written outside {root}")


def _convert(name: str, raw_dir: Path, tasks: list[str] | None) -> None:
    from simtune.blackboxes import repository

    bench = repository.BENCHMARKS.get(name)
    if bench is None:
        log.warning("%s is not in the repository yet: downloaded, not converted", name)
        return
    done, failed = [], {}
    for task in tasks or bench.tasks:
        try:
            repository.load(name, task, raw_dir=raw_dir)
            done.append(task)
        except ValueError as e:
            failed[task] = str(e)
    if not done:
        first = next(iter(failed.items()))
        raise ValueError(f"{name}: no task converted from {raw_dir}; {first[0]}: {first[1]}")
    if failed:
        log.warning(
            "%s: converted %d of %d tasks; not in the raw data: %s",
            name,
            len(done),
            len(done) + len(failed),
            ", ".join(failed),
        )
    log.info("%s: %d tasks converted and cached from %s", name, len(done), raw_dir)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise ValueError(f"{message} (see `{self.prog} --help`)")


def main(argv: list[str] | None = None) -> int:
    """CLI: `python -m simtune.blackboxes download NAME [--dest DIR] [--base-url URL]
    [--task T ...]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["download"]:
        args = args[1:]
    parser = _Parser(
        prog="python -m simtune.blackboxes download",
        description="Download a benchmark's original files, verify, unpack, convert and cache.",
    )
    parser.add_argument("name", help=f"one of: {', '.join(sorted(SOURCES))}")
    parser.add_argument("--dest", default=None, help="where to put the raw files")
    parser.add_argument("--base-url", default=None, help="fetch <base-url>/<file> instead")
    parser.add_argument("--task", action="append", dest="tasks", help="convert only these")
    parser.add_argument("--no-convert", action="store_true", help="download and unpack only")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        ns = parser.parse_args(args)
        raw_dir = download(
            ns.name,
            ns.dest,
            base_url=ns.base_url,
            tasks=ns.tasks,
            convert=not ns.no_convert,
            progress=not ns.quiet,
        )
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    env = SOURCES[ns.name].env
    print(f"{ns.name}: raw files in {raw_dir} (to convert again: {env}={raw_dir})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

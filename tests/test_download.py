"""Downloads against a small HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from simtune.blackboxes import repository
from simtune.blackboxes.download import (
    SOURCES,
    OfflineError,
    RemoteFile,
    download,
    extract,
    fetch,
    main,
)
from simtune.blackboxes.sources.nasbench201 import NATS_FOLDER
from tests.test_lcbench import lcbench_data, write_lcbench

ROOT = Path(__file__).resolve().parents[1]


class Server:
    """Serves `files` (name -> bytes); honours `Range: bytes=N-` unless `ignore_range`."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ranges: list[str | None] = []
        self.ignore_range = False
        self.cut_at: int | None = None  # send only this many bytes, then hang up
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                body = outer.files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404, "not found")
                    return
                asked = self.headers.get("Range")
                outer.ranges.append(asked)
                match = re.fullmatch(r"bytes=(\d+)-", asked or "")
                if match and not outer.ignore_range:
                    start = int(match.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                    body = body[start:]
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body if outer.cut_at is None else body[: outer.cut_at])

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIMTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SIMTUNE_LCBENCH_DIR", raising=False)
    return tmp_path / "cache"


def lcbench_zip(tmp_path: Path) -> bytes:
    raw = write_lcbench(tmp_path / "src")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(raw, "data_2k_lw.json")
    return buf.getvalue()


def test_download_converts_and_caches(server: Server, cache: Path, tmp_path: Path) -> None:
    server.files["data_2k_lw.zip"] = lcbench_zip(tmp_path)
    dest = tmp_path / "raw"
    raw_dir = download("lcbench", dest, base_url=server.url, progress=False)
    assert raw_dir == dest and (dest / "data_2k_lw.json").is_file()
    assert (dest / "data_2k_lw.zip").read_bytes() == server.files["data_2k_lw.zip"]
    assert not (dest / "data_2k_lw.zip.part").exists()
    assert sorted(p.name for p in (cache / "lcbench").glob("*.h5")) == [
        "Fashion-MNIST.h5",
        "credit-g.h5",
    ]
    bb = repository.load("lcbench", "credit-g")  # from the cache, no raw dir named
    want = lcbench_data()["credit-g"]["1"]["log"]["Train/val_accuracy"][51]
    assert bb.evaluate(bb.configs()[1], fidelity=52, seed=0)["val_accuracy"] == want
    # a second call finds the complete file and asks the server nothing
    n = len(server.ranges)
    download("lcbench", dest, base_url=server.url, progress=False, convert=False)
    assert len(server.ranges) == n


@pytest.mark.parametrize("ignore_range", [False, True])
def test_resume_a_partial_download(server: Server, tmp_path: Path, ignore_range: bool) -> None:
    body = bytes(range(256)) * 400
    server.files["blob.bin"] = body
    server.ignore_range = ignore_range
    path = tmp_path / "blob.bin"
    (tmp_path / "blob.bin.part").write_bytes(body[:40_000])  # an earlier, cut transfer
    sha = hashlib.sha256(body).hexdigest()
    fetch(f"{server.url}/blob.bin", path, size=len(body), sha256=sha, progress=False)
    assert server.ranges == ["bytes=40000-"]
    assert path.read_bytes() == body and not (tmp_path / "blob.bin.part").exists()


def test_cut_transfer_keeps_the_part_for_resuming(server: Server, tmp_path: Path) -> None:
    body = bytes(range(256)) * 100
    server.files["blob.bin"] = body
    server.cut_at = 10_000
    path = tmp_path / "blob.bin"
    with pytest.raises(OfflineError, match="broke at 10000 bytes.*run again to resume"):
        fetch(f"{server.url}/blob.bin", path, progress=False)
    assert (tmp_path / "blob.bin.part").stat().st_size == 10_000
    server.cut_at = None
    fetch(f"{server.url}/blob.bin", path, progress=False)  # size from Content-Range
    assert path.read_bytes() == body and server.ranges[-1] == "bytes=10000-"


def test_checksum_mismatch(server: Server, tmp_path: Path) -> None:
    server.files["blob.bin"] = b"not what was published" * 100
    path = tmp_path / "blob.bin"
    with pytest.raises(ValueError, match="checksum mismatch for blob.bin.*expected 0000"):
        fetch(f"{server.url}/blob.bin", path, sha256="0" * 64, progress=False)
    assert not path.exists() and not (tmp_path / "blob.bin.part").exists()
    path.write_bytes(server.files["blob.bin"])  # a complete file from elsewhere, checked too
    with pytest.raises(ValueError, match="checksum mismatch for blob.bin.*file was deleted"):
        fetch(f"{server.url}/blob.bin", path, sha256="0" * 64, progress=False)
    assert not path.exists()
    with pytest.raises(ValueError, match="announces 2200 bytes but blob.bin should have 5"):
        fetch(f"{server.url}/blob.bin", path, size=5, progress=False)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_says_where_to_put_the_files(tmp_path: Path, cache: Path, capsys) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    dest = tmp_path / "raw"
    with pytest.raises(OfflineError) as e:
        download("lcbench", dest, base_url=url, progress=False)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"cannot reach {url}/data_2k_lw.zip" in msg
    assert f"by hand into {dest}" in msg and "SIMTUNE_LCBENCH_DIR" in msg
    assert main(["download", "lcbench", "--dest", str(dest), "--base-url", url, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot reach")


def test_http_error_and_unknown_name(server: Server, tmp_path: Path) -> None:
    with pytest.raises(OfflineError, match="answered HTTP 404"):
        download("pd1", tmp_path, base_url=server.url, progress=False)
    with pytest.raises(ValueError, match="no download for 'hpobench_mlp'; downloadable: fcnet"):
        download("hpobench_mlp", tmp_path)


def test_cli(server: Server, cache: Path, tmp_path: Path, capsys) -> None:
    server.files["data_2k_lw.zip"] = lcbench_zip(tmp_path)
    dest = tmp_path / "raw"
    argv = ["lcbench", "--dest", str(dest), "--base-url", server.url, "--task", "credit-g"]
    assert main([*argv, "--quiet"]) == 0
    assert f"raw files in {dest}" in capsys.readouterr().out
    assert (cache / "lcbench" / "credit-g.h5").is_file()


def test_extract_refuses_paths_outside(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        data = b"x"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match="would be written outside"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "escaped.txt").exists()
    archive.write_bytes(b"\x1f\x8b truncated")
    with pytest.raises(
        ValueError, match=r"cannot unpack .*evil.tar.gz \(ReadError: [^\n]*delete it"
    ):
        extract(archive, tmp_path / "out")


def nats_tar(data_dir: Path) -> bytes:
    """The NATS-Bench sample records packed as the real archive is: one folder in a tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        t.add(data_dir / "nats" / NATS_FOLDER, arcname=NATS_FOLDER)
    return buf.getvalue()


@pytest.mark.slow
def test_nasbench201_download_then_the_headline_sweep_has_curves(
    server: Server, cache: Path, tmp_path: Path, data_dir: Path, capsys
) -> None:
    """`python -m simtune.blackboxes download nasbench201` as a user meets it (a cut transfer,
    then a resumed one with a progress bar and the checksum), on the NATS-Bench records
    in their original format; then `run.py -m scheduler=asha,bo benchmark=nasbench201`
    runs ASHA with rungs below epoch 200 (offline it is refused)."""
    body = nats_tar(data_dir)
    name = SOURCES["nasbench201"].files[0].name  # NATS-tss-v1_0-3ffb9-simple.tar
    server.files[name] = body
    sample = dataclasses.replace(  # the real pins are those of the 1.1 GB archive
        SOURCES["nasbench201"],
        files=(RemoteFile(name, "-", len(body), hashlib.sha256(body).hexdigest()),))
    dest = tmp_path / "raw"
    server.cut_at = len(body) // 2
    with pytest.raises(OfflineError, match="run again to resume"):
        download("nasbench201", dest, base_url=server.url, source=sample, progress=False)
    server.cut_at = None
    raw = download("nasbench201", dest, base_url=server.url, source=sample, tasks=["cifar10"])
    assert server.ranges[-1] == f"bytes={len(body) // 2}-"
    assert f"{name}: 100%" in capsys.readouterr().err  # tqdm's bar, resumed at 50%
    assert raw == dest / NATS_FOLDER and (dest / name).read_bytes() == body
    assert (cache / "nasbench201" / "cifar10.nats.h5").is_file()

    env = {**os.environ, "SIMTUNE_CACHE": str(cache), "SIMTUNE_NATS_DIR": str(raw)}
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "run.py"), "-m", "scheduler=asha,bo",
         "benchmark=nasbench201", "seed=0", f"hydra.sweep.dir={sweep}", "progress=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    meta = json.loads(next(sweep.glob("*scheduler=asha*/metadata.json")).read_text())
    assert meta["complete"] is True and meta["fidelities"] == list(range(1, 201))
    assert meta["scheduler"]["details"]["derived"]["rung_levels"][0] < 200
    epochs = json.loads(next(sweep.glob("*scheduler=bo*/metadata.json")).read_text())
    assert epochs["complete"] is True

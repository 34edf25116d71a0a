"""Ends the trial processes of a tuner once the tuner is gone, even after its SIGKILL.

Run by path, `python _watchdog.py TOKEN`, with stdin one end of a socket pair whose only
other end the tuner holds. Whichever way the tuner ends, the kernel closes that end; the
read returns and every process whose environment holds `SIMTUNE_WATCH=TOKEN:...` is
killed with every process below it (after the trials those processes run themselves:
see `nested_first`). The tuner also hands it a copy of each trial's output pipe
(`hand_over`): a trial gets SIGTERM at its tuner's death, makes the report of its last
checkpoint, and the watchdog appends what it wrote to the trial's stdout.txt, where a
resumed run recovers it.
Processes are found through /proc (Linux), so trial processes that started their own
session or process group are found too; a process that cleared its
environment (`env -i`) is not. Pure standard library: it imports nothing of simtune.

The tuner's side is here too: `watch_token()` starts the watchdog of this process at
the first launch, `die_with_parent(argv)` makes each trial process arm
PR_SET_PDEATHSIG before it execs the trial, and `watched(name)` marks the processes of
a service the tuner starts (the Ray instance of backend=ray) so that they die with it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

WATCH_ENV = "SIMTUNE_WATCH"
_KEY = WATCH_ENV.encode() + b"="


def watch_value(pid: int) -> str | None:
    """The SIMTUNE_WATCH value in the environment of `pid`; None if absent or unreadable."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            data = f.read()
    except OSError:  # gone, a kernel thread, or another user's process
        return None
    for item in data.split(b"\0"):
        if item.startswith(_KEY):
            return item[len(_KEY) :].decode(errors="replace")
    return None


def sweep(match: Callable[[str], bool], rounds: int = 50) -> int:
    """SIGKILL every process whose SIMTUNE_WATCH value `match`es, until none is left.

    Rounds repeat the scan so that processes forked while it ran are caught; zombies
    have an empty environment and no longer match. Returns how many were killed.
    """
    if not os.path.isdir("/proc"):
        return 0
    me, killed = os.getpid(), 0
    for _ in range(rounds):
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit() and int(name) != me:
                value = watch_value(int(name))
                if value is not None and match(value):
                    found.append(int(name))
        if not found:
            break
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.02)
    return killed


def nested_first(prefix: str, grace: float = 2.0, wait: float = 5.0) -> int:
    """End the processes below ours (value starting with `prefix`) that carry another
    SIMTUNE_WATCH value: SIGTERM, SIGKILL after `grace` s; then wait up to `wait` s until
    their parents have reaped them.

    These are the trials a service of ours runs (the trial processes of backend=ray's
    actors), ended while their actor still lives: a trial that checkpointed since its
    last report makes that report before it dies of the SIGTERM (core.report.run_trial),
    and the actor's reader reads what it wrote to the end (its reports reach its output
    on storage) before it reaps it.
    """
    if not os.path.isdir("/proc"):
        return 0
    parent = _parents()
    nested = {}  # pid -> [state, parent (the reader that reaps it), start time]
    for pid in parent:
        value = watch_value(pid)
        if value is None or value.startswith(prefix):
            continue
        up, seen = parent.get(pid, 0), 0
        while up > 1 and seen < 64:
            above = watch_value(up)
            if above is not None and above.startswith(prefix):
                nested[pid] = _stat(pid)
                break
            up, seen = parent.get(up, 0), seen + 1
    for sig, limit in ((signal.SIGTERM, grace), (signal.SIGKILL, wait)):
        for pid in [pid for pid, was in nested.items() if _unread(pid, was)]:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        end = time.monotonic() + limit
        while any(_unread(pid, was) for pid, was in nested.items()):
            if time.monotonic() > end:
                break
            time.sleep(0.02)
    return len(nested)


def _unread(pid: int, was: list) -> bool:
    """Whether `pid` (`was`: its _stat when found) still runs, or is a zombie its reader
    has not reaped yet (reaped: the reader read what it wrote; reparented: no reader left)."""
    now = _stat(pid)
    return bool(was) and now[2:] == was[2:] and (now[0] != "Z" or now[1] == was[1])


def trees(prefix: str) -> dict[int, str]:
    """The processes whose value starts with `prefix` and every process below them, each
    with its start time (pid -> start; the pair names one process, a pid is reused).

    Below: a process may have lost its environment (setproctitle, which Ray's agents use,
    can overwrite it) or cleared it, and still be part of what ours started.
    """
    if not os.path.isdir("/proc"):
        return {}
    parent, me = _parents(), os.getpid()
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    todo = [pid for pid in parent if (value := watch_value(pid)) and value.startswith(prefix)]
    found: dict[int, str] = {}
    while todo:
        pid = todo.pop()
        if pid not in found and pid != me and (stat := _stat(pid)):
            found[pid] = stat[2]
            todo += children.get(pid, [])
    return found


def kill_known(known: dict[int, str]) -> None:
    """SIGKILL each pid of `known` that is still the process it was (same start time)."""
    for pid, start in known.items():
        if _stat(pid)[2:] == [start]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process."""
    return {pid: stat[1] for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
            if (stat := _stat(pid))}


def _stat(pid: int) -> list:
    """[state, parent pid, start time] of `pid`, [] if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return [fields[0], int(fields[1]), fields[19]]
    except (OSError, ValueError, IndexError):
        return []


# -- the tuner's side ----------------------------------------------------------------------------
_WATCHDOG: subprocess.Popen | None = None
_CHANNEL: socket.socket | None = None  # this end of the socket whose other end is its stdin
_TOKEN = ""
# Run in the trial's own process before it becomes the trial: arm PR_SET_PDEATHSIG (1)
# with SIGTERM (15), give up if the tuner is already gone, then exec the trial's argv.
_ARM = (
    "import ctypes, os, sys\n"
    "ctypes.CDLL(None).prctl(1, 15, 0, 0, 0)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(1)\n"
    "try:\n"
    "    os.execvp(sys.argv[2], sys.argv[2:])\n"
    "except OSError as e:\n"
    "    print(f'cannot run {sys.argv[2]!r}: {e}', file=sys.stderr)\n"
    "    os._exit(127)\n"
)


def die_with_parent(argv: list[str]) -> list[str]:
    """`argv` run so that it gets SIGTERM when the launching thread dies (Linux only): a
    trial makes the report of its last checkpoint (core.report.run_trial) into its pipe,
    which the watchdog holds (hand_over), then dies; the watchdog SIGKILLs what is left.

    A small isolated interpreter arms PR_SET_PDEATHSIG and execs `argv` in the same
    process (same pid; the signal survives exec). Not a preexec_fn: those are unsafe
    in a process with threads, and the tuner reads every trial's output in a thread.
    """
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-I", "-S", "-c", _ARM, str(os.getpid()), *argv]


def watch_token() -> str:
    """The token of this tuner process, its watchdog started at the first call."""
    global _WATCHDOG, _CHANNEL, _TOKEN
    if _WATCHDOG is None or _WATCHDOG.poll() is not None:
        _TOKEN = secrets.token_hex(8)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with theirs:
            _WATCHDOG = subprocess.Popen(
                [sys.executable, __file__, _TOKEN],
                stdin=theirs.fileno(),  # its only other end stays here: EOF = the tuner is gone
                env={k: v for k, v in os.environ.items() if k != WATCH_ENV},  # no one's prey
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C or kill of the tuner's group leaves it alive
            )
        if _CHANNEL is not None:
            _CHANNEL.close()
        _CHANNEL = ours
    return _TOKEN


def _tell(message: str, fds: list[int] | None = None) -> None:
    """One message to this process's watchdog (with file descriptors it then holds too)."""
    if _CHANNEL is not None:
        try:
            socket.send_fds(_CHANNEL, [message.encode()], fds or [])
        except OSError:  # the watchdog is gone, or the channel was closed
            pass


@contextlib.contextmanager
def watched(name: str) -> Iterator[None]:
    """Within: processes this one starts carry SIMTUNE_WATCH=TOKEN:`name`, and so does every
    process they start; the watchdog kills them all once this process is gone.

    For a service whose processes are started indirectly (the Ray instance of
    backend=ray address=local: its head processes, their workers and agents).
    """
    old = os.environ.get(WATCH_ENV)
    os.environ[WATCH_ENV] = f"{watch_token()}:{name}"
    try:
        yield
    finally:
        if old is None:
            del os.environ[WATCH_ENV]
        else:
            os.environ[WATCH_ENV] = old


def adopt(name: str) -> None:
    """Tell the watchdog the processes marked `name` by `watched` and all below them now:
    it kills them too, even those that lost their mark (Ray's agents rename themselves)."""
    found = trees(f"{watch_token()}:{name}")
    if found:
        _tell("".join(f"{p} {s}\n" for p, s in found.items()))


def hand_over(watch: str, pid: int, stdout: int, path: str) -> None:
    """Give the watchdog a copy of the read end `stdout` of trial `pid`'s output pipe: once
    this process is gone, it appends what the trial still writes there to `path`."""
    _tell(f"pipe {watch} {pid} {path}", [stdout])


def forget(watch: str) -> None:
    """The trial `watch` has been read to its end: the watchdog closes its copy."""
    _tell(f"close {watch}")


def _forget_watchdog() -> None:
    """In a forked child: the parent's watchdog is not ours; close our copy of its channel."""
    global _WATCHDOG, _CHANNEL, _TOKEN
    if _CHANNEL is not None:
        _CHANNEL.close()  # this process's copy only: the parent keeps its own
    _WATCHDOG, _CHANNEL, _TOKEN = None, None, ""


def release_watchdog() -> None:
    """Close this process's end of the watchdog's channel: it sweeps and ends (at exit)."""
    if _CHANNEL is not None:
        _CHANNEL.close()


os.register_at_fork(after_in_child=_forget_watchdog)


def drain_pipes(pipes: dict[str, tuple[int, int, str]], wait: float, limit: int = 1 << 20) -> None:
    """Append what is left in each trial's pipe (watch -> (read end, trial pid, file)) to
    its file: until its trial has ended (SIGTERM at the tuner's death) and the pipe is
    empty, or until `wait` s have passed; at most `limit` bytes a pipe."""
    end = time.monotonic() + wait
    left = {fd: (pid, path, limit) for fd, pid, path in pipes.values()}
    for fd in left:
        os.set_blocking(fd, False)
    while left:
        ended = all(_stat(pid)[:1] in ([], ["Z"]) for pid, _, _ in left.values())
        for fd, (pid, path, room) in list(left.items()):
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                chunk = None
            except OSError:
                chunk = b""
            if chunk:
                with open(path, "ab") as f:
                    f.write(chunk[:room])
                left[fd] = (pid, path, room - len(chunk))
            if chunk == b"" or (chunk is None and ended) or left[fd][2] <= 0:
                del left[fd]
        if left and time.monotonic() > end:
            break
        time.sleep(0.01)


def main(argv: list[str]) -> None:
    if len(argv) != 1 or not argv[0]:
        print("usage: python _watchdog.py TOKEN", file=sys.stderr)
        raise SystemExit(2)
    prefix = argv[0] + ":"
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # it ends when its tuner has ended, not before
    known: dict[int, str] = {}  # processes the tuner told about (adopt): "PID START" lines
    pipes: dict[str, tuple[int, int, str]] = {}  # trials' output pipes (hand_over)
    channel = socket.socket(fileno=0)
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, 1 << 20, 4)
        except OSError:
            break
        if not data and not fds:
            break  # the tuner is gone
        kind, _, rest = data.decode(errors="replace").partition(" ")
        if kind == "pipe" and fds:
            watch, pid, path = rest.split(" ", 2)
            pipes[watch] = (fds[0], int(pid), path)
        elif kind == "close" and rest in pipes:
            os.close(pipes.pop(rest)[0])
        else:
            for line in data.decode(errors="replace").splitlines():
                pid, _, start = line.strip().partition(" ")
                if pid.isdigit() and start.isdigit():
                    known[int(pid)] = start
    nested_first(prefix)
    drain_pipes(pipes, wait=2.0)  # the trials got SIGTERM when the tuner died
    kill_known({**known, **trees(prefix)})
    sweep(lambda value: value.startswith(prefix))  # and what was forked meanwhile
    drain_pipes(pipes, wait=0.5)


if __name__ == "__main__":
    main(sys.argv[1:])

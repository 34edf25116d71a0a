"""`python -m simtune.blackboxes list | info | convert | download | tabulate`: the repository's CLI.

User errors print one line `error: ...` on stderr and exit with status 2.

Example:
    >>> main(["info", "fcnet", "--task", "naval_propulsion"])
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from simtune.blackboxes.cache import cache_dir

if TYPE_CHECKING:
    from simtune.blackboxes.blackbox import Blackbox

# the repository (xarray, pandas) is imported by the commands that use it: a command line
# that argparse refuses never pays for it

DELEGATED = {
    "download": "fetch the original files of a benchmark, convert and cache them",
    "tabulate": "run a training function over a grid x seeds into a new blackbox",
}


class UserError(Exception):
    """Bad input from the command line: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, no usage dump
        raise UserError(f"{message} (see `{self.prog} --help`)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the exit status (0 ok, 2 user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        if argv and argv[0] in DELEGATED:
            return _delegate(argv[0], argv[1:])
        args = _parser().parse_args(argv)
        if args.command is None:
            raise UserError("no command; use one of list, info, convert, download, tabulate")
        return args.run(args)
    except (UserError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def cmd_list(args: argparse.Namespace) -> int:
    """One row per (benchmark, task): size, fidelities, objectives, where its data is."""
    from simtune.blackboxes import repository

    rows = [("benchmark", "task", "configs", "seeds", "fidelities", "objectives", "data")]
    available = 0
    for name, bench in sorted(repository.BENCHMARKS.items()):
        for task in bench.tasks:
            where = repository.status(name, task)
            available += where.startswith(("cached", "available offline"))
            rows.append(
                (name, task, bench.configs or "?", bench.seeds or "?", bench.fidelities or "?",
                 bench.objectives or "?", where)
            )
    print(_table(rows))
    print(
        f"\n{available} tasks with real data available offline (cached or from an installed "
        f"package); cache: {cache_dir()}"
    )
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """Space, objectives with modes, fidelity range and best values of one task."""
    from simtune.blackboxes import repository

    bb = repository.load(args.name, args.task, args.raw, force=args.force)
    print(describe(bb))
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """Convert the raw files in --raw for one task (or all) and cache the tables."""
    from simtune.blackboxes import repository

    bench, _ = repository.benchmark(args.name, args.task)
    tasks = [args.task] if args.task else list(bench.tasks)
    for task in tasks:
        bb = repository.load(args.name, task, args.raw, force=args.force)
        print(f"{bb.describe()}; cached in {cache_dir() / args.name}")
    return 0


def describe(bb: Blackbox) -> str:
    """A multi-line summary of a loaded blackbox."""
    lines = [bb.describe(), "", "space:"]
    width = max(map(len, bb.space), default=0)
    lines += [f"  {hp:<{width}}  {domain!r}" for hp, domain in bb.space.items()]
    lines += ["", "objectives (best value anywhere in the table: any config, seed, fidelity):"]
    optimum = bb.optimum or {}
    for name, mode in bb.objectives.items():
        best = optimum.get(name)
        lines.append(f"  {name} ({mode}): best {'unknown' if best is None else f'{best:.6g}'}")
    fids = bb.fidelities
    lines += [
        "",
        f"fidelity: {bb.fidelity_name} "
        + (f"{fids[0]}..{fids[-1]} ({len(fids)} values)" if len(fids) > 1 else f"{fids[0]} only"),
        f"seeds: {', '.join(map(str, bb.seeds))}",
        f"source: {bb.source}",
    ]
    return "\n".join(lines)


def _delegate(command: str, argv: list[str]) -> int:
    try:
        module = importlib.import_module(f"blackboxes.{command}")
    except ModuleNotFoundError as e:
        if e.name != f"blackboxes.{command}":
            raise
        raise UserError(
            f"`{command}` is not available: blackboxes/{command}.py is missing"
        ) from None
    status = module.main(argv)
    return 0 if status is None else int(status)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m simtune.blackboxes",
                     description="simtune's blackbox repository")
    parser.set_defaults(command=None)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    p = sub.add_parser("list", help="benchmarks, tasks and where their data is")
    p.set_defaults(run=cmd_list)
    p = sub.add_parser("info", help="space, objectives, fidelities and best values of a task")
    p.add_argument("name")
    p.add_argument("--task", default=None, help="task (default: the first)")
    p.add_argument("--raw", default=None, help="directory of the original raw files")
    p.add_argument("--force", action="store_true", help="rebuild the cached table")
    p.set_defaults(run=cmd_info)
    p = sub.add_parser("convert", help="convert raw files into cached tables")
    p.add_argument("name")
    p.add_argument("--raw", required=True, help="directory of the original raw files")
    p.add_argument("--task", default=None, help="one task (default: every task)")
    p.add_argument("--force", action="store_true", help="convert even if a cached table matches")
    p.set_defaults(run=cmd_convert)
    for command, text in DELEGATED.items():
        sub.add_parser(command, help=text, add_help=False)
    return parser


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    out = [
        "  ".join(f"{c!s:<{w}}" for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)

"""One import name: simtune installs one top-level package, `simtune`, and never a `core`."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("core", "blackboxes", "analysis", "experiments")  # the fixed top-level code folders


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_every_package_below_the_fixed_folders_is_installed_under_simtune():
    setuptools = _project()
    dirs = {f"simtune.{d}": folder for d, folder in
            ((k.removeprefix("simtune."), v) for k, v in setuptools["package-dir"].items())
            if f"simtune.{d}" in setuptools["packages"]}
    on_disk = set()
    for name, folder in dirs.items():
        if not name.startswith("simtune.") or name.count(".") != 1:
            continue
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            if "plugins" in rel.parts or "api" in rel.parts[:1]:
                continue
            on_disk.add(".".join((name, *rel.parts)))
    missing = sorted(on_disk - set(setuptools["packages"]))
    assert not missing, f"not in pyproject.toml's [tool.setuptools] packages: {missing}"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_no_module_imports_a_fixed_folder_by_its_folder_name():
    """`import core` works only from a checkout's root; installed, the name is simtune.core."""
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        if any(part.startswith(".") or part in ("multirun", "outputs") for part in
               path.relative_to(ROOT).parts):
            continue
        for line, module in _imports(path):
            if module.split(".")[0] in FOLDERS:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not wrong, "import simtune.<folder>... instead:\n" + "\n".join(wrong)


def test_a_users_own_core_package_is_not_shadowed(tmp_path):
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "__init__.py").write_text("OWNER = 'user'\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = ("from simtune import Tuner, Space, create_scheduler, load_run\n"
            "import core, simtune.core.tuner\n"
            "assert Tuner is simtune.core.tuner.Tuner\n"
            "print(core.OWNER, Tuner.__module__)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["user", "simtune.core.tuner"]

"""Packaging and layering rules that no unit test of the maths would notice.

* dynamics/ (the engine) never imports streamlit, plotly or ui/ — checked twice: by importing
  every submodule in a fresh interpreter, and by reading the source (catches imports inside
  functions that the first check never executes).
* pyproject's explicit package list covers every sub-package, and package data covers the
  player's assets, so a non-editable install (the Docker image) has everything.
* The README's first code block holds the two set-up commands, and .ci/run runs the test one.
"""

from __future__ import annotations

import ast
import fnmatch
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINE = REPO_ROOT / "dynamics"
FORBIDDEN_IN_ENGINE = ("streamlit", "plotly", "ui")


def _engine_sources() -> list[Path]:
    return sorted(ENGINE.rglob("*.py"))


def test_engine_imports_no_ui_library_at_runtime() -> None:
    """Import dynamics and all its submodules in a clean interpreter; no UI module may load."""
    script = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        forbidden = {FORBIDDEN_IN_ENGINE!r}

        def loaded():
            return sorted(m for m in sys.modules if m.split(".")[0] in forbidden)

        import dynamics
        offenders = {{}}
        if loaded():
            offenders["dynamics"] = loaded()
        for info in pkgutil.walk_packages(dynamics.__path__, "dynamics."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue  # runs the CLI when imported; covered by the source scan
            importlib.import_module(info.name)
            if loaded() and not offenders:
                offenders[info.name] = loaded()
        assert not offenders, f"the engine pulled in UI modules: {{offenders}}"
        print("imported", len(sys.modules), "modules")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _imported_roots(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
        ):
            found.append((node.lineno, node.args[0].value))
    return found


@pytest.mark.parametrize("path", _engine_sources(), ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_engine_source_never_imports_ui_libraries(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    offenders = [
        f"{path.name}:{line}: {name}"
        for line, name in _imported_roots(ast.parse(source, filename=str(path)))
        if name.split(".")[0] in FORBIDDEN_IN_ENGINE
    ]
    # Belt and braces: the plain-text forms, wherever they hide (e.g. in exec'd strings).
    for number, text in enumerate(source.splitlines(), 1):
        stripped = text.strip()
        for lib in ("streamlit", "plotly"):
            if stripped.startswith((f"import {lib}", f"from {lib}")):
                offenders.append(f"{path.name}:{number}: {stripped}")
    assert not offenders, "dynamics/ must stay pure NumPy/SciPy:\n" + "\n".join(offenders)


def _pyproject() -> dict:
    with (REPO_ROOT / "pyproject.toml").open("rb") as fh:
        return tomllib.load(fh)


def test_every_subpackage_is_packaged() -> None:
    """With an explicit `packages = [...]`, setuptools installs only the listed packages: a
    sub-package left out works in the editable install but is missing from the wheel/image."""
    setuptools_cfg = _pyproject().get("tool", {}).get("setuptools", {})
    packages = setuptools_cfg.get("packages")
    if not isinstance(packages, list):
        pytest.skip("packages are discovered automatically (tool.setuptools.packages.find)")
    missing = []
    for top in packages:
        root = REPO_ROOT / top.replace(".", "/")
        for init in root.rglob("__init__.py"):
            name = ".".join(init.parent.relative_to(REPO_ROOT).parts)
            if "__pycache__" not in name and name not in packages:
                missing.append(name)
    assert not missing, (
        f"sub-packages missing from [tool.setuptools] packages in pyproject.toml: {missing} "
        '(list them, or use [tool.setuptools.packages.find] include = ["dynamics*", "ui*"])'
    )


def test_package_data_covers_non_python_files() -> None:
    """Assets next to the code (the 3D player's js/css/html) must match a package-data glob."""
    setuptools_cfg = _pyproject().get("tool", {}).get("setuptools", {})
    packages = setuptools_cfg.get("packages")
    if not isinstance(packages, list):
        pytest.skip("packages are discovered automatically")
    package_data: dict[str, list[str]] = setuptools_cfg.get("package-data", {})
    uncovered = []
    for top in packages:
        root = REPO_ROOT / top.replace(".", "/")
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            if not path.is_file() or path.suffix in {".py", ".pyc"} or "__pycache__" in path.parts:
                continue
            # setuptools matches globs relative to the owning package directory
            owners = {
                pkg: path.relative_to(REPO_ROOT / pkg.replace(".", "/")).as_posix()
                for pkg in packages
                if path.is_relative_to(REPO_ROOT / pkg.replace(".", "/"))
            }
            globs = [(rel, g) for pkg, rel in owners.items() for g in package_data.get(pkg, [])]
            globs += [(path.name, g) for g in package_data.get("*", [])]
            if not any(fnmatch.fnmatchcase(rel, g) for rel, g in globs):
                uncovered.append(path.relative_to(REPO_ROOT).as_posix())
    assert not uncovered, f"files not in any [tool.setuptools.package-data] glob: {uncovered}"


def test_console_script_target_exists() -> None:
    scripts = _pyproject().get("project", {}).get("scripts", {})
    code = "import importlib, sys\n" + "".join(
        f"assert callable(getattr(importlib.import_module({mod!r}), {attr!r})), {name!r}\n"
        for name, target in scripts.items()
        for mod, attr in [target.split(":", 1)]
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr


def test_readme_starts_with_the_setup_commands(
    readme_block: dict | None, canonical_commands: dict[str, str]
) -> None:
    """The README's first code block is a bash block with exactly the run and test commands."""
    if readme_block is None:
        pytest.skip("README.md has no code block yet")
    assert readme_block["lang"] in {"bash", "sh", "shell", "console"}, readme_block["lang"]
    assert readme_block["lines"] == [canonical_commands["run"], canonical_commands["test"]], (
        "README's first code block must be exactly the two commands in tests/conftest.py "
        "(README_RUN_COMMAND, README_TEST_COMMAND); update both together"
    )


def test_ci_runs_the_readme_test_command(readme_commands: dict[str, str]) -> None:
    ci_script = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert readme_commands["test"] in ci_script, (
        f".ci/run must run the README's test command verbatim: {readme_commands['test']}"
    )
    assert "set -euo pipefail" in ci_script
    assert "playwright install" not in ci_script, "use Debian's chromium, never a tool's download"

"""The code base stays ruff-clean and formatted, with a complexity ceiling (ruff is in the test extra).

``ruff check`` uses pyproject's rule selection, which includes mccabe's C901 at max-complexity 15;
``ruff format --check`` fails on any file the formatter would change (line length 110).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAX_COMPLEXITY = 15


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    ruff = Path(sys.executable).with_name("ruff")
    exe = str(ruff) if ruff.exists() else shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    return subprocess.run([exe, *args], cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=120)


def test_ruff_check_is_clean():
    proc = _ruff("check", "--no-cache", "--output-format", "concise", ".")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_ruff_format_is_clean():
    proc = _ruff("format", "--check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_the_complexity_ceiling_is_part_of_the_check():
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]["lint"]
    assert "C901" in lint["select"]
    assert lint["mccabe"]["max-complexity"] == MAX_COMPLEXITY
    # the ceiling bites with the project's configuration: one branch too many is reported
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(MAX_COMPLEXITY))
    probe = _ruff(
        "check",
        "--no-cache",
        "--stdin-filename",
        "probe.py",
        "-",
        stdin=f"def f(x):\n{branches}    return -1\n",
    )
    assert f"C901 `f` is too complex ({MAX_COMPLEXITY + 1} > {MAX_COMPLEXITY})" in probe.stdout, probe.stdout

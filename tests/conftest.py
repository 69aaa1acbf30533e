"""Shared test configuration: Hypothesis profiles and the README's two set-up commands.

Keep this file small: fixtures used by one area live next to it (tests/e2e/conftest.py for the
real-browser tests).
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]

# --- Hypothesis ------------------------------------------------------------------------------
# No deadlines anywhere: timings on a loaded 2-core CI box are noise, not bugs. In CI the search
# is derandomised so that a run is reproducible and a red build means the code changed.
settings.register_profile("default", deadline=None)
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
_profile = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
settings.load_profile(_profile)

# --- The README's set-up commands --------------------------------------------------------------
# The README starts with one ```bash block holding exactly these two lines. They are the single
# source of truth for: the Dockerfile's ENTRYPOINT (tests/test_dockerfile.py), the command the
# e2e server fixture runs (tests/e2e/conftest.py) and .ci/run (tests/test_packaging.py).
# tests/test_packaging.py::test_readme_starts_with_the_setup_commands fails if the README and
# these constants disagree; while the README has no such block yet, the constants are used alone.
README_RUN_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/streamlit run app.py"
README_TEST_COMMAND = (
    'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest'
)

_FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)


def parse_readme_commands(text: str) -> dict[str, Any] | None:
    """The run/test commands from the README's first fenced code block, or None if it has none.

    Comment and blank lines are ignored; a leading "$ " prompt is dropped. The command containing
    "streamlit run" is the run command, the one containing "pytest" the test command.
    """
    match = _FENCE.search(text)
    if match is None:
        return None
    lines = [
        line.strip().removeprefix("$ ").strip()
        for line in match.group("body").splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    return {
        "run": next((line for line in lines if "streamlit run" in line), None),
        "test": next((line for line in lines if "pytest" in line), None),
        "lang": match.group("lang"),
        "lines": lines,
    }


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def canonical_commands() -> dict[str, str]:
    """The two set-up commands as this file spells them (README_RUN/TEST_COMMAND)."""
    return {"run": README_RUN_COMMAND, "test": README_TEST_COMMAND}


@pytest.fixture(scope="session")
def readme_block() -> dict[str, Any] | None:
    """README.md's first fenced code block, parsed (None when there is no README or no block)."""
    readme = REPO_ROOT / "README.md"
    return parse_readme_commands(readme.read_text(encoding="utf-8")) if readme.exists() else None


@pytest.fixture(scope="session")
def readme_commands(
    readme_block: dict[str, Any] | None, canonical_commands: dict[str, str]
) -> dict[str, str]:
    """{"run": ..., "test": ...}: from README.md's first code block, else the constants above."""
    if readme_block is None or not readme_block["run"] or not readme_block["test"]:
        warnings.warn(
            "README.md has no first code block with the run and test commands yet: "
            "using README_RUN_COMMAND / README_TEST_COMMAND from tests/conftest.py",
            stacklevel=1,
        )
        return dict(canonical_commands)
    return {"run": readme_block["run"], "test": readme_block["test"]}

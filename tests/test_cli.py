"""Command line ``python -m dynamics simulate SCEN.json -o OUT.npz``, run as a real subprocess.

Contract (dynamics/cli.py): the npz holds t, x and the scenario JSON (which round-trips to the same
Scenario); every refusal — unreadable file, bad JSON, invalid scenario, over budget — exits with
code 2 and exactly one line on stderr, never a traceback; a numerical failure exits 1.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynamics import Scenario, simulate

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dynamics", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


def assert_refused(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert proc.stderr.endswith("\n")
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def test_simulate_writes_trajectory_and_scenario(tmp_path):
    scenario = Scenario(n=6, d=3, beta=2.0, mask="causal", T=2.0, frames=21, seed=4, qk="gaussian")
    src = tmp_path / "scen.json"
    src.write_text(scenario.to_json(indent=2), encoding="utf-8")
    out = tmp_path / "out.npz"
    proc = run_cli("simulate", str(src), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["status"] == 0 and summary["frames"] == 21
    with np.load(out) as data:
        t, x = data["t"], data["x"]
        back = Scenario.from_json(str(data["scenario"]))
        assert int(data["status"]) == 0
        assert str(data["message"])
    assert back == scenario
    assert back.digest() == scenario.digest()
    np.testing.assert_array_equal(t, np.linspace(0, 2.0, 21))
    assert x.shape == (21, 6, 3)
    # the file holds exactly what the Python API computes for that scenario
    np.testing.assert_array_equal(x, simulate(back).x)
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0, atol=1e-12)


def test_simulate_reads_stdin(tmp_path):
    out = tmp_path / "o.npz"
    proc = run_cli("simulate", "-", "-o", str(out), stdin=json.dumps({"n": 4, "T": 1.0, "frames": 3}))
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as data:
        assert data["x"].shape == (3, 4, 3)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, ("missing.json",)),  # no such file
        ("{not json", ("JSON",)),
        ("[1, 2, 3]", ("scenario",)),
        ('{"n": 0}', ("n",)),
        ('{"betta": 2}', ("betta",)),
        ('{"space": "ellipsoid", "P": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]}', ("P",)),
        ('{"n": ' + "9" * 400 + "}", ("n",)),  # an int beyond the float range
        ('{"n": ' + "9" * 5000 + "}", ("JSON",)),  # beyond Python's int-conversion digit limit
        ("[" * 50_000 + "]" * 50_000, ("JSON",)),  # nesting beyond the parser's recursion limit
        ('{"x0": [[0, 0, 0], [1, 0, 0]]}', ("x0",)),  # refused when the tokens are built
        ('{"beta": 10000, "attention": "unnormalized"}', ("beta",)),
        ('{"n": 5000}', ("n",)),  # over the size budget
        ('{"T": 100000, "dt": 1e-6}', ("dt",)),  # over the step budget
    ],
)
def test_refusals_exit_2_with_one_line(tmp_path, content, words):
    path = tmp_path / "missing.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    proc = run_cli("simulate", str(path), "-o", str(tmp_path / "o.npz"))
    assert_refused(proc, *words)
    assert not (tmp_path / "o.npz").exists()


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "s.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert_refused(run_cli("simulate", str(path), "-o", str(tmp_path / "o.npz")))


def test_directory_as_input_is_refused(tmp_path):
    assert_refused(run_cli("simulate", str(tmp_path), "-o", str(tmp_path / "o.npz")))


def test_unwritable_output_is_refused(tmp_path):
    src = tmp_path / "s.json"
    src.write_text('{"n": 3, "T": 0.5}', encoding="utf-8")
    assert_refused(run_cli("simulate", str(src), "-o", str(tmp_path / "no" / "such" / "dir" / "o.npz")))


def test_numerical_failure_exits_1(tmp_path):
    """A blow-up (USA at β = 400 with a huge step) is a result, not a refusal: exit 1, file saved."""
    src = tmp_path / "s.json"
    src.write_text(
        json.dumps(
            {"n": 6, "attention": "unnormalized", "beta": 400, "integrator": "euler", "dt": 0.1, "seed": 1}
        ),
        encoding="utf-8",
    )
    out = tmp_path / "o.npz"
    proc = run_cli("simulate", str(src), "-o", str(out))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["status"] == -1
    with np.load(out) as data:
        assert int(data["status"]) == -1
        assert not math.isfinite(float(np.abs(data["x"][-1]).max()))


def test_version_and_usage():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip()
    bad = run_cli("simulate")  # missing arguments: argparse usage error
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


# ------------------------------------------------------------------- issue 10 / issue 13 §2


@pytest.mark.parametrize("command", ["simulate", "check"])
def test_device_file_is_refused_without_reading(tmp_path, command):
    """/dev/zero reports size 0 and never ends: refused as not a regular file, before reading."""
    args = (command, "/dev/zero") + (("-o", str(tmp_path / "o.npz")) if command == "simulate" else ())
    assert_refused(run_cli(*args, timeout=60), "/dev/zero", "regular file")


def test_fifo_is_refused_without_blocking(tmp_path):
    """A FIFO without a writer would block the open forever: refused at once (the subprocess has a
    timeout, so a regression fails instead of hanging the suite)."""
    fifo = tmp_path / "scenario.json"
    os.mkfifo(fifo)
    assert_refused(run_cli("check", str(fifo), "--no-run", timeout=60), "regular file")


@pytest.mark.parametrize(
    "text",
    ['{"n": 8, "n": 1000000}', '{"heads": [{"Q": [[1, 0], [0, 1]], "Q": [[2, 0], [0, 2]]}], "d": 2}'],
)
def test_duplicate_json_keys_are_refused(tmp_path, text):
    path = tmp_path / "dup.json"
    path.write_text(text, encoding="utf-8")
    assert_refused(run_cli("simulate", str(path), "-o", str(tmp_path / "o.npz")), "given twice")


def test_oversized_file_is_refused(tmp_path, monkeypatch):
    """At most MAX_SCENARIO_BYTES + 1 bytes are read (here: a sparse file of 60 MB)."""
    path = tmp_path / "big.json"
    with path.open("wb") as fh:
        fh.truncate(60_000_000)
    assert_refused(run_cli("check", str(path), "--no-run"), "larger than")


@pytest.mark.parametrize(
    ("scenario", "no_run", "words"),
    [
        # issue 10 defect 2: the LP and eigendecompositions of the assumption checks are priced
        ({"n": 4096, "d": 2048}, True, ("work budget", "setting up", "e.g. n ≤")),
        ({"n": 4096, "d": 2048}, False, ("e.g. n ≤",)),
        # issue 13 §2: 64 heads of 1024×1024 matrices kept as tuples need ~8 GB to build
        ({"n": 8, "d": 1024, "n_heads": 64}, True, ("memory", "n_heads ≤")),
        ({"n": 8, "d": 1024, "n_heads": 64}, False, ("memory", "n_heads ≤")),
    ],
)
def test_check_is_refused_before_any_work(tmp_path, scenario, no_run, words):
    path = tmp_path / "big.json"
    path.write_text(json.dumps(scenario), encoding="utf-8")
    args = ("check", str(path)) + (("--no-run",) if no_run else ())
    assert_refused(run_cli(*args, timeout=120), *words)  # a hang (minutes of LP) fails the timeout


def test_simulate_refuses_set_up_memory(tmp_path):
    path = tmp_path / "heads.json"
    path.write_text(json.dumps({"n": 8, "d": 1024, "n_heads": 64}), encoding="utf-8")
    assert_refused(run_cli("simulate", str(path), "-o", str(tmp_path / "o.npz"), timeout=120), "memory")

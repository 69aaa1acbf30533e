"""The deploy/ topology without Docker: N `streamlit run app.py` replicas on loopback ports behind
nginx (Debian's package), configured from the same template as deploy/compose.yaml.

    python deploy/topology.py --replicas 2 --port 8080        # serve until Ctrl-C

Everything nginx writes (pid, logs, temp files) stays in one working directory; it runs in the
foreground (``daemon off``) as a child of this process. Used by tests/e2e/test_proxy.py and
``benchmarks/load.py --via-proxy``; on a VM without Docker it is the multi-replica deployment.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEPLOY_DIR.parent
TEMPLATE = DEPLOY_DIR / "nginx" / "adx.conf.template"
#: Passive health of each upstream server: one refused connection takes it out for 10 s.
SERVER_PARAMS = "max_fails=1 fail_timeout=10s"
#: The template's variables (also the proxy's environment in deploy/compose.yaml).
VARIABLES = ("ADX_LISTEN", "ADX_ACCESS_LOG", "ADX_UPSTREAM_SERVERS")
#: nginx's temporary-file directories (set explicitly: the compiled-in ones are under /var/lib).
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
_VARIABLE = re.compile(r"\$\{(ADX_[A-Z0-9_]+)\}")
START_TIMEOUT_S = 90.0
#: Environment of every replica, as deploy/compose.yaml sets it (glibc returns large freed arrays).
REPLICA_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072"}


def render_template(values: Mapping[str, str], template: str | None = None) -> str:
    """The template with every ``${ADX_*}`` replaced (what the nginx image's envsubst does with
    ``NGINX_ENVSUBST_FILTER=^ADX_``); nginx's own ``$variables`` are left alone.

    Raises KeyError for a variable without a value.
    """
    text = TEMPLATE.read_text(encoding="utf-8") if template is None else template
    return _VARIABLE.sub(lambda m: values[m.group(1)], text)


def upstream_servers(addresses: Sequence[str]) -> str:
    """The upstream's ``server`` lines for ``host:port`` addresses."""
    return " ".join(f"server {a} {SERVER_PARAMS};" for a in addresses)


def standalone_conf(http_conf: Path, workdir: Path) -> str:
    """A complete nginx.conf around the rendered http-context file: foreground, one worker, and
    every path nginx writes inside ``workdir`` (no root paths: runs as any user)."""
    tmp = workdir / "tmp"
    lines = [
        "daemon off;",
        "worker_processes 1;",
        f"pid {workdir / 'nginx.pid'};",
        f"error_log {workdir / 'error.log'} warn;",
    ]
    if os.geteuid() == 0:  # a root master would hand the workers to `nobody`, who cannot read workdir
        lines.append("user root;")
    lines += [
        "events { worker_connections 4096; }",
        "http {",
        *(f"    {kind}_temp_path {tmp / kind};" for kind in TEMP_PATHS),
        f"    include {http_conf};",
        "}",
        "",
    ]
    return "\n".join(lines)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def health(base_url: str, timeout_s: float = 2.0) -> str | None:
    """The body of ``GET /_stcore/health`` ("ok" when ready), or None when nothing answers."""
    try:
        with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=timeout_s) as resp:
            return resp.read().decode("utf-8", "replace").strip()
    except (urllib.error.URLError, OSError):
        return None


def streamlit_command(port: int, extra: Sequence[str] = ()) -> list[str]:
    """The Docker image's `streamlit run app.py` on a loopback port; no file watcher (the sources
    do not change under a deployment, and an edit in a dev tree would drop every cache)."""
    return [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--server.fileWatcherType", "none",
        *extra,
    ]  # fmt: skip


def _stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait_s: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    for s, w in ((sig, wait_s), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, s)
        try:
            proc.wait(timeout=w)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Replica:
    """One `streamlit run app.py` process."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def open_connections(self) -> int:
        """Established TCP connections into this replica (from the proxy: a long-lived one is a
        session's websocket; nginx closes plain HTTP upstream connections after each request)."""
        import psutil

        if not self.alive():
            return 0
        conns = psutil.Process(self.process.pid).net_connections(kind="tcp")
        return sum(
            1 for c in conns if c.status == psutil.CONN_ESTABLISHED and c.laddr.port == self.port and c.raddr
        )

    def kill(self) -> None:
        """SIGKILL, as a crashed or OOM-killed replica (no goodbye to its sessions)."""
        _stop_group(self.process, signal.SIGKILL)


@dataclass
class LocalTopology:
    """``replicas`` app processes + nginx on loopback; a context manager (starts, then stops all).

    ``base_url`` is the proxy's. ``workdir`` holds the rendered configuration (adx.conf, nginx.conf),
    nginx's logs (``access_log``: one line per request with ``upstream=<replica address>``) and
    each replica's log.
    """

    replicas: int = 2
    workdir: Path | None = None
    port: int | None = None
    nginx: str = "nginx"
    app_args: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    servers: list[Replica] = field(default_factory=list, init=False)
    proxy: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "access.log"

    def __enter__(self) -> LocalTopology:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ start / stop
    def start(self) -> None:
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="adx-topology-")
            self.workdir = Path(self._tmp.name)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "tmp").mkdir(exist_ok=True)
        nginx = shutil.which(self.nginx) or (self.nginx if os.access(self.nginx, os.X_OK) else None)
        if nginx is None:
            raise FileNotFoundError(f"no nginx executable ({self.nginx!r}): apt-get install nginx")
        for i in range(self.replicas):
            self.servers.append(self._start_replica(i))
        for r in self.servers:
            self._wait(lambda r=r: health(r.url) == "ok", r.process, r.log_path, f"replica {r.address}")
        self.port = self.port or free_port()
        http_conf = self.workdir / "adx.conf"
        http_conf.write_text(
            render_template(
                {
                    "ADX_LISTEN": f"127.0.0.1:{self.port}",
                    "ADX_ACCESS_LOG": str(self.access_log),
                    "ADX_UPSTREAM_SERVERS": upstream_servers([r.address for r in self.servers]),
                }
            ),
            encoding="utf-8",
        )
        conf = self.workdir / "nginx.conf"
        conf.write_text(standalone_conf(http_conf, self.workdir), encoding="utf-8")
        cmd = [nginx, "-p", str(self.workdir), "-c", str(conf), "-e", str(self.workdir / "error.log")]
        check = subprocess.run([*cmd, "-t", "-q"], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused {conf}:\n{check.stderr}")
        log = (self.workdir / "nginx.out").open("wb")
        with log:
            self.proxy = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait(lambda: health(self.base_url) == "ok", self.proxy, self.workdir / "error.log", "nginx")

    def _start_replica(self, index: int) -> Replica:
        assert self.workdir is not None
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **REPLICA_ENV, **(self.env or {})}
        port = free_port()
        log_path = self.workdir / f"replica-{index}-{port}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                streamlit_command(port, self.app_args),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return Replica(port, proc, log_path)

    @staticmethod
    def _wait(ready, proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log.exists() else ""
                state = f"exited with {proc.returncode}" if proc.poll() is not None else "never became ready"
                raise RuntimeError(f"{what} {state}:\n{tail}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proxy is not None:
            _stop_group(self.proxy, signal.SIGQUIT)  # graceful: finish the open requests
        for r in self.servers:
            _stop_group(r.process)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ------------------------------------------------------------------ inspection
    def upstreams_in_log(self, affinity: str | None = None) -> list[tuple[str, list[str]]]:
        """(request path, replica addresses tried) for every logged request, in order; only those
        of one browser when ``affinity`` (its adx_affinity cookie) is given. nginx logs a
        websocket when it closes; a request that failed over lists every replica it tried."""
        if not self.access_log.exists():
            return []
        out = []
        for line in self.access_log.read_text(encoding="utf-8", errors="replace").splitlines():
            m = re.search(r'"[A-Z]+ (\S+) [^"]*" \d+ \d+ upstream=(.*?) affinity=(\S+)', line)
            if m and (affinity is None or m.group(3) == affinity):
                out.append((m.group(1), [a.strip() for a in m.group(2).split(",")]))
        return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--replicas", type=int, default=2, help="app processes (default 2)")
    ap.add_argument("--port", type=int, default=8080, help="the proxy's port on 127.0.0.1 (default 8080)")
    ap.add_argument("--workdir", type=Path, help="configuration and logs (default: a temporary directory)")
    ap.add_argument("--nginx", default="nginx", help="nginx executable (default: nginx on PATH)")
    args = ap.parse_args(argv)
    topo = LocalTopology(replicas=args.replicas, workdir=args.workdir, port=args.port, nginx=args.nginx)
    with topo:
        print(f"{topo.base_url} → " + ", ".join(r.url for r in topo.servers) + f" (logs in {topo.workdir})")
        stop = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # delivered to sigwait, then the clean-up
        signal.sigwait(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""deploy/: the multi-replica deployment, checked without a Docker daemon (none on our machines).

* deploy/compose.yaml parses and keeps its invariants: replicas built from the project's
  Dockerfile with the Dockerfile's own health check used for readiness, the proxy started only
  once the replicas are healthy, fed with the shared nginx template and exactly its variables,
  routing to the port the image exposes with the same failure policy as the local topology;
* the one nginx template, rendered both ways (compose's environment; deploy/topology.py's loopback
  replicas), is accepted by `nginx -t`;
* the upload size limits agree: widget = server (.streamlit/config.toml) ≤ proxy ≤ server + the
  framing margin Streamlit allows itself.
The topology itself runs in tests/e2e/test_proxy.py (Debian's nginx in front of two replicas).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from deploy import topology

REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY = REPO_ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def _template_variables() -> set[str]:
    return set(re.findall(r"\$\{(ADX_[A-Z0-9_]+)\}", topology.TEMPLATE.read_text(encoding="utf-8")))


def _nginx() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("no nginx (CI is set: .ci/run installs it with apt)")
        pytest.skip("no nginx: `apt-get install nginx` to check the rendered configuration")
    return path


# ------------------------------------------------------------------------------------ compose
def test_replicas_are_the_projects_image_with_its_health_check(compose: dict, dockerfile: str) -> None:
    app = compose["services"]["app"]
    build = app["build"]
    assert (DEPLOY / build["context"]).resolve() == REPO_ROOT
    assert (REPO_ROOT / build.get("dockerfile", "Dockerfile")).is_file()
    assert int(_interpolate(app["deploy"]["replicas"])) >= 2
    # the Dockerfile's HEALTHCHECK command, word for word: one readiness probe for both
    joined = re.sub(r"\\\n\s*", " ", dockerfile)  # continuation lines joined
    m = re.search(r"^HEALTHCHECK\b.*?\bCMD (\[.*\])\s*$", joined, re.M)
    assert m, "the Dockerfile has no exec-form HEALTHCHECK"
    assert app["healthcheck"]["test"] == ["CMD", *json.loads(m.group(1))]
    assert "/_stcore/health" in " ".join(app["healthcheck"]["test"])
    assert "ports" not in app, "replicas are reached through the proxy only"
    for key, value in topology.REPLICA_ENV.items():  # the local topology runs its replicas alike
        assert app["environment"][key] == value


def test_the_proxy_waits_for_healthy_replicas_and_routes_to_the_exposed_port(
    compose: dict, dockerfile: str
) -> None:
    proxy = compose["services"]["proxy"]
    assert proxy["depends_on"]["app"]["condition"] == "service_healthy"
    exposed = re.findall(r"^EXPOSE (\d+)", dockerfile, re.M)
    assert exposed == ["8501"] and "--server.port=8501" in dockerfile
    env = proxy["environment"]
    servers = env["ADX_UPSTREAM_SERVERS"]
    assert servers == topology.upstream_servers([f"app:{exposed[0]}"]), (
        "compose and deploy/topology.py must use the same upstream failure policy"
    )
    published = [_interpolate(p) for p in proxy["ports"]]
    assert [p.rsplit(":", 1)[1] for p in published] == [env["ADX_LISTEN"]]
    assert f"127.0.0.1:{env['ADX_LISTEN']}/_stcore/health" in " ".join(proxy["healthcheck"]["test"])


def test_the_proxy_is_fed_the_shared_template_and_exactly_its_variables(compose: dict) -> None:
    proxy = compose["services"]["proxy"]
    mounts = [v.split(":") for v in proxy["volumes"]]
    assert [(DEPLOY / src).resolve() for src, *_ in mounts] == [topology.TEMPLATE]
    target = mounts[0][1]
    assert target.startswith("/etc/nginx/templates/") and target.endswith(".conf.template")
    env = proxy["environment"]
    variables = _template_variables()
    assert variables == set(topology.VARIABLES)
    assert {k for k in env if k.startswith("ADX_")} == variables
    # envsubst must touch only ADX_* names, never nginx's own $variables
    allowed = re.compile(env["NGINX_ENVSUBST_FILTER"])
    assert all(allowed.search(v) for v in variables)
    nginx_vars = set(re.findall(r"\$([a-z_]+)", topology.TEMPLATE.read_text(encoding="utf-8")))
    assert "request_id" in nginx_vars and not any(allowed.search(v) for v in nginx_vars)


def test_render_fills_every_variable_and_only_those() -> None:
    values = {
        "ADX_LISTEN": "127.0.0.1:9",
        "ADX_ACCESS_LOG": "/x/access.log",
        "ADX_UPSTREAM_SERVERS": "server a:1;",
    }
    text = topology.render_template(values)
    assert "${" not in text and "server a:1;" in text and "listen 127.0.0.1:9;" in text
    assert "$cookie_adx_affinity" in text and "$http_upgrade" in text  # nginx's variables untouched
    with pytest.raises(KeyError):
        topology.render_template({"ADX_LISTEN": "1"})


# ------------------------------------------------------------------------------------ nginx -t
def _nginx_t(tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (tmp_path / "tmp").mkdir()
    http_conf = tmp_path / "adx.conf"
    http_conf.write_text(topology.render_template(values), encoding="utf-8")
    conf = tmp_path / "nginx.conf"
    conf.write_text(topology.standalone_conf(http_conf, tmp_path), encoding="utf-8")
    cmd = [_nginx(), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=60)


def test_local_topology_config_passes_nginx_t(tmp_path: Path) -> None:
    values = {
        "ADX_LISTEN": "127.0.0.1:8080",
        "ADX_ACCESS_LOG": str(tmp_path / "access.log"),
        "ADX_UPSTREAM_SERVERS": topology.upstream_servers(["127.0.0.1:8501", "127.0.0.1:8502"]),
    }
    done = _nginx_t(tmp_path, values)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr


def test_compose_proxy_config_passes_nginx_t(tmp_path: Path, compose: dict) -> None:
    """Compose's values as the nginx image's envsubst would render them; only the service name
    `app` (resolved by Docker's DNS, unknown here) becomes a loopback address."""
    env = {k: v for k, v in compose["services"]["proxy"]["environment"].items() if k.startswith("ADX_")}
    env["ADX_UPSTREAM_SERVERS"] = env["ADX_UPSTREAM_SERVERS"].replace("server app:", "server 127.0.0.1:")
    env["ADX_ACCESS_LOG"] = str(tmp_path / "access.log")  # /dev/stdout in the container
    done = _nginx_t(tmp_path, env)
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------------------------ upload limits
def _widget_upload_limits() -> list[int]:
    """Every ``max_upload_size=<MB>`` passed to a Streamlit widget in app.py, pages/ and ui/."""
    found = []
    for path in [REPO_ROOT / "app.py", *REPO_ROOT.glob("pages/*.py"), *REPO_ROOT.glob("ui/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "max_upload_size":
                assert isinstance(node.value, ast.Constant), f"{path.name}: non-literal max_upload_size"
                found.append(int(node.value.value))
    return found


def _mb(size: str) -> float:
    m = re.fullmatch(r"(\d+)([kKmM]?)", size)
    assert m, size
    return int(m.group(1)) / {"k": 1024, "m": 1, "": 1024 * 1024}[m.group(2).lower()]


def test_upload_limits_agree_from_widget_to_proxy(dockerfile: str, compose: dict) -> None:
    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    server_mb = config["server"]["maxUploadSize"]
    widgets = _widget_upload_limits()
    assert widgets, "no file_uploader with max_upload_size found"
    assert server_mb == max(widgets), "the server must accept what the widgets allow, and no more"
    # nothing overrides the config in the image or the compose file
    assert "maxUploadSize" not in dockerfile
    assert not any("MAX_UPLOAD" in k for s in compose["services"].values() for k in s.get("environment", {}))
    # nginx lets a full-size file's multipart body through, and refuses what Streamlit would
    # refuse anyway (it streams up to maxUploadSize + 1 MB of framing before saying 413)
    sizes = re.findall(r"client_max_body_size (\w+);", topology.TEMPLATE.read_text(encoding="utf-8"))
    assert len(sizes) == 1
    assert server_mb + 1 / 16 <= _mb(sizes[0]) <= server_mb + 1

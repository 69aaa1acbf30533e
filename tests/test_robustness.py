"""Proof that bad input does no harm (issue 7).

* Fuzz (hypothesis, bounded examples): the lesson-link parser, the sidebar's number/matrix text
  parser, ``Scenario.from_query``, the scenario JSON loader, uploaded point files and the camera
  parameter — each returns a value or raises its own one-line error type, never anything else.
* The largest request a URL can make is refused by the work budget before anything integrates.
* Numerical abuse through the app (AppTest): huge β, nearly antipodal tokens, n = 1, d = 2,
  singular / ill-conditioned P, non-finite input — each runs or is refused with a reason, and no
  NaN reaches the screen (token markers finite; trails' NaNs are only the separators between
  tokens; no "nan"/"inf" text in the verdict, captions or messages).
"""

from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rendered import as_read  # tests/rendered.py
from streamlit.testing.v1 import AppTest

from dynamics import Scenario, ScenarioError
from dynamics.errors import BudgetError
from dynamics.limits import check
from ui import controls, lesson, uploads
from ui.player import camera_from_param
from ui.session import APP_LIMITS, build_display

APP = str(Path(__file__).resolve().parents[1] / "app.py")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# URL-ish text: digits, signs, separators, exponents, specials and a bit of everything else.
url_text = st.one_of(
    st.text(alphabet='0123456789-+.,;eE naifNIF[]{}":x', max_size=40),
    st.text(max_size=30),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "", "  ", "1e-400", "9" * 400, "[[1,2],[3]]"]),
)
param_names = st.sampled_from(
    [*controls.URL_PARAMS, "x0", "P", "heads", "space", "frames", "dtype", "rtol", "qk_eigs", "zzz"]
)


# ------------------------------------------------------------------------------------ fuzz
@FUZZ
@given(st.dictionaries(st.sampled_from(["hide", "embed", "frame", "x"]), url_text, max_size=4))
def test_lesson_link_parser_never_raises(params) -> None:
    link = lesson.parse_link(params)
    assert link.hidden <= set(lesson.HIDE_TARGETS)
    assert link.frame is None or link.frame >= 0
    assert all(isinstance(p, str) and len(p) < 200 for p in link.problems)
    assert "<" not in lesson.hide_css(link.hidden).replace("<style>", "").replace("</style>", "")


@FUZZ
@given(url_text, st.integers(1, 8))
def test_number_text_parser_returns_values_or_a_message(text, d) -> None:
    values, problem = controls.parse_numbers(text, d, "V eigenvalues")
    assert (values is None) != (problem is None)
    if values is not None:
        assert len(values) == d and all(np.isfinite(values))
    else:
        assert problem.startswith("V eigenvalues:")


@FUZZ
@given(st.dictionaries(param_names, url_text, max_size=6))
def test_scenario_from_query_returns_a_scenario_or_a_scenario_error(params) -> None:
    try:
        s = Scenario.from_query(params)
    except ScenarioError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert Scenario.from_json(s.to_json()) == s


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.floats(allow_nan=True)
    | st.integers(-(10**30), 10**30)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
scenario_keys = st.sampled_from(["n", "d", "beta", "x0", "P", "space", "heads", "v_eigs", "T", "dt", "seed"])


@FUZZ
@given(
    st.one_of(st.text(max_size=60), st.dictionaries(scenario_keys, json_values, max_size=5).map(json.dumps))
)
def test_scenario_json_loader_returns_a_scenario_or_a_scenario_error(text) -> None:
    try:
        s = Scenario.from_json(text)
    except ScenarioError as exc:
        assert str(exc)
        return
    assert isinstance(s, Scenario)


def _npy(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    return buf.getvalue()


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(alphabet="0123456789-.,e \n#xnaif", max_size=200).map(str.encode),
        st.lists(
            st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=5), max_size=6
        ).map(lambda rows: "\n".join(",".join(map(str, r)) for r in rows).encode()),
    ),
    st.sampled_from(["x.csv", "x.npy", "x.txt"]),
)
def test_uploaded_point_files_return_tokens_or_an_upload_error(data, name) -> None:
    try:
        x0 = uploads.parse_tokens(name, data)
    except uploads.UploadError as exc:
        assert str(exc)
        return
    assert x0.ndim == 2 and np.allclose(np.linalg.norm(x0, axis=1), 1.0)
    Scenario(x0=x0.tolist())  # the engine accepts what the upload accepted


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (_npy(np.array([{"a": 1}], dtype=object)), "usable .npy"),  # would need pickle: refused
        (_npy(np.zeros((3, 3))), "row 1 is zero"),
        (_npy(np.full((2, 3), np.nan)), "non-finite"),
        (_npy(np.ones((600, 3))), "1 to 512 tokens"),
        (_npy(np.ones((3, 300))), "2 to 256 coordinates"),
        (_npy(np.ones((2, 2, 2))), "3 dimensions"),
        (_npy(np.array([[1 + 1j, 0]])), "complex"),
        (b"\x93NUMPY garbage", "not a"),
        (b"x" * (uploads.MAX_BYTES + 1), "too large"),
    ],
)
def test_bad_npy_uploads_are_refused_with_a_reason(data: bytes, needle: str) -> None:
    with pytest.raises(uploads.UploadError, match=re.escape(needle)):
        uploads.parse_tokens("x.npy", data)


@FUZZ
@given(url_text)
def test_camera_parameter_parser_never_raises(text) -> None:
    cam = camera_from_param(text)
    assert cam is None or set(cam) >= {"eye", "up", "center"}


# ------------------------------------------------------------------------------------ budget
#: Every control at the top of its range: the most a URL can ask for.
LARGEST = {
    "n": "512",
    "d": "256",
    "n_heads": "8",
    "T": "400",
    "dt": "0.005",
    "integrator": "rk4",
    "qk": "gaussian",
    "v_eigs": ",".join(["1.5"] * 256),
}


def test_the_largest_url_request_is_refused_by_the_budget_before_it_runs(monkeypatch) -> None:
    from dynamics import solve

    biggest = Scenario.from_query({**LARGEST, "value": "spectrum", "frames": "101"})
    with pytest.raises(BudgetError):
        check(biggest, APP_LIMITS)
    ran: list[int] = []
    real = solve.simulate

    def spy(scenario, *a, **k):
        ran.append(scenario.n)
        return real(scenario, *a, **k)

    monkeypatch.setattr("ui.session.simulate", spy)
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in LARGEST.items():
        at.query_params[k] = v
    t0 = time.perf_counter()
    at.run()
    assert time.perf_counter() - t0 < 20
    assert not at.exception
    # Refused before anything runs (ui.budget), the lesson's picture kept on screen.
    refusals = [e.value for e in (*at.error, *at.warning) if e.value.startswith("Not run")]
    assert refusals, [e.value for e in (*at.error, *at.warning)]
    assert biggest.n not in ran  # the refused scenario never reached the solver


# ------------------------------------------------------------------------------------ numerical abuse
NAN_WORD = re.compile(r"\b(nan|inf|-inf)\b", re.IGNORECASE)


def _static_traces(at: AppTest) -> dict[str, np.ndarray]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_app import traces

    return {name: np.stack([xyz[a].astype(float) for a in "xyz"], axis=1) for name, xyz in traces(at).items()}


def assert_no_nan_on_screen(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    # The verdict, the theorem card, captions and headers must never say nan/inf (refusals in
    # st.error / st.warning may quote the input: "beta=nan", "a non-finite value (NaN or inf)").
    texts = [e.value for kind in (at.success, at.info, at.caption, at.markdown) for e in kind]
    texts += [e.value for e in at.warning if e.value.startswith("**")]  # the "spread" verdict
    bad = [t for t in texts if NAN_WORD.search(t)]
    assert not bad, bad
    if not [c for c in at.get("plotly_chart") if c.proto.id.endswith("-static_3d")]:
        assert at.error, "no static figure, yet no refusal on the page"
        return  # refused: no figure
    tr = _static_traces(at)
    assert np.all(np.isfinite(tr["tokens"])), "NaN in token markers"
    if "trails" in tr:
        rows = tr["trails"]
        nan_rows = np.isnan(rows).any(axis=1)
        assert np.array_equal(nan_rows, np.isnan(rows).all(axis=1)), "partial NaN in a trail point"
        idx = np.flatnonzero(nan_rows)
        assert not np.any(np.diff(idx) == 1), "consecutive NaN rows: not separators"
    players = at.get("bidi_component")
    for p in players:
        payload = json.loads(p.proto.json)
        assert payload.get("error") is None or "finite" in payload["error"]


def _app(query: dict[str, str] | None = None, upload: tuple[str, bytes] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.session_state["static_view"] = True  # the static 3D figure is built only on request
    at.run()
    if upload is not None:
        at.file_uploader(key="_upload_x0").set_value((upload[0], upload[1], "text/csv")).run()
    return at


@pytest.mark.parametrize(
    ("query", "upload", "expect"),
    [
        ({"beta": "10000"}, None, "beta=10000"),  # beyond the slider: refused, named
        ({"beta": "20", "lesson": "metastable", "n": "64"}, None, None),  # the largest β the UI runs
        ({"beta": "nan", "T": "inf", "seed": "1e400"}, None, "beta=nan"),
        ({"d": "2"}, None, None),
        ({}, ("anti.csv", b"1,0,0\n-1,1e-9,0\n0,0,1\n0,0,-1\n"), None),  # nearly antipodal
        ({}, ("one.csv", b"0.3,0.1,0.9\n"), None),  # n = 1
        ({}, ("nan.csv", b"1,0,0\nnan,0,1\n"), "non-finite"),
        ({}, ("zero.csv", b"1,0,0\n0,0,0\n"), "is zero"),
        ({"lesson": "ellipsoid-gradient"}, None, None),
    ],
    ids=[
        "beta-1e4",
        "beta-20",
        "non-finite-url",
        "d2",
        "antipodal",
        "n1",
        "upload-nan",
        "upload-zero",
        "ellipsoid",
    ],
)
def test_numerical_abuse_runs_or_is_refused_and_never_shows_nan(query, upload, expect) -> None:
    at = _app(query, upload)
    assert_no_nan_on_screen(at)
    messages = " ".join(as_read(e.value) for e in [*at.error, *at.warning])
    if expect:
        assert expect in messages, messages
    assert at.success or at.info or at.warning or at.error  # a verdict or a reason


@pytest.mark.parametrize("beta", [1e3, 1e4])
def test_huge_beta_in_the_engine_runs_or_fails_with_a_message(beta: float) -> None:
    s = Scenario(n=16, d=3, beta=beta, T=5.0, dt=0.05, seed=2)
    try:
        disp = build_display(s)
    except ScenarioError as exc:
        assert str(exc)
        return
    assert np.all(np.isfinite(disp.x3)) and not NAN_WORD.search(disp.verdict)
    for name, series in disp.metrics.items():
        assert np.all(np.isfinite(series)), name


@pytest.mark.parametrize(
    ("P", "needle"),
    [
        ([[1, 0, 0], [0, 0, 0], [0, 0, 1]], "positive definite"),
        ([[1, 0, 0], [0, 1e-12, 0], [0, 0, 1]], "ill-conditioned"),
        ([[1, 2, 0], [0, 1, 0], [0, 0, 1]], "symmetric"),
        ([[1, 0, 0], [0, float("nan"), 0], [0, 0, 1]], "finite"),
    ],
    ids=["singular", "ill-conditioned", "not-symmetric", "nan"],
)
def test_singular_or_ill_conditioned_P_is_refused_with_a_reason(P, needle) -> None:
    with pytest.raises(ScenarioError, match=re.escape(needle)):
        Scenario(space="ellipsoid", P=P)
    with pytest.raises(ScenarioError):
        Scenario.from_json(json.dumps({"space": "ellipsoid", "P": P}).replace("NaN", '"nan"'))


def test_a_mildly_ill_conditioned_P_runs_finite() -> None:
    disp = build_display(Scenario(space="ellipsoid", P=np.diag([1.0, 1e3, 1.0]).tolist(), n=12, T=3.0))
    assert np.all(np.isfinite(disp.x3)) and not NAN_WORD.search(disp.verdict)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(controls.URL_PARAMS)), url_text, min_size=1, max_size=4))
def test_random_links_through_the_app_never_show_a_traceback(params) -> None:
    assert_no_nan_on_screen(_app(params))

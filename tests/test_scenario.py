"""The Scenario: validation, serialisation round trips and the digest.

Contract under test (dynamics/scenario.py docstring): a Scenario is a frozen, validated value; it
round-trips losslessly through to_dict/from_dict, to_json/from_json and to_query/from_query; every
invalid input — from Python, JSON or a URL — raises ScenarioError (never another exception type)
with a one-line message that names the offending key.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dynamics import Scenario, ScenarioError
from dynamics.scenario import (
    ADAPTIVE_METHODS,
    ATTENTION_KINDS,
    DTYPES,
    INIT_KINDS,
    INTEGRATORS,
    MASKS,
    QK_KINDS,
    VALUE_KINDS,
)

FIELD_NAMES = [f.name for f in fields(Scenario)]

# ------------------------------------------------------------------ valid scenarios


def finite(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


def matrices(d: int, lo: float = -5.0, hi: float = 5.0) -> st.SearchStrategy[list[list[float]]]:
    return st.lists(st.lists(finite(lo, hi), min_size=d, max_size=d), min_size=d, max_size=d)


def matrix_specs(d: int) -> st.SearchStrategy:
    constant = matrices(d)
    varying = st.fixed_dictionaries(
        {"const": matrices(d), "sin": matrices(d), "omega": finite(-50, 50), "phase": finite(-7, 7)}
    )
    return st.one_of(constant, varying)


@st.composite
def spd_matrices(draw, d: int) -> list[list[float]]:
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    eig = draw(st.lists(finite(0.1, 10.0), min_size=d, max_size=d))
    m = (q * np.array(eig)) @ q.T
    return ((m + m.T) / 2).tolist()  # exactly symmetric


@st.composite
def scenarios(draw) -> dict:
    """Keyword dicts of valid scenarios, covering every key and its dependencies."""
    d = draw(st.integers(2, 5))
    out: dict = {"d": d}
    if draw(st.booleans()):
        n = draw(st.integers(1, 6))
        rows = draw(st.lists(st.lists(finite(-3, 3), min_size=d, max_size=d), min_size=n, max_size=n))
        assume(all(any(v != 0 for v in row) for row in rows))
        out["x0"] = rows
    else:
        init = draw(st.sampled_from(INIT_KINDS))
        n = draw(st.integers(1, 40))
        if init == "antipodal":
            n += n % 2
        out.update(n=n, init=init)
    out["seed"] = draw(st.integers(0, 2**32 - 1))
    if draw(st.booleans()):
        pole = draw(st.lists(finite(-2, 2), min_size=d, max_size=d))
        assume(any(v != 0 for v in pole))
        out["pole"] = pole
    out["margin"] = draw(finite(0, 0.999))
    out["cap_angle"] = draw(finite(1e-3, math.pi))
    if draw(st.booleans()):
        heads = draw(
            st.lists(
                st.fixed_dictionaries({}, optional={m: matrix_specs(d) for m in ("Q", "K", "V")}),
                min_size=1,
                max_size=3,
            )
        )
        out["heads"] = heads
    else:
        out["n_heads"] = draw(st.integers(1, 4))
        value = draw(st.sampled_from(VALUE_KINDS))
        out["value"] = value
        if value == "spectrum" or draw(st.booleans()):
            out["v_eigs"] = draw(st.lists(finite(-3, 3), min_size=d, max_size=d))
        out["v_basis"] = draw(st.sampled_from(["identity", "random"]))
        out["v_symmetric"] = draw(st.booleans())
        qk = draw(st.sampled_from(QK_KINDS))
        out["qk"] = qk
        if qk == "spd" or draw(st.booleans()):
            out["qk_eigs"] = draw(st.lists(finite(0.01, 5), min_size=d, max_size=d))
        out["qk_amp"] = draw(finite(0, 3))
        out["qk_omega"] = draw(finite(-10, 10))
    out["attention"] = draw(st.sampled_from(ATTENTION_KINDS))
    out["beta"] = draw(finite(0, 1e4))
    # causal Sinkhorn is refused (a lower-triangular doubly stochastic matrix is the identity)
    out["mask"] = "none" if out["attention"] == "sinkhorn" else draw(st.sampled_from(MASKS))
    if draw(st.booleans()):
        out.update(space="ellipsoid", P=draw(spd_matrices(d)))
    out["T"] = draw(st.just(0.0) | finite(1e-9, 1e3))
    out["integrator"] = draw(st.sampled_from(INTEGRATORS))
    out["dt"] = draw(finite(1e-6, 10))
    out["method"] = draw(st.sampled_from(ADAPTIVE_METHODS))
    out["rtol"] = draw(finite(1e-13, 1e-1))
    out["atol"] = draw(finite(1e-15, 1e-1))
    out["frames"] = draw(st.integers(2, 1000))
    out["dtype"] = draw(st.sampled_from(DTYPES))
    if out["integrator"] == "adaptive" and out["dtype"] == "float32":
        out["rtol"] = max(out["rtol"], 1e-6)  # float32 cannot resolve tighter (refused, see below)
    # drop some keys: defaults must fill them in
    keep = draw(st.sets(st.sampled_from(sorted(out))))
    essential = {"d", "x0", "heads", "space", "P", "init", "n", "value", "v_eigs", "qk", "qk_eigs"}
    return {k: v for k, v in out.items() if k in keep or k in essential}


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_round_trip_through_dict(kwargs):
    s = Scenario.from_dict(kwargs)
    assert Scenario.from_dict(s.to_dict()) == s
    assert Scenario.from_dict(s.to_dict(minimal=True)) == s
    assert hash(Scenario.from_dict(s.to_dict())) == hash(s)
    # everything in to_dict is plain JSON
    json.dumps(s.to_dict(), allow_nan=False)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_round_trip_through_json(kwargs):
    s = Scenario.from_dict(kwargs)
    text = s.to_json()
    assert Scenario.from_json(text) == s
    assert Scenario.from_json(s.to_json(indent=2)) == s
    assert Scenario.from_json(text).to_json() == text  # canonical: a fixed point


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_round_trip_through_query(kwargs):
    s = Scenario.from_dict(kwargs)
    query = s.to_query()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in query.items())
    assert Scenario.from_query(query) == s
    # the app's other parameters are ignored; lists of values (as from parse_qs) use the last one
    assert Scenario.from_query({**query, "lesson": "consensus", "tab": "3"}) == s
    assert Scenario.from_query({k: ["junk", v] for k, v in query.items()}) == s


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_digest_is_equal_for_equal_scenarios(kwargs):
    s = Scenario.from_dict(kwargs)
    same = Scenario.from_json(s.to_json())
    assert same.digest() == s.digest()
    assert len(s.digest()) == 12 and all(c in "0123456789abcdef" for c in s.digest())
    if s.beta != 0.5:
        assert s.replace(beta=0.5).digest() != s.digest()


def test_digest_ignores_how_defaults_were_spelled():
    assert Scenario().digest() == Scenario(n=32, d=3, beta=1.0, integrator="rk4").digest()
    assert Scenario.from_dict({"n": "32", "beta": "1"}).digest() == Scenario().digest()
    assert Scenario(n=31).digest() != Scenario().digest()


def test_digest_is_stable_across_processes():
    """No dependence on Python's per-process hash randomisation or on the dict order."""
    s = Scenario(n=7, d=4, beta=2.5, mask="causal", heads=[{"V": np.diag([1.0, 2, 3, 4]).tolist()}])
    code = (
        "from dynamics import Scenario; import numpy as np;"
        "print(Scenario(n=7, d=4, beta=2.5, mask='causal',"
        " heads=[{'V': np.diag([1.0, 2, 3, 4]).tolist()}]).digest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert digests == {s.digest()}


def test_scenarios_are_frozen_and_hashable():
    s = Scenario()
    with pytest.raises(AttributeError):
        s.n = 3  # type: ignore[misc]
    assert {s: 1}[Scenario()] == 1


def test_explicit_tokens_define_n_and_d():
    s = Scenario(x0=[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 3, 4]])
    assert (s.n, s.d) == (3, 4)


def test_minimal_dict_holds_only_changes():
    assert Scenario().to_dict(minimal=True) == {}
    assert Scenario(beta=2.0).to_dict(minimal=True) == {"beta": 2.0}
    assert Scenario().to_query() == {}


# ------------------------------------------------------------------ invalid inputs


def refuse(data, *names: str, query: bool = False):
    """Assert a ScenarioError whose one-line message names one of ``names``."""
    with pytest.raises(ScenarioError) as info:
        Scenario.from_query(data, ignore_unknown=False) if query else Scenario.from_dict(data)
    message = str(info.value)
    assert "\n" not in message
    assert any(name in message for name in names), (message, names)
    return message


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"n": 0}, ("n",)),
        ({"n": -3}, ("n",)),
        ({"n": 2.5}, ("n",)),
        ({"n": True}, ("n",)),
        ({"n": None}, ("n",)),
        ({"n": "many"}, ("n",)),
        ({"n": 10**400}, ("n",)),
        ({"n": float("nan")}, ("n",)),
        ({"n": float("inf")}, ("n",)),
        ({"d": 1}, ("d",)),
        ({"d": 10**6}, ("d",)),
        ({"seed": -1}, ("seed",)),
        ({"seed": 2**40}, ("seed",)),
        ({"beta": -1.0}, ("beta",)),
        ({"beta": 1e300}, ("beta",)),
        ({"beta": 10**400}, ("beta",)),
        ({"beta": float("nan")}, ("beta",)),
        ({"beta": [1.0]}, ("beta",)),
        ({"beta": {"x": 1}}, ("beta",)),
        ({"T": -1.0}, ("T",)),
        ({"T": "1e400"}, ("T",)),
        ({"T": 5e-324}, ("T",)),
        ({"T": 1e-12}, ("T",)),
        ({"dt": 0.0}, ("dt",)),
        ({"rtol": 0.0}, ("rtol",)),
        ({"integrator": "adaptive", "dtype": "float32", "rtol": 1e-8}, ("rtol",)),
        ({"atol": 1.0}, ("atol",)),
        ({"frames": 1}, ("frames",)),
        ({"frames": 10**9}, ("frames",)),
        ({"init": "everywhere"}, ("init",)),
        ({"init": ["uniform"]}, ("init",)),
        ({"init": "antipodal", "n": 5}, ("init", "antipodal")),
        ({"mask": "triangular"}, ("mask",)),
        ({"attention": "linear"}, ("attention",)),
        ({"integrator": "rk45"}, ("integrator",)),
        ({"method": "LSODA"}, ("method",)),
        ({"dtype": "float16"}, ("dtype",)),
        ({"space": "torus"}, ("space",)),
        ({"space": "ellipsoid"}, ("P",)),
        ({"P": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}, ("P",)),
        ({"space": "ellipsoid", "P": [[1, 0, 0], [0, 1, 0], [0, 0, -1]]}, ("P",)),
        ({"space": "ellipsoid", "P": [[1, 0, 0], [0, 0, 0], [0, 0, 1]]}, ("P",)),
        ({"space": "ellipsoid", "P": [[1, 2, 0], [0, 1, 0], [0, 0, 1]]}, ("P",)),
        ({"space": "ellipsoid", "P": [[1, 0], [0, 1]]}, ("P",)),
        ({"space": "ellipsoid", "P": [[1e-9, 0, 0], [0, 1, 0], [0, 0, 1]]}, ("P",)),
        ({"space": "ellipsoid", "P": "I"}, ("P",)),
        ({"x0": [[1, 2], [3]]}, ("x0",)),
        ({"x0": [1, 2, 3]}, ("x0",)),
        ({"x0": [[[1, 2]]]}, ("x0",)),
        ({"x0": []}, ("x0",)),
        ({"x0": [[1.0, float("nan")]]}, ("x0",)),
        ({"x0": [[1.0, float("inf")]]}, ("x0",)),
        ({"x0": [[1.0, 1e300]]}, ("x0",)),
        ({"x0": [[1.0, 10**400]]}, ("x0",)),
        ({"x0": [["a", "b"]]}, ("x0",)),
        ({"x0": [[1j, 1]]}, ("x0",)),
        ({"x0": {"a": 1}}, ("x0",)),
        ({"x0": [[1.0], [2.0]]}, ("d", "x0")),
        ({"pole": [0, 0, 0]}, ("pole",)),
        ({"pole": [1, 0]}, ("pole",)),
        ({"pole": [1, 0, 10**400]}, ("pole",)),
        ({"pole": "north"}, ("pole",)),
        ({"margin": 1.0}, ("margin",)),
        ({"cap_angle": 4.0}, ("cap_angle",)),
        ({"value": "spectrum"}, ("v_eigs",)),
        ({"value": "random"}, ("value",)),
        ({"v_eigs": [1, 2]}, ("v_eigs",)),
        ({"v_eigs": [[1, 2, 3]]}, ("v_eigs",)),
        ({"v_symmetric": "maybe"}, ("v_symmetric",)),
        ({"v_symmetric": 2}, ("v_symmetric",)),
        ({"v_basis": "weird"}, ("v_basis",)),
        ({"qk": "spd"}, ("qk_eigs",)),
        ({"qk_eigs": [1, 0, 2]}, ("qk_eigs",)),
        ({"qk_eigs": [1, -1, 2]}, ("qk_eigs",)),
        ({"qk_amp": -1}, ("qk_amp",)),
        ({"qk_omega": float("inf")}, ("qk_omega",)),
        ({"n_heads": 0}, ("n_heads",)),
        ({"heads": []}, ("heads",)),
        ({"heads": {"Q": [[1]]}}, ("heads",)),
        ({"heads": 3}, ("heads",)),
        ({"heads": "abc"}, ("heads",)),
        ({"heads": [None]}, ("heads[0]",)),
        ({"heads": [{"W": [[1, 0, 0]] * 3}]}, ("heads[0]",)),
        ({"heads": [{"Q": [[1, 0], [0, 1]]}]}, ("heads[0].Q",)),
        ({"heads": [{}, {"V": {"sin": [[0] * 3] * 3}}]}, ("heads[1].V",)),
        ({"heads": [{"K": {"const": [[0] * 3] * 3, "omega": "fast"}}]}, ("heads[0].K.omega",)),
        ({"heads": [{"K": {"const": [[0] * 3] * 3, "omega": 10**400}}]}, ("heads[0].K.omega",)),
        ({"heads": [{"K": {"const": [[0] * 3] * 3, "sin": [[1]]}}]}, ("heads[0].K.sin",)),
        ({"heads": [{"K": {"const": [[0] * 3] * 3, "speed": 1}}]}, ("heads[0].K",)),
        ({"heads": [{"V": [[float("nan")] * 3] * 3}]}, ("heads[0].V",)),
        ({"betta": 1.0}, ("betta",)),
        ({"n": 3, "colour": "red", "size": 3}, ("colour", "size")),
        ({1: 2, "a": 3}, ("1", "a")),
    ],
)
def test_invalid_values_are_refused_with_the_key_named(data, names):
    refuse(data, *names)


@pytest.mark.parametrize("data", [None, [], "n=3", 3, [("n", 3)]])
def test_non_mapping_is_refused(data):
    with pytest.raises(ScenarioError, match="scenario"):
        Scenario.from_dict(data)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{",
        "[]",
        "null",
        '"abc"',
        '{"n": 1e400}',
        '{"beta": NaN}',
        '{"beta": Infinity}',
        '{"n": ' + "1" * 5000 + "}",  # beyond Python's int-conversion digit limit
        "[" * 100_000 + "]" * 100_000,  # deeper than the JSON parser's recursion limit
        '{"x0": [[' + "1" * 400 + ", 1]]}",
        "\x00\x01",
    ],
)
def test_invalid_json_is_refused(text):
    with pytest.raises(ScenarioError) as info:
        Scenario.from_json(text)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"n": "abc"}, "n"),
        ({"n": "1" * 400}, "n"),
        ({"beta": ""}, "beta"),
        ({"beta": "nan"}, "beta"),
        ({"pole": "1,2,x"}, "pole"),
        ({"pole": ""}, "pole"),
        ({"x0": "[[1, 2]"}, "x0"),
        ({"x0": "[[1e400, 1]]"}, "x0"),
        ({"x0": "[[" + "1" * 400 + ", 1]]"}, "x0"),
        ({"heads": "[" * 100_000}, "heads"),
        ({"heads": '[{"Q": 1}]'}, "heads[0].Q"),
        ({"v_symmetric": "perhaps"}, "v_symmetric"),
        ({"mask": "CAUSAL"}, "mask"),
        ({"x0": "x" * 300_000}, "x0"),
        ({"lesson": "consensus"}, "lesson"),
    ],
)
def test_invalid_query_parameters_are_refused(params, name):
    refuse(params, name, query=True)


# Junk that a fuzzer (or a hostile URL / JSON file) may put in any key.
junk = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**500), 10**500),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=20),
        st.sampled_from(["nan", "inf", "-inf", "1e999", "true", "", "[]", "{}", "3", "-0"]),
        st.complex_numbers(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=5), children, max_size=3),
        st.tuples(children, children),
    ),
    max_leaves=12,
)

# Cross-key rules: a bad value for ``key`` may be reported under the key it conflicts with.
RELATED = {
    "space": {"P"},
    "value": {"v_eigs"},
    "qk": {"qk_eigs"},
    "x0": {"d", "n"},
    "init": {"n"},
    "n": {"init"},
}


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(FIELD_NAMES), value=junk, base=st.sampled_from([{}, {"d": 2}, {"n": 4, "d": 3}]))
def test_fuzz_from_dict_only_raises_scenario_error(key, value, base):
    data = {**base, key: value}
    try:
        Scenario.from_dict(data)
    except ScenarioError as exc:
        message = str(exc)
        assert "\n" not in message
        assert any(k in message for k in {key} | RELATED.get(key, set())), (key, message)
    # any other exception type fails the test


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    params=st.dictionaries(
        st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=6)),
        st.one_of(
            st.text(max_size=40),
            st.sampled_from(["nan", "inf", "1e999", "[[1,2],[3,4]]", "[[1,0,0]]", "[{}]", "null", "1,2,3"]),
            junk.map(lambda v: json.dumps(v, default=str)),
        ),
        max_size=4,
    )
)
def test_fuzz_from_query_only_raises_scenario_error(params):
    try:
        Scenario.from_query(params)
    except ScenarioError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200) | junk.map(lambda v: json.dumps({"heads": v}, default=str)))
def test_fuzz_from_json_only_raises_scenario_error(text):
    try:
        Scenario.from_json(text)
    except ScenarioError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.sampled_from(FIELD_NAMES), junk)
def test_replace_with_junk_only_raises_scenario_error(kwargs, key, value):
    s = Scenario.from_dict(kwargs)
    try:
        s.replace(**{key: value})
    except ScenarioError:
        pass


@pytest.mark.parametrize(
    "text",
    [
        '{"n": 8, "n": 1000000}',
        '{"n": 8, "heads": [{"Q": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "Q": [[2, 0, 0], [0, 2, 0], '
        "[0, 0, 2]]}]}",
        '{"T": 1, "P": {"const": 1, "const": 2}}',
    ],
)
def test_duplicate_keys_are_refused_not_last_wins(text):
    """A key given twice in one JSON object is refused, at any depth (issue 13 §2)."""
    with pytest.raises(ScenarioError, match="given twice") as info:
        Scenario.from_json(text)
    assert "\n" not in str(info.value)


def test_duplicate_keys_in_query_matrices_are_refused():
    heads = '[{"Q":[[1,0],[0,1]],"Q":[[2,0],[0,2]]}]'
    with pytest.raises(ScenarioError, match="heads"):
        Scenario.from_query({"d": "2", "heads": heads})


def test_attention_kinds_and_their_parameters_come_from_the_registry():
    """The scenario's list of kinds, the parameters it validates and their bounds and defaults are
    the registry's (dynamics.attention.KINDS)."""
    from dynamics import attention

    assert ATTENTION_KINDS == tuple(attention.KINDS) == attention.kinds_for("sphere")
    defaults = Scenario()
    for p in attention.all_params():
        assert getattr(defaults, p.name) == p.default
        with pytest.raises(ScenarioError, match=f"^{p.name}:"):
            Scenario(**{p.name: p.hi * 2 if p.hi > 0 else p.hi - 1})
    for name, kind in attention.KINDS.items():
        if not kind.supports_causal:
            with pytest.raises(ScenarioError, match=r"^mask"):
                Scenario(attention=name, mask="causal")
        else:
            assert Scenario(attention=name, mask="causal").causal

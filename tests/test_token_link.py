"""Hand-placed tokens in a link (ui/token_link.py): compact, exact round trip of the rounded
directions, a clear limit, and one-line messages for anything else."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ui.token_link import MAX_TOKENS, TokenLinkError, decode, encode, parse

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


@given(arrays(np.float64, st.tuples(st.integers(2, 40), st.sampled_from([2, 3])), elements=finite))
def test_round_trip_keeps_directions_within_the_angular_resolution(x: np.ndarray) -> None:
    if np.any(np.all(x == 0, axis=1)):
        with pytest.raises(TokenLinkError, match="zero vector"):
            encode(x)
        return
    code = encode(x)
    d = x.shape[1]
    assert code[0] == str(d) and len(code) == 1 + x.shape[0] * (2 if d == 2 else 4)
    back = decode(code)
    v = x / np.max(np.abs(x), axis=1, keepdims=True)  # (subnormal rows: scale before the norm)
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    angle = np.arccos(np.clip(np.sum(back * u, axis=1), -1, 1))
    assert angle.max() <= 2 * math.pi / 4096 + 1e-9  # at most one step of the 12-bit grid
    assert encode(back) == code  # decoding then encoding is exact: the session uses the link's tokens


def test_limits_and_messages() -> None:
    assert decode(encode(np.eye(3)[:2])).shape == (2, 3)
    with pytest.raises(TokenLinkError, match="between 2 and 128"):
        encode(np.ones((MAX_TOKENS + 1, 3)))
    with pytest.raises(TokenLinkError, match="too long"):
        decode("3" + "AAAA" * (MAX_TOKENS + 1))
    with pytest.raises(TokenLinkError, match="dimension 2 or 3"):
        decode("4AAAA")
    with pytest.raises(TokenLinkError, match="base64url"):
        decode("3AA=A")
    with pytest.raises(TokenLinkError, match="whole number of tokens"):
        decode("3AAAAA")
    with pytest.raises(TokenLinkError, match="between 2 and 128"):
        decode("3AAAA")
    assert parse(None) == (None, None) and parse("") == (None, None)
    x, problem = parse("3AB!")
    assert (
        x is None and problem.startswith("`tokens=3AB!`") and "base64url" in problem
    )  # value in a code span

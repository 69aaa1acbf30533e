"""Tokens placed by hand, in a link: ``tokens=<d><base64url>``.

The first character is the dimension (``2``: on the circle, ``3``: on the sphere or an ellipsoid);
then each token is its direction as rounded angles, 12 bits each, in base64url (RFC 4648 §5):

* d = 3: polar angle θ ∈ [0, π] from +z and azimuth φ ∈ [−π, π) → 24 bits → 4 characters;
* d = 2: azimuth φ → 12 bits → 2 characters.

Resolution: π/4095 ≈ 0.0008 rad in θ, 2π/4096 ≈ 0.0015 rad in φ; at most :data:`MAX_TOKENS`
tokens (a 513-character parameter). Only directions are stored: the engine puts each token back on
the lesson's surface (unit sphere, circle or ellipsoid). The session uses exactly the decoded
tokens, so the link reproduces the view it was copied from. :func:`decode` validates its input and
raises :class:`TokenLinkError` with a one-line message.
"""

from __future__ import annotations

import math
import re

import numpy as np

from ui.text import escaped, literal

TOKENS_PARAM = "tokens"
MAX_TOKENS = 128
MIN_TOKENS = 2
BITS = 12
LEVELS = 1 << BITS
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_CHARS = {2: 2, 3: 4}  # characters per token
_VALID = re.compile(r"^[23][A-Za-z0-9_-]*$")


class TokenLinkError(ValueError):
    """A ``tokens=`` value that cannot be used (message says why, in one line)."""


def encode(x: np.ndarray) -> str:
    """(n, 2) or (n, 3) token positions (any non-zero rows) → the link text."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] not in _CHARS:
        raise TokenLinkError(f"tokens must be n × 2 or n × 3 coordinates, got shape {arr.shape}")
    n, d = arr.shape
    if not MIN_TOKENS <= n <= MAX_TOKENS:
        raise TokenLinkError(f"between {MIN_TOKENS} and {MAX_TOKENS} tokens can be placed by hand, got {n}")
    if not np.all(np.isfinite(arr)):
        raise TokenLinkError("token coordinates must be finite numbers")
    scale = np.max(np.abs(arr), axis=1)
    if np.any(scale == 0):
        raise TokenLinkError(f"token {int(np.argmin(scale)) + 1} is the zero vector and has no direction")
    v = arr / scale[:, None]  # first to max |·| = 1: tiny or huge rows keep an exact direction
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    phi = np.mod(np.round((np.arctan2(u[:, 1], u[:, 0]) + math.pi) / (2 * math.pi) * LEVELS), LEVELS)
    phi = phi.astype(np.int64)
    chars = [str(d)]
    if d == 2:
        for p in phi:
            chars.append(_ALPHABET[p >> 6] + _ALPHABET[p & 63])
    else:
        theta = np.round(np.arccos(np.clip(u[:, 2], -1.0, 1.0)) / math.pi * (LEVELS - 1)).astype(np.int64)
        # At a pole the azimuth means nothing: one canonical value, so that encode(decode(c)) == c.
        phi = np.where((theta == 0) | (theta == LEVELS - 1), LEVELS // 2, phi)
        for th, p in zip(theta, phi, strict=True):
            word = (int(th) << BITS) | int(p)
            chars.append("".join(_ALPHABET[(word >> s) & 63] for s in (18, 12, 6, 0)))
    return "".join(chars)


def decode(text: str) -> np.ndarray:
    """The link text → (n, d) unit vectors. Raises :class:`TokenLinkError`."""
    raw = str(text).strip()
    limit = 1 + MAX_TOKENS * max(_CHARS.values())
    if not raw:
        raise TokenLinkError("no tokens given")
    if len(raw) > limit:
        raise TokenLinkError(
            f"too long ({len(raw)} characters; at most {MAX_TOKENS} tokens, {limit} characters)"
        )
    if not _VALID.match(raw):
        if raw[0] not in "23":
            raise TokenLinkError(f"must start with the dimension 2 or 3, not {raw[0]!r}")
        bad = next(c for c in raw[1:] if c not in _INDEX)
        raise TokenLinkError(f"{bad!r} is not a base64url character")
    d, body = int(raw[0]), raw[1:]
    width = _CHARS[d]
    if len(body) % width:
        raise TokenLinkError(
            f"{len(body)} characters is not a whole number of tokens ({width} per token in d = {d})"
        )
    n = len(body) // width
    if not MIN_TOKENS <= n <= MAX_TOKENS:
        raise TokenLinkError(f"between {MIN_TOKENS} and {MAX_TOKENS} tokens are needed, got {n}")
    words = [
        sum(_INDEX[c] << (6 * (width - 1 - k)) for k, c in enumerate(body[i * width : (i + 1) * width]))
        for i in range(n)
    ]
    if d == 2:
        phi = np.array(words, dtype=np.float64) / LEVELS * 2 * math.pi - math.pi
        return np.stack([np.cos(phi), np.sin(phi)], axis=1)
    theta_i = np.array([w >> BITS for w in words], dtype=np.int64)
    if np.any(theta_i >= LEVELS):  # pragma: no cover - 24 bits cannot exceed it
        raise TokenLinkError("polar angle out of range")
    theta = theta_i / (LEVELS - 1) * math.pi
    phi = np.array([w & (LEVELS - 1) for w in words], dtype=np.float64) / LEVELS * 2 * math.pi - math.pi
    return np.stack([np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], axis=1)


def parse(value: object) -> tuple[np.ndarray | None, str | None]:
    """``tokens=`` from a URL → (tokens, None) or (None, "`tokens=…` (why)") — never raises. The
    problem is Markdown: the value in a code span, the reason escaped."""
    if isinstance(value, list | tuple):
        value = value[-1] if value else ""
    text = "" if value is None else str(value)
    if not text.strip():
        return None, None
    try:
        return decode(text), None
    except TokenLinkError as exc:
        return None, f"{literal(f'{TOKENS_PARAM}={text}', 40)} ({escaped(exc)})"


__all__ = ["MAX_TOKENS", "MIN_TOKENS", "TOKENS_PARAM", "TokenLinkError", "decode", "encode", "parse"]

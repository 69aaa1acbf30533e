"""Uploaded initial tokens (CSV or NPY) → a validated (n, d) array, or a one-line refusal.

Never unpickles (``np.load(..., allow_pickle=False)``), caps the file size, the shape and the
text length before parsing, and refuses non-finite values and zero rows (a token must have a
direction). Rows are normalised onto the unit sphere here.
"""

from __future__ import annotations

import io

import numpy as np

MAX_BYTES = 1_000_000
MAX_TOKENS = 512
MAX_DIM = 256
MIN_TOKENS = 1


class UploadError(ValueError):
    """A refused upload; the message is shown to the user as is."""


def _check(arr: np.ndarray) -> np.ndarray:
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise UploadError(f"expected numbers, got an array of {arr.dtype}")
    if np.iscomplexobj(arr):
        raise UploadError("expected real numbers, got complex values")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise UploadError(f"expected a table of n rows × d columns, got {arr.ndim} dimensions")
    n, d = arr.shape
    if n < MIN_TOKENS or n > MAX_TOKENS:
        raise UploadError(f"expected 1 to {MAX_TOKENS} tokens (rows), got {n}")
    if d < 2 or d > MAX_DIM:
        raise UploadError(f"expected 2 to {MAX_DIM} coordinates per token (columns), got {d}")
    with np.errstate(all="ignore"):
        out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        bad = int(np.argmax(~np.all(np.isfinite(out), axis=1)))
        raise UploadError(f"row {bad + 1} has a non-finite value (NaN or inf)")
    peak = np.abs(out).max(axis=1)
    if np.any(peak == 0):
        bad = int(np.argmax(peak == 0))
        raise UploadError(f"row {bad + 1} is zero: a token needs a direction")
    scaled = out / peak[:, None]  # no overflow/underflow whatever the magnitude
    return scaled / np.linalg.norm(scaled, axis=1, keepdims=True)  # onto the unit sphere


def parse_csv(text: str) -> np.ndarray:
    """Comma/semicolon/whitespace separated rows; '#' comments; one optional header row."""
    rows: list[list[float]] = []
    header_seen = False
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p for p in line.replace(";", ",").replace("\t", ",").replace(" ", ",").split(",") if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            if not rows and not header_seen:
                header_seen = True  # a header like "x,y,z"
                continue
            raise UploadError(f"line {lineno}: {line[:40]!r} is not a row of numbers") from None
        if rows and len(values) != len(rows[0]):
            raise UploadError(f"line {lineno}: {len(values)} numbers, the first row has {len(rows[0])}")
        if len(rows) >= MAX_TOKENS:
            raise UploadError(f"more than {MAX_TOKENS} tokens (rows)")
        if len(values) > MAX_DIM:
            raise UploadError(f"line {lineno}: more than {MAX_DIM} columns")
        rows.append(values)
    if not rows:
        raise UploadError("no rows of numbers found")
    return _check(np.asarray(rows, dtype=np.float64))


def parse_npy(data: bytes) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:  # object arrays (would need pickle), bad headers
        raise UploadError(f"not a usable .npy file ({str(exc)[:80]})") from None
    except Exception as exc:
        raise UploadError(f"not a .npy file ({type(exc).__name__})") from None
    if not isinstance(arr, np.ndarray):
        raise UploadError("expected a single array (.npy), not an archive (.npz)")
    if arr.size > MAX_TOKENS * MAX_DIM:
        raise UploadError(f"array too large: {arr.size} numbers (at most {MAX_TOKENS * MAX_DIM})")
    return _check(arr)


def parse_tokens(name: str, data: bytes) -> np.ndarray:
    """Dispatch on the file name; raises :class:`UploadError` with a clear message."""
    if len(data) > MAX_BYTES:
        raise UploadError(f"file too large: {len(data) / 1e6:.1f} MB (at most {MAX_BYTES / 1e6:g} MB)")
    if not data:
        raise UploadError("the file is empty")
    lower = str(name).lower()
    if lower.endswith(".npy") or data[:6] == b"\x93NUMPY":
        return parse_npy(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadError("not a UTF-8 text (CSV) file nor a .npy file") from None
    return parse_csv(text)


def describe(x0: np.ndarray) -> str:
    n, d = x0.shape
    return f"{n} uploaded token{'s' if n != 1 else ''} in d = {d}"

"""Deterministic synthetic score tracks for the simulated engine.

Each (file content, model, group, family) gets its own random generator, seeded from
a hash. A dimension's score is ``sigmoid(base + sum of three slow sinusoids of time +
a weight x a media feature + jitter)``: a few dimensions dominate (high base), values
stay in [0, 1], and scores at nearby times are close. Sentiment is a softmax (sums to
about 1). Every score is a float32 value, like Hume's.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = [
    "seed_of",
    "score_matrix",
    "follow_script",
    "as_entries",
    "f32",
    "f32_short",
    "f16_short",
]

#: Where a script is active, unscripted dimensions keep this share of their score.
BACKGROUND = 0.3
#: Standard deviation of the deterministic noise around a scripted level.
SCRIPT_NOISE = 0.03

# (base mean, base sd, boosted dims (lo, hi), boost (lo, hi))
_PROFILES = {
    "emotions": (-2.6, 0.7, (2, 5), (1.6, 3.0)),
    "facs": (-2.2, 0.9, (2, 6), (1.2, 2.6)),
    "descriptions": (-3.2, 0.8, (1, 4), (1.5, 3.0)),
    "toxicity": (-4.8, 0.9, (0, 1), (0.5, 1.5)),
}


def seed_of(*parts) -> int:
    """A 64-bit seed from the parts (bytes or str)."""
    h = hashlib.blake2b(digest_size=8)
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode("utf-8"))
        h.update(b"\x1f")
    return int.from_bytes(h.digest(), "little")


def score_matrix(
    seed: int,
    family: str,
    n: int,
    t: np.ndarray,
    *,
    feature: np.ndarray | None = None,
    jitter: np.ndarray | None = None,
) -> np.ndarray:
    """Scores of ``n`` dimensions at times ``t``.

    Parameters
    ----------
    seed : int
        From :func:`seed_of` (content hash, model, group, family).
    family : str
        ``emotions``, ``facs``, ``descriptions``, ``sentiment`` or ``toxicity``.
    n : int
        Number of dimensions.
    t : numpy.ndarray
        Times (seconds, or a stand-in index scale for text), shape ``(T,)``.
    feature : numpy.ndarray, optional
        A media feature per time point (standardised), shape ``(T,)``.
    jitter : numpy.ndarray, optional
        Per-point seeds (for text units), shape ``(T,)``; adds a content-dependent
        offset per point.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(T, n)``; values in [0, 1]; sentiment rows sum to about 1.
    """
    rng = np.random.default_rng(seed)
    t = np.asarray(t, dtype=np.float64)[:, None, None]
    freqs = rng.uniform(0.01, 0.12, (n, 3))
    phases = rng.uniform(0.0, 2 * np.pi, (n, 3))
    amps = rng.uniform(0.2, 0.6, (n, 3))
    wave = (amps * np.sin(2 * np.pi * freqs * t + phases)).sum(axis=2)  # (T, n)
    if feature is not None:
        weights = rng.normal(0.0, 0.4, n)
        wave = wave + np.asarray(feature, dtype=np.float64)[:, None] * weights
    if jitter is not None:
        offsets = np.stack(
            [np.random.default_rng(int(j)).normal(0.0, 0.35, n) for j in jitter]
        ).reshape(-1, n)
        wave = wave + offsets
    if family == "sentiment":
        centre = rng.uniform(3.0, 6.5)
        base = -0.5 * ((np.arange(n) - centre) / 1.6) ** 2
        logits = base + 0.6 * wave
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
    mean, sd, (klo, khi), (blo, bhi) = _PROFILES.get(family, _PROFILES["emotions"])
    base = rng.normal(mean, sd, n)
    k = int(rng.integers(klo, khi + 1))
    if k:
        dom = rng.choice(n, size=min(k, n), replace=False)
        base[dom] += rng.uniform(blo, bhi, len(dom))
    return (1.0 / (1.0 + np.exp(-(base + wave)))).astype(np.float32)


def follow_script(m: np.ndarray, levels: np.ndarray, seed: int) -> np.ndarray:
    """Scores that follow a script: scripted levels plus small deterministic noise.

    Parameters
    ----------
    m : numpy.ndarray
        The unscripted scores from :func:`score_matrix`, shape ``(T, n)``.
    levels : numpy.ndarray
        Scripted levels, shape ``(T, n)``, NaN where the script says nothing.
    seed : int
        From :func:`seed_of`; the noise is a function of it.

    Returns
    -------
    numpy.ndarray
        float32, shape ``(T, n)``. At points where the script sets any dimension,
        scripted dimensions are ``level + N(0, 0.03)`` clipped to [0, 1] and the
        others keep :data:`BACKGROUND` (30%) of their score, so what the script
        states stands out; points the script does not cover are ``m`` unchanged.
    """
    scripted = ~np.isnan(levels)
    if not scripted.any():
        return m
    active = scripted.any(axis=1)
    rng = np.random.default_rng(seed_of(seed, "script"))
    noise = rng.normal(0.0, SCRIPT_NOISE, m.shape)
    out = m.astype(np.float64)
    out[active] *= BACKGROUND
    out[scripted] = np.clip(levels[scripted] + noise[scripted], 0.0, 1.0)
    return out.astype(np.float32)


def as_entries(names, row) -> list[dict]:
    """``[{"name": ..., "score": ...}]`` from names and one float32 row."""
    return [{"name": n, "score": s} for n, s in zip(names, row.tolist(), strict=True)]


def f32(x: float) -> float:
    """``x`` rounded to the nearest float32 value (exact as a Python float)."""
    return float(np.float32(x))


def f32_short(x: float) -> float:
    """``x`` as float32, printed shortest (``4.8069997``), like Hume's times."""
    return float(str(np.float32(x)))


def f16_short(x: float) -> float:
    """``x`` quantised to float16 and printed as a float32 (``0.99365234``).

    Hume's transcript confidences are float16 values printed this way.
    """
    return float(str(np.float32(np.float16(x))))

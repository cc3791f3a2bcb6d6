"""Small statistics helpers of :mod:`humelab.analysis`: Student's t quantiles.

Written out here so that the core install needs no SciPy. For an integer number of
degrees of freedom ``nu``, the two-sided probability ``P(|T| < t)`` has a closed form
(a finite series in ``theta = arctan(t / sqrt(nu))``; Abramowitz and Stegun 26.7.3/4),
which is inverted by bisection on ``theta``. Above ``nu = 200`` the Cornish-Fisher
expansion around the normal quantile (A&S 26.7.5) is used; its error there is below
1e-9.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np

__all__ = ["t_quantile"]

_EXACT_UP_TO = 200


def _two_sided(theta: float, nu: int) -> float:
    """``P(|T| < sqrt(nu) * tan(theta))`` for ``nu`` degrees of freedom."""
    s, c = math.sin(theta), math.cos(theta)
    c2 = c * c
    if nu % 2:  # odd
        if nu == 1:
            return 2.0 * theta / math.pi
        term, total = 1.0, 1.0
        for k in range(1, (nu - 3) // 2 + 1):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2.0 / math.pi * (theta + s * c * total)
    term, total = 1.0, 1.0
    for k in range(1, (nu - 2) // 2 + 1):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return s * total


@lru_cache(maxsize=1024)
def _quantile_one(p: float, nu: int) -> float:
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -_quantile_one(1.0 - p, nu)
    target = 2.0 * p - 1.0
    if nu > _EXACT_UP_TO:
        z = NormalDist().inv_cdf(p)
        z2 = z * z
        return (
            z
            + z * (z2 + 1) / (4 * nu)
            + z * (5 * z2**2 + 16 * z2 + 3) / (96 * nu**2)
            + z * (3 * z2**3 + 19 * z2**2 + 17 * z2 - 15) / (384 * nu**3)
            + z
            * (79 * z2**4 + 776 * z2**3 + 1482 * z2**2 - 1920 * z2 - 945)
            / (92160 * nu**4)
        )
    lo, hi = 0.0, math.pi / 2
    for _ in range(64):
        mid = 0.5 * (lo + hi)
        if _two_sided(mid, nu) < target:
            lo = mid
        else:
            hi = mid
    return math.sqrt(nu) * math.tan(0.5 * (lo + hi))


def t_quantile(p: float, nu) -> np.ndarray:
    """Quantile ``p`` of Student's t with ``nu`` degrees of freedom.

    Parameters
    ----------
    p : float
        Probability in (0, 1).
    nu : int or array-like of int
        Degrees of freedom; values below 1 give NaN.

    Returns
    -------
    numpy.ndarray
        float64 quantiles, the shape of ``nu``.
    """
    nu = np.asarray(nu)
    out = np.full(nu.shape, np.nan)
    valid = nu >= 1
    for v in np.unique(nu[valid]):
        out[nu == v] = _quantile_one(float(p), int(v))
    return out

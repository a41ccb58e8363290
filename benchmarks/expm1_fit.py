"""Fit the float32 polynomial of jrelu's expm1 (``jrelu._core._COEFFS[32]``), reproducibly.

``expm1(r) = r + r^2 q(r)`` on the reduced range ``|r| <= R`` (``ln(2)/2`` plus the slack that rounding
``k`` and carrying ``dz`` into ``r`` add). ``q`` of degree ``m - 1`` is fitted to minimise the *relative*
error of the whole, ``(r + r^2 q(r)) / expm1(r) - 1``, in the minimax sense: Lawson's iteratively
re-weighted least squares on Chebyshev-spaced points, against references from mpmath (40 digits). The
coefficients are then rounded to float32 one at a time, from the constant term up, each time refitting
the ones still free (so the later ones absorb the earlier ones' rounding). Prints, per degree, the
relative error of the rounded polynomial in exact arithmetic, in units of 2^-24 (half an ulp of 1), and
the coefficients as float32 hex and decimal.

Needs numpy and mpmath (not a jrelu dependency: ``pip install mpmath`` in a scratch environment):

    python benchmarks/expm1_fit.py            # degrees 5..9; output kept in benchmarks/results/expm1_fit.txt
"""

from __future__ import annotations

import sys

import mpmath
import numpy as np

mpmath.mp.dps = 40
# |r| <= ln(2)/2 for an exactly rounded k; 1% slack for the rounding of x / ln 2 and for dz
# (jrelu._core.scaled_exp adds the rounding error of a computed z to r).
R = float(mpmath.log(2) / 2) * 1.01
N = 6000  # Chebyshev-spaced points (both signs, 0 excluded: the relative error is smooth there)


def _points() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.cos(np.pi * (np.arange(N) + 0.5) / N) * R
    em1 = np.array([float(mpmath.expm1(mpmath.mpf(float(v)))) for v in t])
    g = np.array(
        [
            float(
                (mpmath.expm1(mpmath.mpf(float(v))) - mpmath.mpf(float(v)))
                / mpmath.mpf(float(v)) ** 2
            )
            for v in t
        ]
    )
    return t, em1, g


def _fit(t, em1, g, m: int, fixed: list[float]) -> np.ndarray:
    """q's m coefficients (constant first), the first len(fixed) of them given, the rest minimax."""
    w = t * t / em1  # relative error of r + r^2 q is w * (q - g)
    V = np.vander(t / R, m, increasing=True)  # scaled for conditioning
    scale = R ** -np.arange(m)
    known = V[:, : len(fixed)] @ (np.asarray(fixed) / scale[: len(fixed)]) if fixed else 0.0
    A, b = w[:, None] * V[:, len(fixed) :], w * (g - known)
    u = np.ones_like(t) / len(t)
    for _ in range(300):  # Lawson: weights grow where the error is largest
        s = np.sqrt(u)
        c, *_ = np.linalg.lstsq(A * s[:, None], b * s, rcond=None)
        e = np.abs(A @ c - b)
        u = u * e
        u /= u.sum()
    return np.concatenate([np.asarray(fixed, np.float64), c * scale[len(fixed) :]])


def _rel_error(t, em1, coeffs) -> float:
    q = np.polynomial.polynomial.polyval(t, np.asarray(coeffs, np.float64))
    return float(np.max(np.abs((t + t * t * q) / em1 - 1)))


def main() -> None:
    t, em1, g = _points()
    degrees = [int(a) for a in sys.argv[1:]] or [5, 6, 7, 8, 9]
    print(f"reduced range |r| <= {R:.6f}; relative errors in units of 2^-24 (exact arithmetic)")
    for deg in degrees:
        m = deg - 1  # q's coefficients: p = r + r^2 q has degree m + 1
        real = _fit(t, em1, g, m, [])
        fixed: list[float] = []
        for _ in range(m):
            c = _fit(t, em1, g, m, fixed)
            fixed.append(float(np.float32(c[len(fixed)])))
        err, err_real = _rel_error(t, em1, fixed), _rel_error(t, em1, real)
        print(
            f"degree {deg}: minimax {err_real * 2**24:.4g}, float32 coefficients {err * 2**24:.4g}"
        )
        for c in fixed:
            print(f"    {np.float32(c).view(np.uint32):#010x}  {float(np.float32(c))!r}")
    taylor = [1 / float(mpmath.factorial(k)) for k in range(2, 10)]
    print(f"Taylor degree 9 (the former polynomial): {_rel_error(t, em1, taylor) * 2**24:.4g}")


if __name__ == "__main__":
    main()

"""Generate PyTorch golden reference data for jrelu's tests.

Regenerate (from the repository root) with a separate environment that has torch:

    python3 -m venv /work/torchvenv
    /work/torchvenv/bin/pip install torch==2.13.0 numpy ml_dtypes
    /work/torchvenv/bin/python tests/golden/make_golden.py

This writes ``tests/golden/torch_golden.npz`` and ``tests/golden/cases.json``
(see ``tests/golden/README.md`` for the layout).  The test suite only reads
those two files: it never imports torch.  All imports are done inside
``main()`` so that pytest's ``--doctest-modules`` can import this module
without torch installed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

HERE = Path(__file__).resolve().parent
NPZ_PATH = HERE / "torch_golden.npz"
CASES_PATH = HERE / "cases.json"

SEED = 0

# Special points shared by float32 and float64.
SPECIAL = [
    0.0,
    -0.0,
    6.0,
    -6.0,
    1.0,
    -1.0,
    math.inf,
    -math.inf,
    -100.0,
    100.0,
    math.nan,
    1e-45,
    -1e-45,
    1e-38,
    -1e-38,
    3.0e38,
    -3.0e38,
    5.9999995,
    6.0000005,
    1e-7,
    -1e-7,
    20.0,
    -20.0,
    88.0,
    89.0,
    -88.0,
]
# Extra extremes for float64 only.
SPECIAL_F64 = [
    1e300,
    -1e300,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    5e-324,
    -5e-324,
    1e-310,
    -1e-310,
    709.0,
    710.0,
    -709.0,
    -745.0,
    -746.0,
    math.nextafter(6.0, 0.0),
    math.nextafter(6.0, math.inf),
]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_LAMBDA = 1.0507009873554804934193349852946


def case_list():
    """Return the list of cases: dicts with case, fn, params, torch."""
    cases = [
        {"case": "relu", "fn": "relu", "params": {}, "torch": "F.relu(x)"},
        {"case": "relu6", "fn": "relu6", "params": {}, "torch": "F.relu6(x)"},
    ]
    for a in (0.01, -0.2, 0.0, 1.5):
        cases.append(
            {
                "case": f"leaky_relu__negative_slope={a!r}",
                "fn": "leaky_relu",
                "params": {"negative_slope": a},
                "torch": f"F.leaky_relu(x, negative_slope={a!r})",
            }
        )
    cases.append(
        {
            "case": "prelu_scalar",
            "fn": "prelu",
            "params": {"negative_slope": 0.25},
            "torch": "F.prelu(x, weight) with weight = tensor([0.25]) (shape (1,)), x 1-D",
        }
    )
    cases.append(
        {
            "case": "prelu_channels",
            "fn": "prelu",
            "params": {"negative_slope": [0.25, -0.1, 0.0, 1.3]},
            "torch": "F.prelu(x, weight) with weight shape (4,), x shape (N, 4) (channel axis 1 = last)",
        }
    )
    for lo, up in ((1 / 8, 1 / 3), (0.1, 0.3)):
        cases.append(
            {
                "case": f"rrelu_eval__lower={lo!r}__upper={up!r}",
                "fn": "rrelu",
                "params": {"lower": lo, "upper": up},
                "torch": f"F.rrelu(x, lower={lo!r}, upper={up!r}, training=False)",
            }
        )
    for a in (1.0, 0.5, 2.0, -0.5):
        cases.append(
            {
                "case": f"elu__alpha={a!r}",
                "fn": "elu",
                "params": {"alpha": a},
                "torch": f"F.elu(x, alpha={a!r})",
            }
        )
    for a in (1.0, 2.0, 0.5, -1.0):
        cases.append(
            {
                "case": f"celu__alpha={a!r}",
                "fn": "celu",
                "params": {"alpha": a},
                "torch": f"F.celu(x, alpha={a!r})",
            }
        )
    cases.append({"case": "selu", "fn": "selu", "params": {}, "torch": "F.selu(x)"})
    cases.append(
        {"case": "squared_relu", "fn": "squared_relu", "params": {}, "torch": "F.relu(x) ** 2"}
    )
    # reglu: x has shape (N, 2) for axis=-1 (a row is one (a, b) pair) and (2, N) for axis=0; the gate
    # column b is the usual grid, the value column a the same grid in a fixed random order.
    for axis in (-1, 0):
        cases.append(
            {
                "case": f"reglu__axis={axis}",
                "fn": "reglu",
                "params": {"axis": axis},
                "torch": f"a, b = x.chunk(2, dim={axis}); a * F.relu(b) (the split of F.glu, checked)",
            }
        )
    return cases


def main() -> None:
    import ml_dtypes
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_flush_denormal(False)
    bf16 = ml_dtypes.bfloat16

    def inputs_wide(np_dtype):
        rng = np.random.default_rng(SEED)
        special = list(SPECIAL) + (SPECIAL_F64 if np_dtype == np.float64 else [])
        parts = [
            np.array(special, dtype=np.float64),
            np.linspace(-20.0, 20.0, 2001),
            rng.standard_normal(2000) * 5.0,
        ]
        with np.errstate(over="ignore"):
            return np.concatenate(parts).astype(np_dtype)

    def inputs_narrow(np_dtype):
        # Every finite value with |v| <= 8, in bit-pattern order, then specials.
        allv = np.arange(65536, dtype=np.uint16).view(np_dtype)
        with np.errstate(invalid="ignore"):
            as64 = allv.astype(np.float32).astype(np.float64)
        keep = np.isfinite(as64) & (np.abs(as64) <= 8.0)
        mx = ml_dtypes.finfo(np_dtype).max
        extra = np.array([np.inf, -np.inf, np.nan, mx, -mx], dtype=np.float64).astype(np_dtype)
        return np.concatenate([allv[keep], extra])

    dtypes = {
        "float32": (np.float32, torch.float32),
        "float64": (np.float64, torch.float64),
        "float16": (np.float16, torch.float16),
        "bfloat16": (bf16, torch.bfloat16),
    }

    def to_torch(a, name):
        a = np.ascontiguousarray(a)
        if name == "bfloat16":
            return torch.from_numpy(a.view(np.int16).copy()).view(torch.bfloat16)
        return torch.from_numpy(a.copy())

    def to_store(t, name):
        t = t.detach()
        if name == "bfloat16":
            return t.view(torch.int16).numpy().view(np.uint16).copy()
        return t.numpy().copy()

    def make_fn(case):
        fn, p = case["fn"], case["params"]
        if fn == "relu":
            return F.relu
        if fn == "relu6":
            return F.relu6
        if fn == "leaky_relu":
            return lambda x: F.leaky_relu(x, negative_slope=p["negative_slope"])
        if fn == "rrelu":
            return lambda x: F.rrelu(x, lower=p["lower"], upper=p["upper"], training=False)
        if fn == "elu":
            return lambda x: F.elu(x, alpha=p["alpha"])
        if fn == "celu":
            return lambda x: F.celu(x, alpha=p["alpha"])
        if fn == "selu":
            return F.selu
        if fn == "squared_relu":
            return lambda x: F.relu(x) ** 2
        if fn == "reglu":
            return lambda x: reglu_torch(x, p["axis"])
        raise ValueError(fn)

    def reglu_torch(x, axis):
        a, b = x.chunk(2, dim=axis)
        # F.glu splits the same way (first half the value, second the gate): a * sigmoid(b).
        glu = F.glu(x.detach().double(), dim=axis)
        ad, bd = x.detach().double().chunk(2, dim=axis)
        assert torch.allclose(glu, ad * torch.sigmoid(bd), rtol=1e-12, atol=0, equal_nan=True)
        assert not torch.allclose(glu, bd * torch.sigmoid(ad), equal_nan=True), "order unseen"
        return a * F.relu(b)

    def pairs(x_np, axis):
        """(N, 2) with the gate in column 1 (axis=-1), or its transpose (axis=0)."""
        a = np.random.default_rng(SEED + 1).permutation(x_np)
        xy = np.stack([a, x_np], axis=-1)
        return xy if axis == -1 else np.ascontiguousarray(xy.T)

    out: dict[str, np.ndarray] = {}
    kept_cases = []
    dropped = []
    for case in case_list():
        name = case["case"]
        is_prelu = case["fn"] == "prelu"
        try:
            for dname, (np_dt, _t_dt) in dtypes.items():
                if dname in ("float32", "float64"):
                    x_np = inputs_wide(np_dt)
                else:
                    x_np = inputs_narrow(np_dt)
                if case["fn"] == "reglu":
                    x_np = pairs(x_np, case["params"]["axis"])
                if name == "prelu_channels":
                    pad = (-x_np.size) % 4
                    x_np = np.concatenate([x_np, np.zeros(pad, dtype=x_np.dtype)]).reshape(-1, 4)
                x_t = to_torch(x_np, dname).requires_grad_(True)
                key = f"{name}/{dname}"
                if is_prelu:
                    slope = case["params"]["negative_slope"]
                    w_np = np.array(
                        slope if isinstance(slope, list) else [slope], dtype=np.float64
                    ).astype(np_dt)
                    w_t = to_torch(w_np, dname).requires_grad_(True)
                    y_t = F.prelu(x_t, w_t)
                    dx_t, dw_t = torch.autograd.grad(y_t, [x_t, w_t], torch.ones_like(y_t))
                    out[f"{key}/slope"] = to_store(w_t, dname)
                    out[f"{key}/dslope"] = to_store(dw_t, dname)
                    # dslope over a "moderate" subset (finite, |x| <= 100), since the
                    # full-input dslope is poisoned by nan/inf inputs.
                    xf = x_np.astype(np.float64)
                    ok = np.isfinite(xf) & (np.abs(xf) <= 100.0)
                    if xf.ndim == 2:
                        ok = ok.all(axis=1)
                    xs_t = to_torch(x_np[ok], dname)
                    w2_t = to_torch(w_np, dname).requires_grad_(True)
                    ys_t = F.prelu(xs_t, w2_t)
                    (dws_t,) = torch.autograd.grad(ys_t, [w2_t], torch.ones_like(ys_t))
                    out[f"{key}/subset"] = ok
                    out[f"{key}/dslope_subset"] = to_store(dws_t, dname)
                else:
                    f = make_fn(case)
                    y_t = f(x_t)
                    (dx_t,) = torch.autograd.grad(y_t, [x_t], torch.ones_like(y_t))
                out[f"{key}/x"] = to_store(x_t, dname)
                out[f"{key}/y"] = to_store(y_t, dname)
                out[f"{key}/dx"] = to_store(dx_t, dname)
                if dname == "bfloat16":
                    out[f"{key}/is_bits"] = np.array(True)
        except RuntimeError as e:  # torch refused a parameter value
            for k in [k for k in out if k.startswith(name + "/")]:
                del out[k]
            dropped.append((name, repr(e)))
            continue
        kept_cases.append(case)

    out["meta/torch_version"] = np.array(torch.__version__)
    out["meta/numpy_version"] = np.array(np.__version__)
    out["meta/seed"] = np.array(SEED)
    np.savez_compressed(NPZ_PATH, **out)
    CASES_PATH.write_text(json.dumps(kept_cases, indent=1) + "\n")
    print(f"wrote {NPZ_PATH} ({NPZ_PATH.stat().st_size} bytes), {len(kept_cases)} cases")
    for name, err in dropped:
        print(f"DROPPED {name}: {err}")


if __name__ == "__main__":
    main()

"""Generate PyTorch golden data for jrelu's Flax modules (PReLU, RReLU, AlphaDropout).

Regenerate (from the repository root) with the environment that has torch:

    /work/torchvenv/bin/python tests/golden/make_golden_modules.py

This writes ``tests/golden/torch_modules.npz`` and ``tests/golden/torch_modules.json`` (the case list and
provenance). The tests only read those files and never import torch; all imports here are inside
``main()`` so that pytest's ``--doctest-modules`` can import this module without torch.

Layout of ``torch_modules.npz`` (all float32 unless noted):

* ``prelu/{case}/x``, ``/g``: input (PyTorch's layout, channels on axis 1) and the cotangent used for
  the backward pass, ``loss = sum(y * g)``.
* ``prelu/{case}/weight``: the slopes as PyTorch used them; ``/y``, ``/dx``, ``/dweight``: output and
  gradients of ``loss`` with respect to the input and the slopes.
  Cases: ``channels`` (``nn.PReLU(3)`` on NCHW ``(2, 3, 4, 5)``), ``shared`` (``nn.PReLU()``, default
  init), ``dense`` (``nn.PReLU(6)`` on ``(8, 6)``), ``elements`` (one slope per element of ``(C, H, W)``:
  PyTorch's ``F.prelu`` cannot do this, so it is ``torch.where(x > 0, x, w * x)`` under autograd, which
  has the same kink convention). Inputs include exact zeros to pin the kink.
* ``prelu/default_init``: ``nn.PReLU().weight`` (0.25).
* ``rrelu/{case}/x``, ``/y``, ``/dx``: ``nn.RReLU(lower, upper).eval()``, gradient of ``sum(y)``.
* ``alpha_dropout/rates``: the rates; ``alpha_dropout/dropped``: the value a dropped unit takes;
  ``alpha_dropout/kept_scale`` and ``/kept_shift``: ``y = scale * x + shift`` for kept units, all read
  off ``F.alpha_dropout(training=True)`` applied to 0 and to 1; ``alpha_dropout/keep_fraction``: the
  fraction PyTorch kept in a sample of 2**16.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
NPZ_PATH = HERE / "torch_modules.npz"
JSON_PATH = HERE / "torch_modules.json"
SEED = 0
RATES = (0.05, 0.1, 0.2, 0.5, 0.9)
RRELU_CASES = {"default": (1 / 8, 1 / 3), "custom": (0.1, 0.3), "negative": (-0.5, -0.1)}


def main() -> None:
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    out: dict[str, np.ndarray] = {}
    cases: dict[str, dict] = {}

    def with_zeros(shape: tuple[int, ...]) -> np.ndarray:
        x = rng.standard_normal(shape).astype(np.float32) * 2
        x.reshape(-1)[::7] = 0.0  # exact kinks
        return x

    def prelu_case(name: str, x: np.ndarray, weight: np.ndarray, module, torch_call: str) -> None:
        """``module`` is a PyTorch module with a ``weight`` parameter (the slopes)."""
        with torch.no_grad():
            module.weight.copy_(torch.tensor(weight))
        xt = torch.tensor(x, requires_grad=True)
        g = rng.standard_normal(x.shape).astype(np.float32)
        y = module(xt)
        (y * torch.tensor(g)).sum().backward()
        arrays = {
            "x": x,
            "g": g,
            "weight": weight,
            "y": y.detach().numpy(),
            "dx": xt.grad.numpy(),
            "dweight": module.weight.grad.numpy(),
        }
        for k, v in arrays.items():
            out[f"prelu/{name}/{k}"] = np.asarray(v, np.float32)
        cases[f"prelu/{name}"] = {
            "torch": torch_call,
            "x_shape": list(x.shape),
            "weight_shape": list(weight.shape),
        }

    class ElementPReLU(torch.nn.Module):
        # One slope per element of (C, H, W): F.prelu cannot do this (its weight is 1 or C values).
        def __init__(self, shape: tuple[int, ...]) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.empty(shape))

        def forward(self, x):
            return torch.where(x > 0, x, self.weight * x)

    prelu_case(
        "channels",
        with_zeros((2, 3, 4, 5)),
        np.array([0.25, -0.1, 0.7], np.float32),
        torch.nn.PReLU(3),
        "nn.PReLU(3) on NCHW (2, 3, 4, 5)",
    )
    prelu_case(
        "shared",
        with_zeros((2, 3, 4, 5)),
        torch.nn.PReLU().weight.detach().numpy().astype(np.float32),
        torch.nn.PReLU(),
        "nn.PReLU() (default init 0.25) on NCHW (2, 3, 4, 5)",
    )
    prelu_case(
        "dense",
        with_zeros((8, 6)),
        np.linspace(-0.3, 0.9, 6, dtype=np.float32),
        torch.nn.PReLU(6),
        "nn.PReLU(6) on (N, C) = (8, 6)",
    )
    prelu_case(
        "elements",
        with_zeros((2, 3, 4, 5)),
        rng.uniform(-0.5, 0.5, (3, 4, 5)).astype(np.float32),
        ElementPReLU((3, 4, 5)),
        "torch.where(x > 0, x, w * x), w of shape (C, H, W) = (3, 4, 5)",
    )
    out["prelu/default_init"] = torch.nn.PReLU().weight.detach().numpy().astype(np.float32)

    x = np.concatenate(
        [
            np.array([0.0, -1.0, 1.0, -100.0, 6.0], np.float32),
            np.linspace(-5, 5, 101, dtype=np.float32),
        ]
    )
    for name, (lower, upper) in RRELU_CASES.items():
        xt = torch.tensor(x, requires_grad=True)
        y = torch.nn.RReLU(lower, upper).eval()(xt)
        y.sum().backward()
        out[f"rrelu/{name}/x"] = x
        out[f"rrelu/{name}/y"] = y.detach().numpy()
        out[f"rrelu/{name}/dx"] = xt.grad.numpy()
        cases[f"rrelu/{name}"] = {
            "torch": f"nn.RReLU({lower!r}, {upper!r}).eval()",
            "lower": lower,
            "upper": upper,
        }

    dropped, scale, shift, kept = [], [], [], []
    n = 2**16
    for rate in RATES:
        y0 = F.alpha_dropout(torch.zeros(n), rate, training=True)
        y1 = F.alpha_dropout(torch.ones(n), rate, training=True)
        d = y0.min().item()  # dropped units are negative, kept ones (a * alpha * rate) positive
        b = y0.max().item()
        a = y1.max().item() - b
        dropped.append(d)
        shift.append(b)
        scale.append(a)
        kept.append(float((y0 != d).float().mean()))
    out["alpha_dropout/rates"] = np.array(RATES, np.float32)
    out["alpha_dropout/dropped"] = np.array(dropped, np.float32)
    out["alpha_dropout/kept_scale"] = np.array(scale, np.float32)
    out["alpha_dropout/kept_shift"] = np.array(shift, np.float32)
    out["alpha_dropout/keep_fraction"] = np.array(kept, np.float32)
    cases["alpha_dropout"] = {
        "torch": "F.alpha_dropout(x, rate, training=True)",
        "rates": list(RATES),
        "sample": n,
    }

    np.savez_compressed(NPZ_PATH, **out)
    meta = {
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "cases": cases,
    }
    JSON_PATH.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {NPZ_PATH.name} ({len(out)} arrays) and {JSON_PATH.name}")


if __name__ == "__main__":
    main()

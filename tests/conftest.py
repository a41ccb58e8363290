"""Shared test helpers: the cases every table-driven test iterates over, and how they feed them.

The float64 oracle's helpers (ulps, the input grids, what XLA flushes to zero, correct rounding) are
not here: the tests import them from jrelu.testing, the copy ``jrelu check`` uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import jrelu

# Strict promotion, as Equinox tests: no implicit rank promotion (a (C,) slope against (N, C) input
# must be written as (1, C)) and no implicit dtype promotion (float32 with float64 raises; Python
# scalars are weak and stay fine). Set before any test runs: here (xdist workers import this file
# themselves, and the doctests of jrelu/ run in the same processes) and, through the environment that
# JAX reads at import, in every subprocess a test starts (the sharding workers, the CLI runs).
STRICT = {"jax_numpy_rank_promotion": "raise", "jax_numpy_dtype_promotion": "strict"}
for _name, _value in STRICT.items():
    os.environ[_name.upper()] = _value
    jax.config.update(_name, _value)


# --------------------------------------------------------------------------------------------------
# The sharding worker: started at the beginning of the session, beside the rest of the suite
# --------------------------------------------------------------------------------------------------

SHARDING_WORKER = Path(__file__).with_name("sharding_worker.py")
SHARDING_REPORT = "JRELU_TEST_SHARDING_REPORT"  # where the report is written, for the xdist workers


# The worker's parts that only tests marked slow read: left out where the run deselects those
# (``-m "not slow"``, CI's lowest-versions run), where they were 46 s of the worker's 210 s.
SLOW_WORKER_PARTS = ("blocks_step",)


def worker_parts(config: pytest.Config) -> list[str]:
    """The worker parts to run: all (an empty list), or all but the slow ones under exactly
    ``-m "not slow"`` (any other expression runs them all: it may select a slow test)."""
    if " ".join((config.getoption("markexpr", "") or "").split()) != "not slow":
        return []
    from sharding_worker import PARTS

    return [p.__name__ for p in PARTS if p.__name__ not in SLOW_WORKER_PARTS]


def run_sharding_worker(parts: list[str] | None = None) -> dict:
    """Run tests/sharding_worker.py on 8 forced host devices (only ``parts``, if given); its report,
    or ``{"error": ...}``."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = (
        env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    ).strip()
    env["JAX_PLATFORMS"] = "cpu"
    try:
        proc = subprocess.run(
            [sys.executable, str(SHARDING_WORKER), *(parts or [])],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired as e:
        return {"error": f"tests/sharding_worker.py timed out after {e.timeout} s"}
    if proc.returncode != 0:
        return {"error": proc.stdout[-2000:] + proc.stderr[-4000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _selects_sharding(config: pytest.Config) -> bool:
    args = [a.split("::")[0] for a in config.args] or config.getini("testpaths") or ["."]
    here = SHARDING_WORKER.with_name("test_sharding.py")
    for a in args:
        path = (config.invocation_params.dir / a).resolve()
        if path == here or path in here.parents:
            return True
    return False


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Under pytest-xdist, start the sharding worker (about 90 s) in the controlling process before the
    test workers exist, so that it runs beside the rest of the suite and tests/test_sharding.py only
    reads its report. (That module once went to one xdist worker through ``--dist loadgroup``, which
    pytest 9.2 silently stopped honouring -- pytest-xdist issue 1386 -- and the other worker then sat
    idle for the 90 s.) The report is written atomically to the path in ``$JRELU_TEST_SHARDING_REPORT``,
    which the workers inherit; without xdist the module runs the worker itself."""
    config = session.config
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        return
    if not _selects_sharding(config):
        return
    out = Path(tempfile.mkdtemp(prefix="jrelu-sharding-")) / "report.json"
    os.environ[SHARDING_REPORT] = str(out)

    parts = worker_parts(config)

    def run() -> None:
        data = run_sharding_worker(parts)
        part = out.with_suffix(".part")
        part.write_text(json.dumps(data))
        part.replace(out)

    threading.Thread(target=run, name="jrelu-sharding-worker", daemon=True).start()


def _show(k: str, v) -> str:
    return k if v is True else f"{k}={v}" if isinstance(v, bool) else f"{k}={v:g}"


# The key bound into a function that has no form without one (Spec.needs_key: alpha_dropout), so that
# the table-driven tests call it as f(x, **params); its references re-draw the mask from the same key.
KEY = jax.random.key(17)


def table_spec(spec):
    """``spec`` as the table-driven tests call it: with :data:`KEY` bound where a key is needed."""
    return spec.with_key(KEY) if spec.needs_key else spec


# One entry per (function, hyperparameter variant): every code path of every function.
CASES = [
    pytest.param(
        table_spec(spec),
        dict(params),
        id=f"{name}-" + "-".join(_show(k, v) for k, v in params.items()),
    )
    for name, spec in jrelu.FUNCTIONS.items()
    for params in spec.variants
]

# A gated Spec (reglu: Spec.gated) halves the axis it splits, and its references take the full input.
# The table-driven tests feed it [a, b] built from their points by these helpers, and map masks over the
# points to masks over the output (a pair) and over the gradient (both halves of a pair).


def gated_input(spec, xs: np.ndarray) -> np.ndarray:
    """The input for the points ``xs``: ``xs`` itself, or for a gated Spec ``[a, b]`` along the last
    axis with the gate ``b = xs`` and the value half ``a = xs`` reversed (each point meets another)."""
    xs = np.asarray(xs)
    return np.concatenate([np.flip(xs, -1), xs], axis=-1) if spec.gated else xs


def value_mask(spec, xmask: np.ndarray) -> np.ndarray:
    """A mask over the input as a mask over the output: for a gated Spec, both halves of a pair."""
    if not spec.gated:
        return xmask
    a, b = np.split(np.asarray(xmask), 2, axis=-1)
    return a & b


def grad_mask(spec, ymask: np.ndarray) -> np.ndarray:
    """A mask over the output as a mask over the gradient (both inputs of each output)."""
    ymask = np.asarray(ymask)
    return np.concatenate([ymask, ymask], axis=-1) if spec.gated else ymask


def jvp_of_ones(spec, d: np.ndarray) -> np.ndarray:
    """J @ ones from the reference gradient ``d`` of sum(f): ``d`` for an elementwise Spec; for a
    gated one d/da + d/db (output i reads a[i] and b[i] only)."""
    if not spec.gated:
        return d
    a, b = np.split(np.asarray(d), 2, axis=-1)
    return a + b


HALF = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}
EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}


def value_and_grad(fn, x: jax.Array, **params):
    """y = fn(x) and dy/dx elementwise (the VJP with a cotangent of ones)."""
    y, vjp = jax.vjp(lambda x: fn(x, **params), x)
    (dx,) = vjp(jnp.ones_like(y))
    return y, dx


@pytest.fixture(scope="session")
def x64():
    """Run a test body with float64 enabled: ``with x64(): ...``."""
    return lambda: jax.enable_x64(True)

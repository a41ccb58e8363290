"""jax.export: symbolic shapes, and programs lowered for platforms other than the one tracing them.

* Shape polymorphism: every function (every variant, rrelu with and without a key) exports with a
  symbolic batch, and with symbolic sizes inside (``(b, 3, 2*c)``: the rows view, the mask's padded last
  axis, the draws' strides), as ``jax.random.uniform(key, v.shape)`` and the jax.nn peers do; the
  exported program, run at a concrete shape, gives what the concrete trace gives. reglu cannot halve a
  symbolic size that may be odd, and says so.
* Deviceless lowering: every function's forward, grad and jvp in float32, bfloat16 and float64, exported
  from this CPU for CUDA, ROCm and TPU, has no custom call and no host callback (jax.nn's have none),
  and the TPU module has no integer -> float64 bitcast, which XLA:TPU does not implement (the float64
  kernels take XLA's exp / expm1 there; the others keep the bit kernels).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import CASES, KEY, gated_input, jvp_of_ones
from jax import export

import jrelu


def _cases():
    """(label, spec, params, key) for every variant, and rrelu with a key too."""
    for param in CASES:
        spec, params = param.values
        yield param.id, spec, params, None
        if spec.random and not spec.needs_key:
            yield param.id + "-key", spec, params, KEY


CASE_LIST = list(_cases())


def _program(case, hyper_in: bool):
    """fwd, grad and jvp in x; with ``hyper_in``, the hyperparameters passed in as arrays (the masked
    rules) and the gradient in them instead of the jvp."""
    _, spec, params, key = case
    hyper = spec.hyper(params)
    static = {k: v for k, v in params.items() if k not in hyper}
    kw = {} if key is None else {"key": key}

    def f(x, h):
        return spec.fn(x, **(h if hyper_in else hyper), **static, **kw)

    def run(x, h):
        out = {"fwd": f(x, h), "grad": jax.grad(lambda v: f(v, h).sum())(x)}
        if hyper_in:
            out["dh"] = jax.grad(lambda g: f(x, g).sum())(h)
        else:
            out["jvp"] = jax.jvp(lambda v: f(v, h), (x,), (jnp.ones_like(x),))[1]
        return out

    return run, {k: jnp.float32(v) for k, v in hyper.items()} if hyper_in else {}


def _all(cases=CASE_LIST, arrays: bool = True):
    """One program: every case with constant hyperparameters and, where ``arrays``, with array ones."""
    programs = {case[0]: _program(case, False) for case in cases}
    if arrays:
        programs |= {
            case[0] + "-arrays": _program(case, True) for case in cases if case[1].hyper(case[2])
        }

    def run(x, hs):
        return {label: p(x, hs[label]) for label, (p, _) in programs.items()}

    return run, {label: h for label, (_, h) in programs.items()}


def _dh_reference(spec, params, x):
    """d sum(f) / d each hyperparameter, by central differences of the float64 reference (the mask of
    alpha_dropout held at the rate's value: the pathwise derivative)."""
    x = np.asarray(x, np.float64)
    out = {}
    for name, v in spec.hyper(params).items():
        step = 1e-6 * max(abs(v), 1.0)
        hold = {"key": KEY, "mask_rate": v} if spec.needs_key else {}
        up = spec.value(x, **{**params, name: v + step}, **hold)
        down = spec.value(x, **{**params, name: v - step}, **hold)
        out[name] = float(np.sum(up - down) / (2 * step))
    return out


# --------------------------------------------------------------------------------------------------
# Shape polymorphism
# --------------------------------------------------------------------------------------------------


def test_every_function_exports_with_symbolic_shapes():
    """One program with every variant, its hyperparameters constant (the rules a Python number picks)
    and as arrays (the masked rules, and the gradients in them), exported with a symbolic batch and
    symbolic sizes inside -- ``(b, 3, 2*c)``: the rows view merges b and 3, the mask packs a last axis
    that need not fill its words, the draws hash each element's position from symbolic strides -- then
    run at ``(2, 3, 10)`` against the float64 references (alpha_dropout's mask recomputed in NumPy);
    rrelu with a key, which has no reference, against its concrete trace."""
    arg = jax.ShapeDtypeStruct(export.symbolic_shape("b, 3, 2*c"), jnp.float32)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-4, 4, (2, 3, 10)), jnp.float32)
    run, hs = _all()
    got = export.export(jax.jit(run))(arg, hs).call(x, hs)
    keyed = [case for case in CASE_LIST if case[3] is not None and not case[1].needs_key]
    run_keyed, hs_keyed = _all(keyed)
    want_keyed = jax.jit(run_keyed)(x, hs_keyed)
    for label, spec, params, _ in CASE_LIST:
        for suffix in ("", "-arrays"):
            if label + suffix not in got:
                continue
            out = got[label + suffix]
            if label + suffix in want_keyed:
                for what, want in want_keyed[label + suffix].items():
                    for a, b in zip(jax.tree.leaves(out[what]), jax.tree.leaves(want), strict=True):
                        np.testing.assert_array_equal(a, b, err_msg=f"{label}{suffix} {what}")
                continue
            ref = {"key": KEY} if spec.needs_key else {}
            xs = np.asarray(x, np.float64)
            want = {
                "fwd": spec.value(xs, **params, **ref),
                "grad": spec.derivative(xs, **params, **ref),
            }
            if "jvp" in out:
                want["jvp"] = jvp_of_ones(spec, want["grad"])
            for what, w in want.items():
                np.testing.assert_allclose(
                    out[what], w, rtol=2e-6, atol=1e-6, err_msg=f"{label}{suffix} {what}"
                )
            for name, w in (_dh_reference(spec, params, xs) if "dh" in out else {}).items():
                assert float(out["dh"][name]) == pytest.approx(w, rel=1e-5, abs=1e-5), (label, name)


def test_the_peers_export_with_the_same_symbolic_shapes():
    """What jrelu is held to: jax.nn / jnp.where and the jax.random draws export at the same shape
    (one program), and agree with jrelu's export where they compute the same thing (away from the
    kinks; the peers draw other numbers)."""
    arg = jax.ShapeDtypeStruct(export.symbolic_shape("b, 3, 2*c"), jnp.float32)
    x = jnp.asarray(np.random.default_rng(1).uniform(-4, 4, (2, 3, 10)), jnp.float32)
    plain = [(label, spec, params) for label, spec, params, key in CASE_LIST if not spec.random]

    def peers(v):
        out = {label: s.baseline(v, **s.hyper(p)) for label, s, p in plain}
        out["uniform"] = jax.random.uniform(KEY, v.shape)
        out["bernoulli"] = jax.random.bernoulli(KEY, 0.8, v.shape)
        return out

    def ours(v):
        return {label: s.fn(v, **p) for label, s, p in plain}

    got = export.export(jax.jit(ours))(arg).call(x)
    want = export.export(jax.jit(peers))(arg).call(x)
    assert want["uniform"].shape == want["bernoulli"].shape == x.shape
    for label in got:
        np.testing.assert_allclose(got[label], want[label], rtol=2e-6, atol=1e-7, err_msg=label)


def test_reglu_names_a_symbolic_axis_it_cannot_halve():
    odd = jax.ShapeDtypeStruct(export.symbolic_shape("b, h"), jnp.float32)
    with pytest.raises(ValueError, match=r"jrelu\.reglu: .*symbolic size h along axis 1.*2\*h"):
        export.export(jax.jit(jrelu.reglu))(odd)
    even = jax.ShapeDtypeStruct(export.symbolic_shape("b, 2*h"), jnp.float32)
    x = jnp.asarray(gated_input(jrelu.FUNCTIONS["reglu"], np.linspace(-2, 2, 6)), jnp.float32)[None]
    exported = export.export(jax.jit(jrelu.reglu))(even)
    np.testing.assert_array_equal(exported.call(x), jrelu.reglu(x))
    peer = export.export(jax.jit(jax.nn.glu))(even)  # jax.nn's gated unit: the same halves
    assert peer.out_avals[0].shape[1] == exported.out_avals[0].shape[1]


# --------------------------------------------------------------------------------------------------
# Deviceless lowering for every platform
# --------------------------------------------------------------------------------------------------

# XLA:TPU's "bitcast-convert from s64 to f64 not implemented": an integer -> float64 bitcast.
_TPU_LACKS = re.compile(
    r"stablehlo\.bitcast_convert [^\n]*tensor<[0-9x]*i64>\) -> tensor<[0-9x]*f64>"
)


def _lowered(fn, dtype, platforms) -> export.Exported:
    return export.export(jax.jit(fn), platforms=platforms)(jax.ShapeDtypeStruct((4, 8), dtype))


def _problems(exported: export.Exported, tpu: bool) -> list[str]:
    text = exported.mlir_module()
    found = []
    if "custom_call" in text:
        found.append("a custom call")
    if exported.ordered_effects or exported.unordered_effects:
        found.append(f"effects {exported.ordered_effects} {exported.unordered_effects}")
    if tpu and _TPU_LACKS.search(text):
        found.append("an s64 -> f64 bitcast, which XLA:TPU lacks")
    return found


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float64"])
def test_every_function_lowers_for_cuda_rocm_and_tpu(dtype, x64):
    """One program holding every variant's forward, grad and jvp, exported from this CPU for CUDA and
    ROCm together and for TPU alone; the peers' program passes the same checks. The choice of the
    float64 kernel follows the platform: the bit kernels for CUDA and ROCm, XLA's for TPU."""
    run, hs = _all(arrays=False)

    def everything(x):
        return run(x, hs)

    def peers(x):
        out = []
        for _, spec, params, _ in CASE_LIST:
            f = (
                (lambda v, s=spec, p=params: s.train_baseline(v, KEY, **s.hyper(p)))
                if spec.random
                else (lambda v, s=spec, p=params: s.baseline(v, **s.hyper(p)))
            )
            out += [f(x), jax.grad(lambda v, f=f: f(v).sum())(x), jax.jvp(f, (x,), (x,))[1]]
        return out

    with x64():
        dt = jnp.dtype(dtype)
        for platforms in (["cuda", "rocm"], ["tpu"]):
            tpu = platforms == ["tpu"]
            ours = _lowered(everything, dt, platforms)
            assert not _problems(ours, tpu), (platforms, _problems(ours, tpu))
            assert not _problems(_lowered(peers, dt, platforms), tpu), platforms
            if dtype == "float64":  # the kernel follows the platform, not this CPU
                text = ours.mlir_module()
                assert bool(_TPU_LACKS.search(text)) is not tpu, platforms
                assert ("stablehlo.exponential_minus_one" in text) is tpu, platforms

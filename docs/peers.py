"""How jax.nn, PyTorch, Flax and Equinox differ from jrelu, one entry per function.

``docs/_generate.py`` writes the "How the peers differ" section of every function page from
:data:`PEERS`; ``docs/check_site.py`` fails the build check when a function of ``jrelu.FUNCTIONS`` has
no entry here (or an entry names a function the library lacks), and ``_generate.py`` refuses to write
the pages in that case, so a new activation cannot get a page without its comparison.

This is documentation, not library data: the facts are prose a reader needs (a name, a default, a
convention, a measured figure), not values a program computes with, so they live beside the pages
rather than in :class:`jrelu.Spec` (whose peer fields, ``baseline`` and ``torch``, are the executable
formulations the tests and benchmarks compare with).

Every statement is measured, or read from the peer's own signature; none is inferred:

* jax.nn, Flax and Equinox: run against jax 0.10.2, flax 0.12.8 and Equinox 0.13.8 on CPU (signatures,
  derivatives at the kinks, integer and complex input, ``is`` identity of Flax's re-exports).
* PyTorch 2.13 (CPU): values and gradients at the kinks, NaN, signed zeros and ±inf from the committed
  golden data (``tests/golden/``); signatures from ``torch.nn.functional``.
* Memory: extra activation-sized float32 tensors per layer that a compiled MLP training step keeps
  (XLA's ``memory_analysis()``, slope over depth 4 to 8, XLA:CPU), as ``benchmarks/core_figures.py``
  and ``tests/test_memory.py`` measure; for squared_relu and reglu, hidden-sized tensors per layer of a
  residual FFN (``tests/test_squared_relu_reglu.py``).
* Precision: the share of bfloat16 / float16 inputs in [-8, 8] whose output is the correctly rounded
  float64 value, and the worst float32 error in ulp on [-20, 20] (``benchmarks/core_figures.py``).

Write a difference as what the peer does, then jrelu's in parentheses where it is not obvious. A peer
with no counterpart says so in ``counterpart`` and may point to the usual replacement.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

#: The peers every page compares with, in the order they are shown.
ORDER = ("jax.nn", "PyTorch", "Flax", "Equinox")

#: Shown above every comparison: what the figures in it mean.
NOTE = (
    'Measured with jax 0.10.2, flax 0.12.8, Equinox 0.13.8 and PyTorch 2.13 on CPU. "Backward" '
    "figures are the extra activation-sized tensors per layer that a compiled training step keeps "
    "(XLA's memory analysis of an MLP on XLA:CPU; for the FFN activations, hidden-sized tensors of a "
    'residual FFN), beyond the same network with the identity in its place. "Correctly rounded" is the '
    "share of the bfloat16 or float16 inputs in [-8, 8] whose output is the float64 value rounded "
    "once."
)


@dataclasses.dataclass(frozen=True)
class Peer:
    """One peer's counterpart of a jrelu function.

    Attributes:
      counterpart: Markdown: the peer's spelling with its arguments and defaults, or a sentence
        starting "None" when it has none.
      differences: Markdown, one item each: how the peer behaves where jrelu behaves otherwise, and
        what it shares with jrelu where a reader would expect a difference.
    """

    counterpart: str
    differences: tuple[str, ...] = ()


def _flax(fn: str) -> Peer:
    return Peer(
        f"`flax.linen.{fn}` and `flax.nnx.{fn}` are `jax.nn.{fn}` itself (the same object)",
        ("Everything said of jax.nn holds. Flax has no module for it.",),
    )


def _equinox(fn: str) -> Peer:
    return Peer(
        f"None of its own: `jax.nn.{fn}` passed as `eqx.nn.MLP(activation=...)` or wrapped in "
        "`eqx.nn.Lambda`",
        (
            "Everything said of jax.nn holds. `jrelu." + fn + "` goes in the same places; "
            "`jrelu.get(...)` with bound hyperparameters is hashable, so identical models share one "
            "`eqx.filter_jit` trace (a fresh closure would retrace).",
        ),
    )


_INT_FLOAT = (
    "An int32 input comes back float32 (jrelu raises TypeError); complex input is accepted "
    "(jrelu raises TypeError)."
)
_MASKED_NAN = (
    "A NaN that the loss masks out (zero cotangent) gives a NaN gradient, from the untaken "
    "branch's `exp(NaN)` (jrelu: 0, and the rest of the gradient unchanged)."
)

PEERS: Mapping[str, Mapping[str, Peer]] = {
    "relu": {
        "jax.nn": Peer(
            "`jax.nn.relu(x)`",
            (
                "Same name, arguments and kink convention (relu'(0) = 0); int32 input stays int32 "
                "in both.",
                "Backward: the compiled training step keeps 1.0 extra tensor per layer (jrelu: 0.0, "
                "it reads the output).",
                "At a NaN input the gradient is 0, hiding where the NaN came from (jrelu: NaN). A "
                "masked-out NaN gives 0 in both.",
                "Complex input is accepted (jrelu raises TypeError).",
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.functional.relu(x)`, `torch.nn.ReLU()`",
            (
                "Same kink convention, and its backward also works from the output.",
                "At a NaN input the gradient is 1 (jrelu: NaN).",
                "`relu(-0.0)` is -0.0 (jrelu: +0.0; equal as numbers).",
                "Subnormals are kept on CPU (XLA:CPU flushes them to zero, for jrelu and jax.nn "
                "alike).",
            ),
        ),
        "Flax": _flax("relu"),
        "Equinox": _equinox("relu"),
    },
    "relu6": {
        "jax.nn": Peer(
            "`jax.nn.relu6(x)`",
            (
                "Same kink convention since jax 0.4.14 (relu6'(0) = relu6'(6) = 0).",
                "Backward: the compiled training step keeps 1.0 extra tensor per layer (jrelu: 0.0).",
                "An int32 input comes back float32 (jrelu keeps int32); complex input is accepted "
                "(jrelu raises TypeError).",
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.functional.relu6(x)`, `torch.nn.ReLU6()`",
            (
                "Same kink convention.",
                "At a NaN input the gradient is 1 (jrelu: NaN).",
                "`relu6(-0.0)` is -0.0 (jrelu: +0.0).",
            ),
        ),
        "Flax": _flax("relu6"),
        "Equinox": _equinox("relu6"),
    },
    "leaky_relu": {
        "jax.nn": Peer(
            "`jax.nn.leaky_relu(x, negative_slope=0.01)`",
            (
                "Same name, argument and default, so jrelu is a drop-in.",
                "**Kink: the derivative at 0 is 1** (jrelu: the slope, PyTorch's convention).",
                "Backward: the compiled training step keeps 1.0 extra tensor per layer (jrelu: 0.0 "
                "for a concrete slope ≥ 0, a 1-bit mask, 0.031, for a negative or traced one).",
                "Half precision is computed in the input dtype, 0.01 rounded to it: 88.64% of "
                "bfloat16 and 90.21% of float16 inputs correctly rounded (jrelu: 96.86% and 100%, "
                "computed in float32 and rounded once).",
                "At a NaN input the gradient is the slope (jrelu: NaN).",
                _INT_FLOAT,
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.functional.leaky_relu(x, negative_slope=0.01)`, `torch.nn.LeakyReLU()`",
            (
                "Same argument, default and kink convention (the slope at 0).",
                "Backward: the out-of-place function keeps its input (pytorch/pytorch#63644); the "
                "in-place one breaks with a negative slope (pytorch/pytorch#47671).",
                "`leaky_relu(-inf, negative_slope=0)` is NaN, 0 · (-inf) (jrelu: 0).",
                "At a NaN input the gradient is the slope (jrelu: NaN).",
            ),
        ),
        "Flax": _flax("leaky_relu"),
        "Equinox": _equinox("leaky_relu"),
    },
    "prelu": {
        "jax.nn": Peer(
            "None. The usual code, `jnp.where(x >= 0, x, a * x)`, is what the tests and benchmarks "
            "compare with",
            (
                "That code's derivative at 0 is 1 (jrelu: the slope, PyTorch's convention).",
                "Backward with the slope learned per channel: 2.0 extra tensors per layer (jrelu: "
                "1.0, `x` alone).",
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.PReLU(num_parameters=1, init=0.25)`, `torch.nn.functional.prelu(x, weight)`",
            (
                "Same kink convention (d/dx = the slope, d/dslope = 0 at 0) and the same init.",
                "One shared slope, or one per channel on axis 1 only: an NHWC input fails, or is "
                "silently wrong when H = C (jrelu: any axis, `axis=`, or a slope broadcast against "
                "the trailing axes).",
                "A bfloat16 input with a float32 slope is an error: no type promotion (jrelu: "
                "computed in float32, rounded once, output in the input's dtype).",
            ),
        ),
        "Flax": Peer(
            "`flax.linen.PReLU(param_dtype=float32, negative_slope_init=0.01)`, "
            "`flax.nnx.PReLU(negative_slope_init=0.01)`",
            (
                "Same parameter name, `negative_slope`, so checkpoints that look for it find jrelu's.",
                "One shared scalar slope, no per-channel option; init 0.01 (jrelu's modules: 0.25, "
                "He et al. and PyTorch).",
                "**Kink: d/dx at 0 is 1** (jrelu: the slope).",
                "A bfloat16 input: the slope is rounded to bfloat16 first, then the result again "
                "(jrelu: float32 math, one rounding; the slope stays in `param_dtype`).",
                "Backward with the slope learned, float32: 2.0 tensors per layer (jrelu: 1.0, `x` "
                "alone); in bfloat16 on XLA:CPU 0.52 (jrelu: 0.52).",
            ),
        ),
        "Equinox": Peer(
            "`eqx.nn.PReLU(init_alpha=0.25)`: one field `negative_slope`, an array broadcast "
            "against the input",
            (
                "You build the broadcast shape yourself (`(C, 1, 1)` for a channels-first input; "
                "jrelu's `jrelu.equinox.PReLU(num_channels, axis=0)` names the channel axis).",
                "**Kink: d/dx at 0 is 1** (jrelu: the slope).",
                "A float32 slope array promotes a bfloat16 input to a float32 output (jrelu keeps "
                "bfloat16; Equinox's default scalar slope is weakly typed and keeps it too).",
            ),
        ),
    },
    "rrelu": {
        "jax.nn": Peer(
            "None. The usual code draws the slopes with `jax.random.uniform` and applies them with "
            "`jnp.where`; the tests and benchmarks compare with it",
            (
                "Evaluation (`jnp.where` with slope (lower + upper) / 2): 1.0 extra tensor per layer "
                "(jrelu: 0.0).",
                "Training: the `jax.random.uniform` draw is a `while` loop on CPU that XLA schedules "
                "early and keeps alive (jrelu re-draws its slopes from the key in the backward pass, "
                "a counter-based hash: 0.0 extra tensors).",
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.functional.rrelu(x, lower=1/8, upper=1/3, training=False)`, "
            "`torch.nn.RReLU()`",
            (
                "Same arguments, defaults, evaluation slope (0.229167) and kink convention (the "
                "slope at 0).",
                "Training is `training=True`, with slopes from PyTorch's own generator; there is no "
                "key (jrelu: `key=` gives training, the same key the same slopes; no key, "
                "evaluation).",
            ),
        ),
        "Flax": Peer(
            "None",
            (
                "`jrelu.linen.RReLU` / `jrelu.nnx.RReLU` take their randomness as `flax.linen."
                'Dropout` / `flax.nnx.Dropout` do: `deterministic`, and the `"dropout"` rng '
                "collection by default.",
            ),
        ),
        "Equinox": Peer(
            "None",
            (
                "`jrelu.equinox.RReLU` follows `eqx.nn.Dropout`: `key=` at call time and an "
                "`inference` field that `eqx.nn.inference_mode` toggles.",
            ),
        ),
    },
    "alpha_dropout": {
        "jax.nn": Peer(
            "None (nor in Flax, Equinox or Haiku). The tests and benchmarks compare with the "
            "obvious code: a `jax.random.bernoulli` mask and the same affine map",
            (
                "That code's compiled training step keeps 0.25 activation tensors per layer, the "
                "mask (jrelu: nothing beyond the key: the mask is re-drawn in the backward pass).",
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.functional.alpha_dropout(x, p=0.5, training=False)`, "
            "`torch.nn.AlphaDropout()`",
            (
                "Same dropped value (-1.23616 at rate 0.2) and the same mean-0 / variance-1 "
                "correction; `rate=1` gives zeros in both, and a NaN input stays NaN where dropped "
                "in both.",
                "The rate is `p`, default 0.5 (jrelu: `rate`, as Flax's `Dropout`, with no default); "
                "`training=False`, the default, is the identity (jrelu has no such switch: it needs "
                "a key, and the modules' `deterministic` / `inference` skip it).",
                "The mask comes from PyTorch's own generator (jrelu: from `key=`, the same key the "
                "same mask, on one device or sharded).",
                "An infinite input that is dropped gives NaN (jrelu: the dropped value).",
                "`torch.nn.FeatureAlphaDropout` is `broadcast_dims=(1, 2)` on an NHWC input.",
            ),
        ),
        "Flax": Peer(
            "None: `flax.linen.Dropout` / `flax.nnx.Dropout(rate, broadcast_dims=(), "
            "deterministic, rng_collection='dropout')` is plain dropout",
            (
                "`jrelu.linen.AlphaDropout` / `jrelu.nnx.AlphaDropout` take the same arguments and "
                'the same rng collection, so `rngs={"dropout": key}` serves both.',
            ),
        ),
        "Equinox": Peer(
            "None: `eqx.nn.Dropout(p=0.5, inference=False)` is plain dropout",
            (
                "`jrelu.equinox.AlphaDropout(rate, broadcast_dims=(), inference=False)` is called "
                "as `eqx.nn.Dropout` is, with `key=`.",
            ),
        ),
    },
    "elu": {
        "jax.nn": Peer(
            "`jax.nn.elu(x, alpha=1.0)`",
            (
                "Same name, argument, default and kink convention (elu'(0) = α); the second "
                "derivative at 0 agrees too (the left-hand value, α).",
                "Backward: the compiled training step keeps 2.0 extra tensors per layer (jrelu: 0.0 "
                "for a concrete α ≥ 0; 0.031, a 1-bit mask, for a negative or traced one; 1.0 with "
                "`precise=True`).",
                "Its negative-side derivative comes from `x` (jrelu reads it off the output: "
                "accurate to about an ulp of α absolutely, so exactly 0 in float32 for x ≤ -16.98; "
                "`precise=True` keeps `x` as jax.nn does).",
                "float32 is up to 4.57 ulp off (jrelu: 0.90, its own `expm1`); float16 is computed "
                "in float16: 88.14% correctly rounded (jrelu: 100%).",
                _MASKED_NAN,
                _INT_FLOAT,
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.functional.elu(x, alpha=1.0)`, `torch.nn.ELU()`",
            (
                "Same argument, default and kink convention; half precision is computed in float32 "
                "and rounded once, as in jrelu.",
                "The second derivative at 0 is 0 (jrelu: α).",
                "Backward: the out-of-place function keeps its input (pytorch/pytorch#63644), so "
                "its derivative stays accurate far out (e⁻²⁰ ≈ 2.06·10⁻⁹ at x = -20, where jrelu's "
                "default gives 0; `precise=True` agrees).",
                "`elu(-0.0)` is -0.0 for α > 0 (jrelu: +0.0); at a NaN input the gradient is 1 "
                "(jrelu: NaN).",
            ),
        ),
        "Flax": _flax("elu"),
        "Equinox": _equinox("elu"),
    },
    "celu": {
        "jax.nn": Peer(
            "`jax.nn.celu(x, alpha=1.0)`",
            (
                "Same name, argument, default and kink convention (celu'(0) = 1).",
                "The second derivative at 0 is 1/(4α), 0.25 at α = 1: `jnp.maximum` and "
                "`jnp.minimum` split their derivative at the tie (jrelu: 1/α, the left-hand value).",
                "Backward: the compiled training step keeps 2.0 extra tensors per layer (jrelu: 0.0 "
                "for every α, traced or negative included; 1.0 with `precise=True`).",
                "`alpha=0` gives NaN for x ≥ 0 (jrelu raises ValueError).",
                "float32 is up to 4.57 ulp off at α = 1 (jrelu: 0.90); float16 is computed in "
                "float16: 88.14% correctly rounded (jrelu: 100%).",
                _MASKED_NAN,
                _INT_FLOAT,
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.functional.celu(x, alpha=1.0)`, `torch.nn.CELU()`",
            (
                "Same argument, default and kink convention; `alpha=0` raises, as in jrelu.",
                "The second derivative at 0 is 0 (jrelu: 1/α).",
                "At a NaN input the gradient is 1 (jrelu: NaN).",
            ),
        ),
        "Flax": _flax("celu"),
        "Equinox": _equinox("celu"),
    },
    "selu": {
        "jax.nn": Peer(
            "`jax.nn.selu(x)`",
            (
                "Same constants and kink convention (selu'(0) = λα ≈ 1.7581); the second "
                "derivative at 0 agrees (λα).",
                "Backward: the compiled training step keeps 2.0 extra tensors per layer (jrelu: "
                "0.0; 1.0 with `precise=True`).",
                "**Half precision is computed in the input dtype, constants rounded to it**: of "
                "all inputs in [−8, 8], 24.65% in bfloat16 and 72.36% in float16 are correctly "
                "rounded (jrelu: 99.24% and 100%). The bfloat16 figures count the subnormal inputs, "
                "which XLA:CPU flushes to zero before either library sees them; of the others "
                "jax.nn rounds 24.84% correctly and jrelu 100.00% (the findings page's 0% not "
                "correctly rounded). float32 is up to 5.18 ulp off (jrelu: 1.49).",
                _MASKED_NAN,
                _INT_FLOAT,
            ),
        ),
        "PyTorch": Peer(
            "`torch.nn.functional.selu(x)`, `torch.nn.SELU()`",
            (
                "Same constants and kink convention; half precision computed in float32 and rounded "
                "once, as in jrelu.",
                "The second derivative at 0 is 0 (jrelu: λα).",
                "`selu(-0.0)` is -0.0 (jrelu: +0.0); at a NaN input the gradient is λ (jrelu: NaN).",
            ),
        ),
        "Flax": _flax("selu"),
        "Equinox": _equinox("selu"),
    },
    "squared_relu": {
        "jax.nn": Peer(
            "None (a pull request adding it, jax-ml/jax#12274, was closed): "
            "`jnp.square(jax.nn.relu(x))` is the usual code",
            (
                "Same values and first and second derivatives at the kink (0 and 0).",
                "Backward, residual FFN: 0.25 hidden-sized tensors per layer in float32, 0.5 in "
                "bfloat16 (jrelu: 0.0, it reads 2√y off the output).",
            ),
        ),
        "PyTorch": Peer(
            "None: `torch.nn.functional.relu(x) ** 2`",
            (
                "Two roundings in bfloat16, but relu is exact: bit-equal to jrelu on every finite "
                "bfloat16 input of the golden data.",
            ),
        ),
        "Flax": Peer(
            "None: `jnp.square(flax.linen.relu(x))`, which is jax.nn's",
            ("Everything said of jax.nn holds.",),
        ),
        "Equinox": Peer(
            "None: `eqx.nn.Lambda(lambda x: jnp.square(jax.nn.relu(x)))`",
            ("Everything said of jax.nn holds; `eqx.nn.Lambda(jrelu.squared_relu)` is jrelu's.",),
        ),
    },
    "reglu": {
        "jax.nn": Peer(
            "None: `jax.nn.glu(x, axis=-1)` splits `x` the same way (first half the value, second "
            "half the gate) but gates with a sigmoid; ReGLU is written "
            "`a, b = jnp.split(x, 2, -1); a * jax.nn.relu(b)`",
            (
                "Same values and derivatives (0 at the gate's kink b = 0).",
                "Backward, residual FFN in float32: 0.25 hidden-sized tensors per layer, as jrelu; "
                "in bfloat16 on XLA:CPU 2.5 with `jnp.split` and 2.125 with two slices (jrelu: "
                "2.0).",
            ),
        ),
        "PyTorch": Peer(
            "None: `torch.nn.functional.glu(x, dim=-1)` splits the same way with a sigmoid gate; "
            "ReGLU is written `a, b = x.chunk(2, dim=-1); a * F.relu(b)`",
            ("The axis argument is `dim` (jrelu: `axis`, as `jax.nn.glu`).",),
        ),
        "Flax": Peer(
            "None: `flax.linen.glu` / `flax.nnx.glu` are `jax.nn.glu` (a sigmoid gate)",
            ("Everything said of jax.nn holds.",),
        ),
        "Equinox": Peer(
            "None",
            ("`eqx.nn.Lambda(jrelu.reglu)` in a model; as for jax.nn otherwise.",),
        ),
    },
}


def missing(names: list[str]) -> list[str]:
    """What is wrong with :data:`PEERS` for the functions ``names`` (``jrelu.FUNCTIONS``), in words;
    empty when every function has one entry per peer and no entry names an unknown function."""
    problems = [f"{n}: no entry in docs/peers.py PEERS" for n in names if n not in PEERS]
    problems += [
        f"{n}: in docs/peers.py PEERS but not in jrelu.FUNCTIONS" for n in PEERS if n not in names
    ]
    for n, peers in PEERS.items():
        lacking = [p for p in ORDER if p not in peers]
        if lacking:
            problems.append(f"{n}: docs/peers.py PEERS has no {', '.join(lacking)}")
    return problems

"""``jrelu bench``: what is compared, how it is timed, and the speed and copy-ceiling measurements.

A :class:`Case` is one row of the benchmark: a :class:`~jrelu._registry.Spec` with its default
hyperparameters, run as jrelu, as its peer (``Spec.baseline``: jax.nn's function or the ``jnp.where``
formulation) and as PyTorch (``Spec.torch``). Random functions (rrelu) give two cases: ``[eval]`` without a
key and ``[train]`` with one, whose peers draw their slopes with ``jax.random.uniform`` and
``F.rrelu(training=True)``.

The two passes, both compiled with ``jax.jit`` and run on the same input:

* ``fwd``: ``y = f(x)``; moves at least ``2 n b`` bytes (read x, write y; ``b`` bytes per element).
* ``fwd+bwd``: ``y, dx = f(x), vjp(f, x)(g)``; moves at least ``4 n b`` bytes (read x and g, write y
  and dx). Both outputs are returned, so neither half is dead code, and no reduction dilutes the figure.

A gated function (reglu) halves the last axis: y and g have ``n / 2`` elements, and the floors are
``1.5 n b`` and ``3 n b`` (:data:`TRAFFIC_GATED`).

The ceiling is the device's copy bandwidth, measured at the same size and dtype: ``jit(jnp.copy)``, which
XLA compiles to a single ``copy`` (a memcpy), moving ``2 n b`` bytes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jrelu._registry import FUNCTIONS, Spec

PASSES = ("fwd", "fwd+bwd")
# Minimum bytes a pass must move, in units of n * itemsize (n: the elements of x). A gated function's
# y (and so g) has half of x's elements: read x + write y is 1.5 n, and fwd+bwd twice that.
TRAFFIC = {"fwd": 2.0, "fwd+bwd": 4.0, "copy": 2.0}
TRAFFIC_GATED = {"fwd": 1.5, "fwd+bwd": 3.0}
TRAFFIC_TEXT = {
    "fwd": "read x + write y = 2·n·b",
    "fwd+bwd": "read x, g + write y, dx = 4·n·b",
    "copy": "read x + write copy = 2·n·b",
    "gated fwd": "read x + write y (n/2 elements) = 1.5·n·b",
    "gated fwd+bwd": "read x, g + write y, dx = 3·n·b",
}


# --------------------------------------------------------------------------------------------------
# What is compared
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """One activation as benchmarked: its Spec, whether it takes a key, and its display label."""

    spec: Spec
    key: bool = False

    @property
    def fn(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        if not self.spec.random:
            return self.spec.name
        return f"{self.spec.name}[{'train' if self.key else 'eval'}]"

    @property
    def peer_name(self) -> str:
        """What the ``"jax.nn"`` rows actually ran: ``jax.nn.<name>``, ``jnp.where`` (prelu, rrelu
        without a key) or, with a key, ``jax.random + jnp.where`` (the slopes or the mask drawn by
        ``jax.random``)."""
        if self.key:
            return "jax.random + jnp.where"
        if self.spec.baseline_name != "jax.nn":
            return "jnp.where"
        if self.spec.family == "transformer":  # compositions of jax.nn.relu
            return "a * jax.nn.relu(b)" if self.spec.gated else "jnp.square(jax.nn.relu(x))"
        return f"jax.nn.{self.spec.baseline.__name__}"

    @property
    def learned(self) -> tuple[str, ...]:
        """Hyperparameters learned per channel in the models (those a Spec requires: prelu's slope).
        A dropout rate, though required, is a setting, not a weight: alpha_dropout keeps its rate."""
        return () if self.spec.needs_key else self.spec.required

    def jrelu(self, x: jax.Array, key: jax.Array | None = None, **override: Any) -> jax.Array:
        p = {**self.spec.params, **override}
        if self.key:
            p["key"] = key
        return self.spec.fn(x, **p)

    def peer(self, x: jax.Array, key: jax.Array | None = None, **override: Any) -> jax.Array:
        p = {**self.spec.params, **override}
        if self.key:
            return self.spec.train_baseline(x, key, **p)  # type: ignore[misc]
        return self.spec.baseline(x, **p)

    def act(self, impl: str) -> Callable[..., jax.Array]:
        return {"jrelu": self.jrelu, "jax.nn": self.peer}[impl]

    def torch(self, F: Any, x: Any) -> Any:
        p = dict(self.spec.params)
        if self.key:
            return self.spec.train_torch(F, x, **p)  # type: ignore[misc]
        return self.spec.torch(F, x, **p)


def build_cases(names: Iterable[str] | None = None) -> list[Case]:
    """The cases for the given Spec names (all by default), in :data:`FUNCTIONS` order."""
    wanted = set(FUNCTIONS) if names is None else set(names)
    out = []
    for s in FUNCTIONS.values():
        if s.name not in wanted:
            continue
        if not s.needs_key:
            out.append(Case(s))
        if s.random:
            if s.train_baseline is None:  # pragma: no cover - a new random Spec needs a peer
                raise NotImplementedError(
                    f"jrelu bench: no training-mode peer for random function {s.name!r}; give its "
                    "Spec a train_baseline and train_torch."
                )
            out.append(Case(s, key=True))
    return out


# --------------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Plan:
    """How long to time one measurement.

    After ``warmup`` calls, each repeat runs ``inner`` calls (as many as fit in about ``target``
    seconds at the pace of the calls that follow the warm-up) and divides its wall time by ``inner``;
    there are between ``min_repeats`` and ``repeats`` repeats, as many as fit in ``budget`` seconds.
    With ``sync_each`` every call is waited for before the next starts (CPU: XLA:CPU could otherwise run independent executions side by side, and the
    figure would depend on ``inner``); without it only the last call of a repeat is (GPU, TPU: the
    calls queue on one stream, and the host's dispatch time is hidden as in a real program).

    ``loop_elements`` (speed section only; 0: off): each compiled program runs its pass
    ``max(1, loop_elements // n)`` times inside one ``jit`` (:func:`in_jit_loop`) and the time is
    divided by that count. On a GPU a kernel on 2^16 elements takes about a microsecond, less than the
    host needs to launch it, so per-call timing measures dispatch; inside one program it measures
    the kernels.
    """

    target: float
    repeats: int
    min_repeats: int
    budget: float
    warmup: int = 5  # > jrelu._core._CACHE_AFTER: see _steady_call_seconds
    sync_each: bool = True
    loop_elements: int = 0

    def iterations(self, n: int) -> int:
        return max(1, min(1024, self.loop_elements // n)) if self.loop_elements else 1


@dataclasses.dataclass(frozen=True)
class Timing:
    seconds: float  # median time per call
    q1: float
    q3: float
    repeats: int
    inner: int
    # seconds per call of every repeat, in the order run: the i-th repeats of calls timed together by
    # time_interleaved ran next to each other, so their ratios give the run's own noise
    samples: tuple[float, ...] = ()
    iterations: int = 1  # passes per call (in_jit_loop); the figures are per pass
    # the process's CPU time per call of every repeat (all its threads, time.process_time): on a busy
    # machine wall time also counts the moments the process waited for a core, CPU time does not
    cpu_samples: tuple[float, ...] = ()

    def per_pass(self, iterations: int) -> Timing:
        k = float(iterations)
        return Timing(
            self.seconds / k,
            self.q1 / k,
            self.q3 / k,
            self.repeats,
            self.inner,
            tuple(t / k for t in self.samples),
            iterations,
            tuple(t / k for t in self.cpu_samples),
        )

    def as_dict(self) -> dict[str, Any]:
        out = {
            "seconds": self.seconds,
            "seconds_q1": self.q1,
            "seconds_q3": self.q3,
            "repeats": self.repeats,
            "calls_per_repeat": self.inner,
            "seconds_repeats": list(self.samples),
            "cpu_seconds_repeats": list(self.cpu_samples),
        }
        if self.iterations > 1:
            out["passes_per_call"] = self.iterations
        if self.cpu_samples:
            q1, med, q3 = np.percentile(self.cpu_samples, [25, 50, 75])
            out.update(
                cpu_seconds=float(med),
                cpu_seconds_q1=float(q1),
                cpu_seconds_q3=float(q3),
                cpu_seconds_repeats=list(self.cpu_samples),
            )
        return out


def time_calls(call: Callable[[], Any], sync: Callable[[Any], Any], plan: Plan) -> Timing:
    """Median wall time of ``call()`` after warm-up; ``sync(out)`` waits for ``out`` to be computed."""
    return time_interleaved([call], sync, plan)[0]


def time_interleaved(
    calls: Sequence[Callable[[], Any]], sync: Callable[[Any], Any], plan: Plan
) -> list[Timing]:
    """:func:`time_calls` for several calls at once, their repeats interleaved (A B B A A B ...), so
    that a slow drift of the machine (another process, the clock, the heat) hits each alike and
    their ratio stays fair. Each repeat's CPU time (``time.process_time``, every thread of the
    process) is kept beside its wall time: a wall-time gain bought with more cores shows there."""
    inner, repeats = [], plan.repeats
    for call in calls:
        est = _steady_call_seconds(call, sync, plan)
        inner.append(max(1, min(100_000, math.ceil(plan.target / est))))
        fit = int(plan.budget / len(calls) / (est * inner[-1]))
        repeats = min(repeats, max(plan.min_repeats, fit))
    times: list[list[float]] = [[] for _ in calls]
    cpu: list[list[float]] = [[] for _ in calls]
    for r in range(repeats):
        order = range(len(calls)) if r % 2 == 0 else reversed(range(len(calls)))
        for i in order:
            call, n = calls[i], inner[i]
            c0, t0 = time.process_time(), time.perf_counter()
            if plan.sync_each:
                for _ in range(n):
                    sync(call())
            else:
                for _ in range(n):
                    out = call()
                sync(out)
            times[i].append((time.perf_counter() - t0) / n)
            cpu[i].append((time.process_time() - c0) / n)
    out = []
    for t, c, n in zip(times, cpu, inner, strict=True):
        q1, med, q3 = np.percentile(t, [25, 50, 75])
        out.append(Timing(float(med), float(q1), float(q3), repeats, n, tuple(t), 1, tuple(c)))
    return out


def machine_state(spin: float = 0.2) -> dict[str, Any]:
    """How busy the machine is now: the load average (1, 5, 15 min) and the share of a core this
    process gets -- the thread CPU time over the wall time of a ``spin``-second busy loop on one
    thread (about 1.0 on a quiet machine; on a machine whose cores are all taken, the share the
    scheduler gives it)."""
    start, cpu = time.perf_counter(), time.thread_time()
    while time.perf_counter() - start < spin:
        pass
    wall = time.perf_counter() - start
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"load": load, "cpu_share": (time.thread_time() - cpu) / wall}


def _steady_call_seconds(call: Callable[[], Any], sync: Callable[[Any], Any], plan: Plan) -> float:
    """Seconds per call once ``call`` is warm: ``plan.warmup`` untimed calls, then the pace of calls
    made until ``plan.target / 4`` seconds have passed (at least one call, at most 1000).

    The first calls are not representative: the first may allocate and fault pages, and an eager call
    of jrelu with a hyperparameter changes signature on its third (the value is then cached on the
    device, :func:`jrelu._core.on_device`), which compiles once more. An estimate taken from those
    (measured: 230 us for a 9 us call) made a repeat run about 90 calls instead of 500, and the fixed
    cost of switching between the interleaved calls then weighed five times more on jrelu than on
    jax.nn (leaky_relu measured 1.75x jax.nn, 1.06x when estimated from warm calls)."""
    for _ in range(plan.warmup):
        sync(call())
    count, start = 0, time.perf_counter()
    while True:
        sync(call())
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= plan.target / 4 or count >= 1000:
            return max(elapsed / count, 1e-9)


@dataclasses.dataclass
class Program:
    """A jitted function lowered for its arguments; :meth:`compile` compiles (and times) it, after which
    calling ``fn(*args)`` reuses the executable."""

    fn: Callable[..., Any]
    args: tuple
    lowered: Any
    compile_seconds: float | None = None
    compiled: Any = None

    @classmethod
    def lower(cls, fn: Callable[..., Any], *args: Any) -> Program:
        return cls(fn, args, fn.lower(*args))  # type: ignore[attr-defined]

    iterations: int = 1  # passes per call (in_jit_loop)

    def compile(self) -> Program:
        t0 = time.perf_counter()
        self.compiled = self.lowered.compile()
        self.compile_seconds = time.perf_counter() - t0
        return self

    def __call__(self) -> Any:
        return self.fn(*self.args)


def compile_all(
    programs: Sequence[Program], workers: int, on_done: Callable[[], Any] | None = None
) -> None:
    """Compile ``programs``, ``workers`` at a time (XLA compiles outside the GIL, one core each).

    Nothing is timed while this runs; each program's own compile time is still its wall time, since
    every compilation has a core to itself when ``workers`` does not exceed the cores.
    """
    run_parallel([p.compile for p in programs], workers, on_done)


def compile_each(
    programs: Sequence[Program], workers: int, on_done: Callable[[], Any] | None = None
) -> list[BaseException | None]:
    """:func:`compile_all`, but a program that fails to compile gives its exception (in order; None
    for the others) instead of ending the others: the bench records it as that row's error."""
    return [
        v if isinstance(v, Exception) else None
        for v in run_parallel([p.compile for p in programs], workers, on_done, catch=True)
    ]


def run_parallel(
    jobs: Sequence[Callable[[], Any]],
    workers: int,
    on_done: Callable[[], Any] | None = None,
    catch: bool = False,
) -> list[Any]:
    """The results of ``jobs`` (compile-only work), ``workers`` at a time, in order; with ``catch``, a
    job that raises gives its exception as its result."""
    if catch:
        jobs = [functools.partial(_caught, job) for job in jobs]
    if workers <= 1 or len(jobs) <= 1:
        out = []
        for job in jobs:
            out.append(job())
            if on_done:
                on_done()
        return out
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        if on_done:
            for fut in futures:
                fut.add_done_callback(lambda _: on_done())
        return [fut.result() for fut in futures]


def _caught(job: Callable[[], Any]) -> Any:
    try:
        return job()
    except Exception as e:  # the caller records it
        return e


def compile_workers(backend: str = "cpu") -> int:
    """Parallel compilations: one per core, at most 8 (memory), at least 1; one at a time off the CPU
    (XLA:GPU autotunes its kernels on the device while compiling: two at once would time each other)."""
    if backend != "cpu":
        return 1
    return max(1, min(8, cores()))


def cores() -> int:
    """The CPU cores this process may run on."""
    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    )


def cache_bytes() -> int | None:
    """The size of the CPU's largest (last-level) cache, from Linux's sysfs; None where it is not
    there. A pass whose bytes fit in it is not bound by memory bandwidth."""
    sizes = []
    for entry in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (entry / "size").read_text().strip()
        except OSError:
            continue
        scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:].upper(), 1)
        digits = text.rstrip("KkMmGg")
        if digits.isdigit():
            sizes.append(int(digits) * scale)
    return max(sizes) if sizes else None


# --------------------------------------------------------------------------------------------------
# Sizes and inputs
# --------------------------------------------------------------------------------------------------

ROW = 1024  # inputs are (n // 1024, 1024): a batch of 1024-feature activations, when n allows


def shape_of(n: int) -> tuple[int, ...]:
    return (n // ROW, ROW) if n >= ROW and n % ROW == 0 else (n,)


def size_text(n: int) -> str:
    return f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else f"{n:,}"


def make_inputs(n: int, dtype: Any, seed: int = 0) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``x`` and the cotangent ``g`` (standard normal: half the inputs on each side of the kink), a key."""
    kx, kg, kk = jax.random.split(jax.random.key(seed), 3)
    x = jax.random.normal(kx, shape_of(n), dtype)
    g = jax.random.normal(kg, shape_of(n), dtype)
    return jax.block_until_ready((x, g, kk))


def sync_jax(out: Any) -> Any:
    return jax.block_until_ready(out)


# --------------------------------------------------------------------------------------------------
# Compiled passes
# --------------------------------------------------------------------------------------------------


def in_jit_loop(fn: Callable[..., Any], iterations: int, n_arrays: int) -> Callable[..., Any]:
    """``fn`` run ``iterations`` times inside one program, returning the last result.

    Each iteration reads its inputs (the first ``n_arrays`` arguments) as ``a + 0 * s``, with ``s``
    one element of the previous result: XLA does not fold a floating-point product with zero (it is
    NaN for an infinite ``s``), so it can neither hoist the loop-invariant pass out of the loop nor
    drop an iteration, and the broadcast scalar fuses into the pass's kernel, which moves the same
    bytes as one call of ``fn``. (An ``optimization_barrier`` does not survive XLA:CPU's pipeline:
    the pass was hoisted, measured.)
    """
    if iterations <= 1:
        return fn

    def looped(*args: Any) -> Any:
        arrays, rest = args[:n_arrays], args[n_arrays:]

        def zero_of(out: Any) -> jax.Array:
            leaf = jax.tree.leaves(out)[0]
            return jnp.reshape(leaf, (-1,))[0] * jnp.zeros((), leaf.dtype)

        def body(_: Any, carry: Any) -> Any:
            # the scalar is carried on its own: the pass then writes its result in place of the last
            # one instead of reading an element of it (which would cost XLA a copy per iteration)
            s, _last = carry
            fresh = [a + jnp.broadcast_to(s.astype(a.dtype), a.shape) for a in arrays]
            out = fn(*fresh, *rest)
            return zero_of(out), out

        first = fn(*args)
        return jax.lax.fori_loop(1, iterations, body, (zero_of(first), first))[1]

    return looped


def jax_pass(act: Callable[..., jax.Array], pass_: str, iterations: int = 1) -> Callable[..., Any]:
    """``jit`` of the forward pass ``(x, g, key) -> y`` or of ``(x, g, key) -> (y, dx)``, run
    ``iterations`` times inside the program (:func:`in_jit_loop`)."""
    if pass_ == "fwd":

        def fwd(x: jax.Array, g: jax.Array, key: jax.Array) -> jax.Array:
            del g
            return act(x, key)

        return jax.jit(in_jit_loop(fwd, iterations, 2))

    def fwd_bwd(x: jax.Array, g: jax.Array, key: jax.Array) -> tuple[jax.Array, jax.Array]:
        y, vjp = jax.vjp(lambda x: act(x, key), x)
        (dx,) = vjp(g if g.shape == y.shape else g[..., : y.shape[-1]])  # a gated y is half of x
        return y, dx

    return jax.jit(in_jit_loop(fwd_bwd, iterations, 2))


# The ceiling kernels: a plain copy, and a negation (the same traffic as a loop fusion: XLA:CPU runs a
# bare ``copy`` on one thread, so at cache-resident sizes a one-op fusion beats it).
CEILING_KERNELS = {"copy": jnp.copy, "negate": jnp.negative}


def ceiling_pass(kernel: str, iterations: int = 1) -> Callable[..., Any]:
    return jax.jit(in_jit_loop(CEILING_KERNELS[kernel], iterations, 1))


# --------------------------------------------------------------------------------------------------
# PyTorch (optional)
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Torch:
    """PyTorch, eager, on the device that matches JAX's backend (CPU, or CUDA when JAX runs on a GPU)."""

    torch: Any
    F: Any
    device: str

    @property
    def version(self) -> str:
        return str(self.torch.__version__)

    def threads(self) -> int:
        return int(self.torch.get_num_threads())

    def inputs(self, x: jax.Array, g: jax.Array) -> tuple[Any, Any]:
        t = self.torch
        dt = {"float32": t.float32, "bfloat16": t.bfloat16, "float16": t.float16}[str(x.dtype)]

        def conv(a: jax.Array) -> Any:
            # np.array copies: torch.from_numpy wants a writable array, and JAX's are read-only.
            return t.from_numpy(np.array(a.astype(jnp.float32))).to(device=self.device, dtype=dt)

        return conv(x), conv(g)

    def sync(self, out: Any) -> Any:
        if self.device == "cuda":
            self.torch.cuda.synchronize()
        return out

    def pass_fn(self, case: Case, pass_: str, x: Any, g: Any) -> Callable[[], Any]:
        t, F = self.torch, self.F
        if pass_ == "fwd":

            def fwd() -> Any:
                with t.no_grad():
                    return case.torch(F, x)

            return fwd

        def fwd_bwd() -> Any:
            xr = x.detach().requires_grad_(True)
            y = case.torch(F, xr)
            (dx,) = t.autograd.grad(y, xr, g)
            return y, dx

        return fwd_bwd


def find_torch(backend: str) -> Torch | None:
    """PyTorch if it is importable and can run where JAX runs (CPU; CUDA for a JAX GPU); else None."""
    try:
        import torch
        import torch.nn.functional as F
    except Exception:  # not installed, or broken: the benchmark runs without it
        return None
    if backend == "cpu":
        return Torch(torch, F, "cpu")
    if backend in ("gpu", "cuda") and torch.cuda.is_available():
        return Torch(torch, F, "cuda")
    return None


# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------


def speed_row(
    case: Case | None,
    impl: str,
    dtype: str,
    n: int,
    pass_: str,
    timing: Timing,
    compile_s: float | None,
    peer: str | None = None,
) -> dict[str, Any]:
    itemsize = np.dtype(jnp.dtype(dtype)).itemsize
    units = (TRAFFIC_GATED if case is not None and case.spec.gated else TRAFFIC)[pass_]
    nbytes = int(units * n * itemsize)
    row: dict[str, Any] = {}
    if case is not None:
        row.update(fn=case.fn, label=case.label, key=case.key)
    row.update(impl=impl)
    if peer is not None:
        row["peer"] = peer
    row.update(dtype=dtype, size=n, shape=list(shape_of(n)))
    if pass_ != "copy":
        row["pass"] = pass_
    row.update(bytes=nbytes, **timing.as_dict())
    row["gbps"] = nbytes / timing.seconds / 1e9
    row["compile_seconds"] = compile_s
    return row


def copy_programs(x: jax.Array, iterations: int = 1) -> dict[str, Program]:
    return {
        k: dataclasses.replace(Program.lower(ceiling_pass(k, iterations), x), iterations=iterations)
        for k in CEILING_KERNELS
    }


def measure_copy(programs: dict[str, Program], plan: Plan) -> dict[str, Any]:
    """The copy ceiling at x's size and dtype: the faster of the ceiling kernels (both reported)."""
    rows = {}
    for k, p in programs.items():
        (x,) = p.args
        rows[k] = speed_row(
            None,
            "copy",
            str(x.dtype),
            x.size,
            "copy",
            time_calls(p, sync_jax, plan).per_pass(p.iterations),
            p.compile_seconds,
        )
    best = max(rows, key=lambda k: rows[k]["gbps"])
    out = dict(rows[best])
    out["kernel"] = best
    out["kernels"] = {k: {"seconds": r["seconds"], "gbps": r["gbps"]} for k, r in rows.items()}
    out["compile_seconds"] = sum(r["compile_seconds"] or 0.0 for r in rows.values())
    return out


def jax_program(
    case: Case,
    impl: str,
    pass_: str,
    x: jax.Array,
    g: jax.Array,
    key: jax.Array,
    iterations: int = 1,
) -> Program:
    prog = Program.lower(jax_pass(case.act(impl), pass_, iterations), x, g, key)
    prog.iterations = iterations
    return prog


def measure_jax(
    case: Case, pass_: str, programs: dict[str, Program], plan: Plan
) -> list[dict[str, Any]]:
    """Speed rows for ``case``'s ``pass_`` as each impl in ``programs`` (timed interleaved)."""
    impls = list(programs)
    timings = time_interleaved([programs[i] for i in impls], sync_jax, plan)
    rows = []
    for impl, timing in zip(impls, timings, strict=True):
        p = programs[impl]
        timing = timing.per_pass(p.iterations)
        x = p.args[0]
        peer = case.peer_name if impl == "jax.nn" else None
        rows.append(
            speed_row(case, impl, str(x.dtype), x.size, pass_, timing, p.compile_seconds, peer)
        )
    return rows


def measure_torch(
    tch: Torch, case: Case, pass_: str, xt: Any, gt: Any, dtype: str, n: int, plan: Plan
) -> dict[str, Any]:
    call = tch.pass_fn(case, pass_, xt, gt)
    timing = time_calls(call, tch.sync, plan)
    return speed_row(
        case, "torch", dtype, n, pass_, timing, None, f"torch.nn.functional ({tch.device})"
    )


def measure_dispatch(case: Case, impl: str, plan: Plan, n: int = 1024) -> dict[str, Any]:
    """One eager call of the public function (no outer jit) on a small input: the per-call overhead."""
    x, _, key = make_inputs(n, jnp.float32)
    act = case.act(impl)
    timing = time_calls(lambda: act(x, key), sync_jax, plan)
    return {
        "fn": case.fn,
        "label": case.label,
        "key": case.key,
        "impl": impl,
        "size": n,
        **timing.as_dict(),
    }


def measure_dispatch_pair(
    case: Case, impls: Sequence[str], plan: Plan, n: int = 1024
) -> list[dict[str, Any]]:
    """:func:`measure_dispatch` for each impl, timed interleaved (so their ratio has a noise band)."""
    x, _, key = make_inputs(n, jnp.float32)
    acts = [case.act(impl) for impl in impls]
    calls = [lambda act=act: act(x, key) for act in acts]
    timings = time_interleaved(calls, sync_jax, plan)
    return [
        {
            "fn": case.fn,
            "label": case.label,
            "key": case.key,
            "impl": impl,
            "size": n,
            **timing.as_dict(),
        }
        for impl, timing in zip(impls, timings, strict=True)
    ]


def ratios(
    rows: Sequence[dict[str, Any]], num: str = "jrelu", den: str = "jax.nn"
) -> dict[tuple, float]:
    """``(label, dtype, pass, size) -> seconds[num] / seconds[den]`` over the speed rows."""
    by = {
        (r["label"], r["dtype"], r["pass"], r["size"], r["impl"]): r["seconds"]
        for r in rows
        if "label" in r
    }
    out = {}
    for (label, dtype, pass_, size, impl), s in by.items():
        if impl == num and (label, dtype, pass_, size, den) in by:
            out[(label, dtype, pass_, size)] = s / by[(label, dtype, pass_, size, den)]
    return out


def median(values: Iterable[float]) -> float:
    v = list(values)
    return statistics.median(v) if v else math.nan

"""``jrelu bench``: jrelu against jax.nn, PyTorch and the device's copy bandwidth, on whatever JAX finds.

Sections, all in one run (``--sections`` picks some):

* **speed** -- forward and forward+backward of every function, float32 and bfloat16, over a range of
  sizes: median seconds, GB/s of the bytes the pass must move at least, the share of the device's copy
  bandwidth (measured in the same run, same size and dtype), and the time ratio to jax.nn (or the
  ``jnp.where`` formulation where jax.nn has none) and to PyTorch (eager, when importable).
* **memory** -- activation-sized tensors per layer a compiled training step keeps beyond the identity
  network, for an MLP and a small CNN (compile only; see :func:`jrelu.testing.extra_tensors_per_layer`).
* **train** -- median time of a jitted Flax + optax training step of an MLP and a small CNN.
* **dispatch** -- the overhead of one eager call of the public function on a small input.
* **ffn** -- the transformer FFN activations (squared_relu, reglu) in a residual FFN training step
  ``x + act(x @ W1) @ W2``, float32 and bfloat16, jrelu against the jax.nn formulation
  (``jnp.square(jax.nn.relu(h))``, ``a * jax.nn.relu(b)``): XLA's temporary bytes of ``jit(grad)`` at
  two depths (compile only) and the hidden-sized tensors per layer kept beyond the identity FFN, and
  the median time of one SGD step.
* **blocks** -- every function in a pre-LN transformer block on ``(batch, seq, d_model)`` activations,
  at each ``d_model`` of the plan (:mod:`jrelu._cli.bench.blocks`): hidden-sized tensors kept beyond the
  identity block and XLA's bytes accessed and flops (compile only), and the median time of one SGD
  step, float32 and bfloat16.
* **sparse** -- ``jrelu.sparse`` (an FFN's down projection that reads only the rows of its active
  units) against the dense ``jnp`` computation, over sparsity, d_model and tokens, with the crossover
  where it starts to pay (:mod:`jrelu._cli.bench.sparse`).

Compilation is timed separately and excluded; every timing warms up, waits with ``block_until_ready``
and reports the median of repeats with the interquartile range, and keeps every repeat's time. The run
ends with verdicts (:mod:`jrelu._cli.bench.report`): per section, where jrelu is faster than its peer, at
parity or slower beyond the run's own noise band, and the memory it saves. Three plans (:func:`plans`):
plain ``jrelu bench`` (2^16, 2^20, 2^24; sized for a few minutes on 2 CPU cores), ``--quick`` (a smoke
test) and ``--full`` (the kept run of ``benchmarks/run.py``, with the project's internal goals). See
README.md, "Benchmarks".
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import platform
import sys
import time
import traceback
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from jrelu._cli.bench import MODES, report
from jrelu._cli.bench import blocks as bb
from jrelu._cli.bench import models as bm
from jrelu._cli.bench import sparse as bsp
from jrelu._cli.bench import speed as bs
from jrelu._cli.bench import verdicts as bv
from jrelu._version import __version__

# --------------------------------------------------------------------------------------------------


def _device_info() -> dict[str, Any]:
    d = jax.devices()[0]
    info: dict[str, Any] = {
        "device": str(d.device_kind),
        "backend": jax.default_backend(),
        "device_count": jax.device_count(),
    }
    detail = str(d.device_kind)
    if d.platform == "cpu":
        model = platform.processor() or platform.machine()
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        detail = f"{model}, {bs.cores()} cores"
    info["device_detail"] = detail
    # the last-level cache, where the bench can read it (a CPU's): a pass whose bytes fit in it is not
    # a bandwidth measurement, and the report does not show its share of copy as one
    info["cache_bytes"] = bs.cache_bytes() if d.platform == "cpu" else None
    try:
        info["platform_version"] = str(d.client.platform_version)
    except Exception:
        info["platform_version"] = ""
    return info


def _versions() -> dict[str, Any]:
    out: dict[str, Any] = {"jax_version": jax.__version__}
    for name in ("jaxlib", "flax", "optax", "numpy"):
        try:
            out[f"{name}_version"] = version(name)
        except PackageNotFoundError:
            out[f"{name}_version"] = None
    out["jrelu_version"] = __version__
    out["python_version"] = platform.python_version()
    return out


def run(
    args: argparse.Namespace,
    *,
    mode: str,
    sizes: list[int],
    fns: list[str] | None,
    dtypes: list[str],
) -> int:
    """``jrelu bench`` once :func:`jrelu._cli.bench.run` has validated the options: run the sections,
    print the report and write the JSON and the plot."""
    results = collect(
        sizes=sizes,
        dtypes=dtypes,
        fns=fns,
        sections=list(dict.fromkeys(args.sections)),
        mode=mode,
        repeats=args.repeats,
        use_torch=not args.no_torch,
        hlo_dir=Path(args.hlo) if args.hlo else None,
        checkpoint=(lambda r: _write_json(args.json, r)) if args.json else None,
    )

    console = Console()
    if not console.is_terminal:  # a log file or a pipe: wide enough for the tables
        console = Console(width=170)
    report.print_report(console, results)
    if args.json:
        _write_json(args.json, results)
        print(f"wrote {args.json}")
    if args.plot:
        report.plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 1 if results["errors"] else 0


def plans(mode: str, repeats: int | None, backend: str) -> dict[str, Any]:
    """The timing plans of a run (see :class:`jrelu._cli.bench.speed.Plan`) for ``mode``.

    The default run is sized for 2 CPU cores in about 3 minutes: short repeats (each about 5 ms of
    calls) and a tight budget per measurement, 7 repeats; ``--full`` times each repeat 4x longer, with
    15 repeats and larger training steps. Off the CPU every speed program runs its pass in a loop
    inside one ``jit`` up to 2^22 elements a call, so that small sizes time kernels, not dispatch.
    """
    quick, full = mode == "quick", mode == "full"
    n_rep = repeats or (5 if quick else 15 if full else 7)
    sync_each = backend == "cpu"  # see Plan
    loop = 0 if backend == "cpu" else 2**22

    def pick(q: float, d: float, f: float) -> float:
        return q if quick else f if full else d

    return {
        "speed": bs.Plan(
            target=pick(0.002, 0.005, 0.02),
            repeats=n_rep,
            min_repeats=min(5, n_rep),
            budget=pick(0.05, 0.25, 2.0),
            sync_each=sync_each,
            loop_elements=loop,
        ),
        # A training step on a shared 2-core machine varies by 20% from one step to the next: each
        # repeat times several steps, and the median is over the repeats.
        "train": bs.Plan(
            target=pick(0.0, 0.03, 0.25),
            repeats=n_rep,
            min_repeats=min(5, n_rep),
            budget=pick(0.3, 0.8, 10.0),
            sync_each=sync_each,
        ),
        "dispatch": bs.Plan(
            target=pick(0.005, 0.005, 0.02),
            repeats=n_rep,
            min_repeats=min(5, n_rep),
            budget=pick(0.05, 0.1, 0.5),
            sync_each=True,
        ),
    }


def collect(
    *,
    sizes: list[int],
    dtypes: list[str],
    fns: list[str] | None,
    sections: list[str],
    mode: str = "default",
    repeats: int | None = None,
    use_torch: bool = True,
    hlo_dir: Path | None = None,
    checkpoint: Any = None,
    quick: bool | None = None,
) -> dict[str, Any]:
    """Run the selected sections and return the results dict (the ``--json`` document).

    ``mode`` is ``"quick"``, ``"default"`` or ``"full"`` (``quick=True`` is ``mode="quick"``). A
    section that raises is recorded in ``results["errors"]`` and the run goes on with the next one;
    so is a row (one program, one measurement) that raises, and its section goes on.
    ``checkpoint(results)``, if given, is called after every section (``--json`` writes the file then,
    so a run cut short by a timeout still leaves what it measured).
    """
    if quick is not None:
        mode = "quick" if quick else mode
    if mode not in MODES:
        raise ValueError(f"jrelu bench: mode must be one of {MODES}, got {mode!r}.")
    quick = mode == "quick"
    t_start = time.perf_counter()
    backend = jax.default_backend()
    cases = bs.build_cases(fns)
    tch = bs.find_torch(backend) if use_torch and "speed" in sections else None
    plan = plans(mode, repeats, backend)
    speed_plan, train_plan, dispatch_plan = plan["speed"], plan["train"], plan["dispatch"]
    impls = ["jrelu", "jax.nn"]
    dims = bm.train_dims(mode)
    workers = bs.compile_workers(backend)

    # How busy the machine is, before anything runs: the verdicts do not call a difference that
    # the repeats do not settle on a busy machine (verdicts.busy), and the header shows it.
    machine: dict[str, Any] = {"cores": bs.cores(), "start": bs.machine_state(), "sections": {}}
    results: dict[str, Any] = {**_device_info(), **_versions()}
    results.update(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        machine=machine,
        quick=quick,
        mode=mode,
        torch_version=tch.version if tch else None,
        torch_device=tch.device if tch else None,
        torch_threads=tch.threads() if tch else None,
        config={
            "sections": sections,
            "fns": [c.label for c in cases],
            "dtypes": dtypes,
            "sizes": sizes,
            "repeats": speed_plan.repeats,
            "bytes": {k: v for k, v in bs.TRAFFIC_TEXT.items()},
            "memory_dims": bm.memory_dims(),
            "compile_workers": workers,
            "timing": {k: dataclasses.asdict(v) for k, v in plan.items()},
        },
        copy=[],
        speed=[],
        memory=[],
        train_step=[],
        dispatch=[],
        ffn=[],
        blocks=[],
        sparse=[],
        skipped=[],
        errors=[],
    )

    @contextlib.contextmanager
    def section(name: str) -> Any:
        """A section that raises is recorded and the run goes on; the results are kept after each,
        with how busy the machine was at its end (drift between sections shows there)."""
        t0 = time.perf_counter()
        try:
            yield
        except Exception as e:  # keep the other sections; say what failed
            _record_error(results, name, e)
        machine["sections"][name] = bs.machine_state()
        say(f"{name}: {time.perf_counter() - t0:.1f} s")
        if checkpoint:
            checkpoint(results)

    def row_error(name: str, error: BaseException, **where: Any) -> None:
        _record_error(results, name, error, **where)

    total = 0
    if "memory" in sections:
        total += 1 + len(bm.MODELS) * (1 + len(cases) * len(impls))
    if "speed" in sections:
        per = len(cases) * len(bs.PASSES) * (len(impls) + (1 if tch else 0))
        total += len(dtypes) * len(sizes) * (1 + per)
    if "train" in sections:
        total += len(bm.MODELS) * len(cases) * len(impls)
    if "dispatch" in sections:
        total += len(cases) * len(impls)
    ffn_specs = bm.ffn_specs(fns)
    ffn_dtypes = [d for d in ("float32", "bfloat16") if d in dtypes]
    if "ffn" in sections:
        total += len(ffn_specs) * len(ffn_dtypes) * 2 * len(impls)
    block_cases = bb.block_cases(cases, mode)
    block_dims = bb.block_dims(mode)
    # On the CPU bfloat16 blocks only in the kept run (XLA:CPU computes bfloat16 matmuls in float32,
    # and a block takes about twice as long to compile); on accelerators, where transformers train in
    # bfloat16, always.
    if mode == "full" or backend != "cpu":
        block_dtypes = ffn_dtypes
    else:
        block_dtypes = [d for d in ffn_dtypes if d == "float32"]
    if "blocks" in sections:
        total += len(block_dims) * len(block_dtypes) * len(block_cases) * 2 * len(impls)
    if "sparse" in sections:
        total += bsp.count(mode, fns)

    # Progress: a bar in a terminal, and a line per section and per speed block (also in a log).
    console = Console(stderr=True, log_path=False)

    def say(text: str) -> None:
        console.print(escape(text), highlight=False, soft_wrap=True)

    for line in report.start_lines(results):  # at once: the first section compiles for a while
        say(line)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("jrelu bench", total=total)

        def step(text: str) -> None:
            progress.update(task, description=escape(text))

        def done() -> None:
            progress.advance(task)

        # Compile-only, in parallel on the CPU: nothing is being timed yet.
        if "memory" in sections:
            with section("memory"):
                say(
                    f"memory: compiling {len(bm.MODELS) * (1 + 2 * len(cases)) + 1} training "
                    f"steps ({workers} at a time; compile only, nothing timed)"
                )
                step(f"memory: compiling training steps ({workers} at a time)")
                jobs: list[tuple[Any, str, str, Any]] = [(None, "probe", "mlp", bm.relu_probe)]
                for model in bm.MODELS:
                    jobs.append(
                        (None, "identity", model, partial(bm.floor_tensors_per_layer, model))
                    )
                    for case in cases:
                        for impl in impls:
                            jobs.append(
                                (case, impl, model, partial(bm.extra_tensors, case, impl, model))
                            )
                values = bs.run_parallel([job[3] for job in jobs], workers, done, catch=True)
                probe = values[0]
                if isinstance(probe, Exception):
                    ok, why = False, f"the jax.nn.relu probe failed: {type(probe).__name__}"
                else:
                    ok, why = bm.memory_available(probe)
                results["memory_status"] = {
                    "available": ok,
                    "reason": why,
                    "probe": None
                    if isinstance(probe, Exception)
                    else bm.memory_row(None, "probe", "mlp", probe, fn="relu", label="jax.nn.relu"),
                }
                for (case, impl, model, _), value in zip(jobs[1:], values[1:], strict=True):
                    if isinstance(value, Exception):
                        where = {"model": model, "impl": impl}
                        if case is not None:
                            where["label"] = case.label
                        row_error("memory", value, **where)
                    elif case is None:
                        results["memory"].append(
                            bm.memory_row(
                                None,
                                "identity",
                                model,
                                {"extra_tensors_per_layer": 0.0, "available": ok},
                                floor_tensors_per_layer=value,
                            )
                        )
                    else:
                        row = bm.memory_row(case, impl, model, value)
                        row["available"] = bool(row["available"] and ok)
                        results["memory"].append(row)

        if "speed" in sections:
            with section("speed"):
                for dt in dtypes:
                    for n in sizes:
                        t0 = time.perf_counter()
                        _speed_block(
                            results,
                            cases,
                            impls,
                            tch,
                            dt,
                            n,
                            speed_plan,
                            workers,
                            hlo_dir,
                            last=n == sizes[-1],
                            step=step,
                            done=done,
                            row_error=row_error,
                        )
                        if checkpoint:  # a timeout mid-section still leaves every finished size
                            checkpoint(results)
                        say(f"  speed {dt} {bs.size_text(n)}: {time.perf_counter() - t0:.1f} s")
            results["compile"] = report.compile_summary(
                {"speed": results["speed"] + results["copy"], "train": results["train_step"]}
            )

        if "train" in sections:
            with section("train"):
                step(f"train: compiling ({workers} at a time)")
                tprogs = {
                    (model, case.label, impl): bm.train_program(case, impl, model, dims[model])
                    for model in bm.MODELS
                    for case in cases
                    for impl in impls
                }
                errs = bs.compile_each(list(tprogs.values()), workers)
                if hlo_dir:
                    for ((model, label, impl), prog), err in zip(tprogs.items(), errs, strict=True):
                        if err is None:
                            _write_hlo(hlo_dir, f"train-{model}-{label}-{impl}", prog)
                failed = {k for k, e in zip(tprogs, errs, strict=True) if e is not None}
                for k, e in zip(tprogs, errs, strict=True):
                    if e is not None:
                        row_error("train", e, model=k[0], label=k[1], impl=k[2])
                for model in bm.MODELS:
                    for case in cases:
                        step(f"train {model} {case.label}")
                        keys = [(model, case.label, impl) for impl in impls]
                        pair = {k[2]: tprogs[k] for k in keys}
                        if not failed.intersection(keys):
                            try:
                                results["train_step"].extend(
                                    bm.train_step_rows(case, model, dims[model], pair, train_plan)
                                )
                            except Exception as e:
                                row_error("train", e, model=model, label=case.label)
                        for _ in impls:
                            done()
                # Before a verdict rests on one model's step, or on repeats whose interval reaches 1,
                # those steps are timed again and the new repeats join the old (bv.remeasure): a
                # burst of load on a busy machine hits one pair, not the next measurement.
                by_label = {c.label: c for c in cases}
                for ident in bv.remeasure(results, "train_step"):
                    model, label = ident["model"], ident["label"]
                    step(f"train {model} {label}: measuring again")
                    pair = {impl: tprogs[(model, label, impl)] for impl in impls}
                    try:
                        again = bm.train_step_rows(
                            by_label[label], model, dims[model], pair, train_plan
                        )
                        bv.pool_repeats(results["train_step"], again)
                    except Exception as e:
                        row_error("train", e, model=model, label=label, kind="again")
                del tprogs
            results["compile"] = report.compile_summary(
                {"speed": results["speed"] + results["copy"], "train": results["train_step"]}
            )

        if "dispatch" in sections:
            with section("dispatch"):
                for case in cases:
                    step(f"dispatch {case.label}")
                    try:
                        results["dispatch"].extend(
                            bs.measure_dispatch_pair(case, impls, dispatch_plan)
                        )
                    except Exception as e:
                        row_error("dispatch", e, label=case.label)
                    for _ in impls:
                        done()

        if "ffn" in sections and ffn_specs:
            with section("ffn"):
                fdims = bm.ffn_dims(mode)
                results["config"]["ffn_dims"] = dataclasses.asdict(fdims)
                ok = results.get("memory_status", {}).get("available", True)
                for spec in ffn_specs:
                    for dt in ffn_dtypes:
                        step(f"ffn {spec.name} {dt}: memory (compile only)")
                        for impl in impls:
                            try:
                                row = bm.ffn_memory_row(spec, impl, fdims, dt)
                                row["available"] = bool(row["available"] and ok)
                                results["ffn"].append(row)
                            except Exception as e:
                                row_error("ffn", e, fn=spec.name, impl=impl, dtype=dt)
                            done()
                        step(f"ffn {spec.name} {dt}: training step")
                        fprogs = {i: bm.ffn_step_program(spec, i, fdims, dt) for i in impls}
                        errs = bs.compile_each(list(fprogs.values()), workers)
                        try:
                            for err in errs:
                                if err is not None:
                                    raise err
                            results["ffn"].extend(
                                bm.ffn_time_rows(spec, fdims, dt, fprogs, train_plan)
                            )
                        except Exception as e:
                            row_error("ffn", e, fn=spec.name, dtype=dt, kind="time")
                        for _ in impls:
                            done()

        if "blocks" in sections and block_cases:
            with section("blocks"):
                t0 = time.perf_counter()
                results["config"]["block_dims"] = [dataclasses.asdict(d) for d in block_dims]
                results["config"]["block_dtypes"] = block_dtypes
                ok = results.get("memory_status", {}).get("available", True)
                grid = [
                    (d, dt, bc) for d in block_dims for dt in block_dtypes for bc in block_cases
                ]
                step(f"blocks: memory, compiling training steps ({workers} at a time)")
                mjobs = [
                    (d, dt, bc, impl, partial(bb.memory_row, bc, impl, d, dt))
                    for d, dt, bc in grid
                    for impl in impls
                ]
                values = bs.run_parallel([j[-1] for j in mjobs], workers, done, catch=True)
                for (d, dt, bc, impl, _), value in zip(mjobs, values, strict=True):
                    if isinstance(value, Exception):
                        row_error(
                            "blocks", value, label=bc.label, dtype=dt, d_model=d.d_model, impl=impl
                        )
                    else:
                        value["available"] = bool(value["available"] and ok)
                        results["blocks"].append(value)
                say(f"  blocks memory: {time.perf_counter() - t0:.1f} s (compile only)")
                for d, dt, bc in grid:
                    step(f"blocks d_model {d.d_model} {dt} {bc.label}: training step")
                    bprogs = {i: bb.step_program(bc, i, d, dt) for i in impls}
                    errs = bs.compile_each(list(bprogs.values()), workers)
                    try:
                        for err in errs:
                            if err is not None:
                                raise err
                        results["blocks"].extend(bb.time_rows(bc, d, dt, bprogs, train_plan))
                    except Exception as e:
                        row_error(
                            "blocks", e, kind="time", label=bc.label, dtype=dt, d_model=d.d_model
                        )
                    for _ in impls:
                        done()
                    if checkpoint:
                        checkpoint(results)

        if "sparse" in sections:
            with section("sparse"):  # section() says how long it took, as for the others
                bsp.run_section(
                    results, mode, fns, repeats, backend, workers, step, done, row_error
                )

    results["compile"] = report.compile_summary(
        {"speed": results["speed"] + results["copy"], "train": results["train_step"]}
    )
    machine["end"] = bs.machine_state()
    results["wall_seconds"] = time.perf_counter() - t_start
    return results


def _speed_block(
    results: dict[str, Any],
    cases: list[Any],
    impls: list[str],
    tch: Any,
    dt: str,
    n: int,
    plan: Any,
    workers: int,
    hlo_dir: Path | None,
    *,
    last: bool,
    step: Any,
    done: Any,
    row_error: Any,
) -> None:
    """The speed rows of one dtype and size: the copy ceiling, then every case and pass as jrelu and
    jax.nn (interleaved), then PyTorch. A program that fails to compile or run costs its own row
    (recorded in ``errors``), not the block."""
    where = f"{dt} {bs.size_text(n)}"
    x, g, key = bs.make_inputs(n, jnp.dtype(dt))
    its = plan.iterations(n)
    step(f"speed {where}: compiling")
    ceiling = bs.copy_programs(x, its)
    progs = {
        (case.label, pass_, impl): bs.jax_program(case, impl, pass_, x, g, key, its)
        for case in cases
        for pass_ in bs.PASSES
        for impl in impls
    }
    cerrs = bs.compile_each(list(ceiling.values()), workers)
    errs = dict(zip(progs, bs.compile_each(list(progs.values()), workers), strict=True))
    if hlo_dir and last:
        for (label, pass_, impl), prog in progs.items():
            if errs[(label, pass_, impl)] is None:
                _write_hlo(hlo_dir, f"speed-{label}-{pass_}-{impl}-{dt}-{n}", prog)
    step(f"speed {where}: copy ceiling")
    copy_row = None
    try:
        for e in cerrs:
            if e is not None:
                raise e
        copy_row = bs.measure_copy(ceiling, plan)
        results["copy"].append(copy_row)
    except Exception as e:
        row_error("speed", e, impl="copy", dtype=dt, size=n)
    done()
    rows = []
    for case in cases:
        for pass_ in bs.PASSES:
            step(f"speed {case.label} {where} {pass_}")
            keys = [(case.label, pass_, impl) for impl in impls]
            try:
                for k in keys:
                    err = errs[k]
                    if err is not None:
                        raise err
                pair = {k[2]: progs[k] for k in keys}
                rows.extend(bs.measure_jax(case, pass_, pair, plan))
            except Exception as e:
                row_error("speed", e, label=case.label, dtype=dt, size=n, **{"pass": pass_})
            for _ in impls:
                done()
    del progs, ceiling
    # PyTorch after JAX, not interleaved: each one's idle worker threads spin for a while after a
    # call and would slow the other down.
    if tch:
        xt, gt = tch.inputs(x, g)
        for case in cases:
            for pass_ in bs.PASSES:
                step(f"speed {case.label} {where} {pass_} torch")
                try:
                    rows.append(bs.measure_torch(tch, case, pass_, xt, gt, dt, n, plan))
                except Exception as e:  # e.g. an op PyTorch lacks for this dtype
                    results["skipped"].append(
                        {
                            "section": "speed",
                            "label": case.label,
                            "impl": "torch",
                            "dtype": dt,
                            "size": n,
                            "pass": pass_,
                            "reason": f"{type(e).__name__}: {str(e)[:200]}",
                        }
                    )
                done()
        del xt, gt
    for row in rows:
        row["fraction_of_copy"] = row["gbps"] / copy_row["gbps"] if copy_row else None
    results["speed"].extend(rows)


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One results dict from several runs' (e.g. ``gpu_run.sh``'s one run per section group): the
    first's header, every part's rows and errors (every list of rows, whatever the section), the
    union of the sections."""
    out = json.loads(json.dumps(parts[0]))
    for part in parts[1:]:
        for key, rows in part.items():
            if isinstance(rows, list):
                out.setdefault(key, []).extend(rows)
        for key in ("memory_status", "torch_version", "torch_device", "torch_threads"):
            if part.get(key) is not None:
                out[key] = part[key]
        m = part.get("machine")
        # how busy the machine was: the first part's start, every section, the last part's end
        if m:
            merged = out.setdefault("machine", {k: m.get(k) for k in ("cores", "start")})
            merged.setdefault("sections", {}).update(m.get("sections") or {})
            merged["end"] = m.get("end")
        cfg = out.setdefault("config", {})
        for k, v in part.get("config", {}).items():
            if k == "sections":
                cfg[k] = list(dict.fromkeys([*cfg.get(k, []), *v]))
            elif k == "sizes":
                cfg[k] = sorted({*cfg.get(k, []), *v})
            else:
                cfg.setdefault(k, v)
        out["wall_seconds"] = out.get("wall_seconds", 0.0) + part.get("wall_seconds", 0.0)
    out["compile"] = report.compile_summary(
        {"speed": out.get("speed", []) + out.get("copy", []), "train": out.get("train_step", [])}
    )
    return out


def _record_error(
    results: dict[str, Any], section: str, error: BaseException, **where: Any
) -> None:
    """Record an error of a section (no ``where``) or of one row of it (``where``: its label, impl,
    dtype, size, ...), with its traceback; the run goes on."""
    results["errors"].append(
        {
            "section": section,
            **where,
            "error": f"{type(error).__name__}: {str(error)[:500]}",
            "traceback": "".join(traceback.format_exception(error, limit=8))[-4000:],
        }
    )
    what = (
        f"the {section} section"
        if not where
        else f"{section} " + " ".join(f"{k}={v}" for k, v in where.items())
    )
    print(f"jrelu bench: {what} failed ({type(error).__name__}: {error})", file=sys.stderr)


def _write_json(path: str, results: dict[str, Any]) -> None:
    tmp = Path(path).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    tmp.replace(path)  # never a half-written file


def _write_hlo(directory: Path, name: str, program: Any) -> None:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    (directory / f"{safe}.hlo.txt").write_text(program.compiled.as_text())

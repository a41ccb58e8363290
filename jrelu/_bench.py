"""``jrelu bench``: jrelu against jax.nn, PyTorch and the device's copy bandwidth, on whatever JAX finds.

Sections, all in one run (``--sections`` picks some):

* **speed** -- forward and forward+backward of every function, float32 and bfloat16, over a range of
  sizes: median seconds, GB/s of the bytes the pass must move at least, the share of the device's copy
  bandwidth (measured in the same run, same size and dtype), and the time ratio to jax.nn (or the
  ``jnp.where`` formulation where jax.nn has none) and to PyTorch (eager, when importable).
* **memory** -- activation-sized tensors per layer a compiled training step keeps beyond the identity
  network, for an MLP and a small CNN (compile only; see :mod:`jrelu._memory`).
* **train** -- median time of a jitted Flax + optax training step of an MLP and a small CNN.
* **dispatch** -- the overhead of one eager call of the public function on a small input.
* **ffn** -- the transformer FFN activations (squared_relu, reglu) in a residual FFN training step
  ``x + act(x @ W1) @ W2``, float32 and bfloat16, jrelu against the jax.nn formulation
  (``jnp.square(jax.nn.relu(h))``, ``a * jax.nn.relu(b)``): XLA's temporary bytes of ``jit(grad)`` at
  two depths (compile only) and the hidden-sized tensors per layer kept beyond the identity FFN, and
  the median time of one SGD step.

Compilation is timed separately and excluded; every timing warms up, waits with ``block_until_ready``
and reports the median of repeats with the interquartile range. See ``docs/readme_bench.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import importlib.util
import json
import os
import platform
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

HELP = "benchmark jrelu against jax.nn, PyTorch and the device's copy bandwidth"

SECTIONS = ("speed", "memory", "train", "dispatch", "ffn")
DTYPES = ("float32", "bfloat16", "float16")
FULL_SIZES = (16, 18, 20, 22, 24, 26)  # exponents of 2
QUICK_SIZES = (16, 20)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  jrelu bench --quick\n"
        "  jrelu bench --fns relu elu --dtypes float32 --sizes 20 24 --json out.json --plot out.png\n"
        "  jrelu bench --sections speed --fns elu --sizes 24 --hlo hlo/   # what XLA fused and kept\n"
        "  python benchmarks/run.py --update-readme   # the kept full run: JSON, PNG, README table"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short run (under 2 minutes on 2 CPU cores): sizes 2^16 and 2^20, fewer repeats, "
        "smaller training-step models; still every function, both dtypes and every section",
    )
    parser.add_argument(
        "--fns",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="functions to run, by name, separated by spaces or commas (default: all; see `jrelu "
        "list`); rrelu runs both without a key (eval) and with one (train), alpha_dropout with one",
    )
    parser.add_argument(
        "--dtypes",
        nargs="+",
        choices=DTYPES,
        default=None,
        help="input dtypes for the speed section (default: float32 bfloat16)",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        metavar="N",
        help="input sizes in elements: a number below 64 is an exponent of 2 (20 means 2^20 = "
        "1,048,576 elements; '2^20' works too), a larger number is an element count "
        f"(default: {' '.join(map(str, FULL_SIZES))}; with --quick "
        f"{' '.join(map(str, QUICK_SIZES))}). Inputs have shape (n/1024, 1024) when 1024 divides n",
    )
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=SECTIONS,
        default=list(SECTIONS),
        help="sections to run (default: all)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        metavar="R",
        help="timed repeats per measurement (default: 15; 5 with --quick)",
    )
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch even if importable")
    parser.add_argument("--json", metavar="PATH", help="write all results as JSON to PATH")
    parser.add_argument(
        "--plot", metavar="PATH", help="write a PNG of throughput against size to PATH"
    )
    parser.add_argument(
        "--hlo",
        metavar="DIR",
        help="write the optimised HLO of every timed program (speed passes at the largest size, "
        "training steps) to DIR, to see what XLA fused and what it kept",
    )


# --------------------------------------------------------------------------------------------------


def _device_info() -> dict[str, Any]:
    import jax

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
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        detail = f"{model}, {cores} cores"
    info["device_detail"] = detail
    try:
        info["platform_version"] = str(d.client.platform_version)
    except Exception:
        info["platform_version"] = ""
    return info


def _versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    import jax

    from jrelu._version import __version__

    out: dict[str, Any] = {"jax_version": jax.__version__}
    for name in ("jaxlib", "flax", "optax", "numpy"):
        try:
            out[f"{name}_version"] = version(name)
        except PackageNotFoundError:
            out[f"{name}_version"] = None
    out["jrelu_version"] = __version__
    out["python_version"] = platform.python_version()
    return out


def _fail(message: str) -> int:
    print(f"jrelu bench: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    from jrelu._bench_speed import parse_size

    # Validate everything before importing or compiling anything heavy.
    try:
        sizes = sorted({parse_size(s) for s in (args.sizes or ())}) or [
            2**e for e in (QUICK_SIZES if args.quick else FULL_SIZES)
        ]
    except ValueError as e:
        return _fail(str(e))
    from jrelu._cli import fn_names

    try:
        fns = fn_names(args.fns, "bench")
    except ValueError as e:
        return _fail(str(e).replace("jrelu bench: ", ""))
    if args.repeats is not None and args.repeats < 1:
        return _fail(f"--repeats must be at least 1, got {args.repeats}.")
    if args.plot and "speed" not in args.sections:
        return _fail("--plot needs the speed section (add 'speed' to --sections).")
    if args.plot and importlib.util.find_spec("matplotlib") is None:
        return _fail("--plot needs matplotlib: pip install 'jrelu[plot]' (or leave out --plot).")
    dtypes = list(dict.fromkeys(args.dtypes or ("float32", "bfloat16")))
    for path in (args.json, args.plot):
        if path:
            Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    if args.hlo:
        Path(args.hlo).mkdir(parents=True, exist_ok=True)

    results = collect(
        sizes=sizes,
        dtypes=dtypes,
        fns=fns,
        sections=list(dict.fromkeys(args.sections)),
        quick=args.quick,
        repeats=args.repeats,
        use_torch=not args.no_torch,
        hlo_dir=Path(args.hlo) if args.hlo else None,
        checkpoint=(lambda r: _write_json(args.json, r)) if args.json else None,
    )

    from rich.console import Console

    from jrelu._bench_report import print_report

    console = Console()
    if not console.is_terminal:  # a log file or a pipe: wide enough for the tables
        console = Console(width=170)
    print_report(console, results)
    if args.json:
        _write_json(args.json, results)
        print(f"wrote {args.json}")
    if args.plot:
        from jrelu._bench_report import plot

        plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 1 if results["errors"] else 0


def collect(
    *,
    sizes: list[int],
    dtypes: list[str],
    fns: list[str] | None,
    sections: list[str],
    quick: bool,
    repeats: int | None,
    use_torch: bool,
    hlo_dir: Path | None = None,
    checkpoint: Any = None,
) -> dict[str, Any]:
    """Run the selected sections and return the results dict (the ``--json`` document).

    A section that raises is recorded in ``results["errors"]`` and the run goes on with the next one;
    ``checkpoint(results)``, if given, is called after every section (``--json`` writes the file then,
    so a run cut short by a timeout still leaves what it measured).
    """
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

    from jrelu import _bench_models as bm
    from jrelu import _bench_speed as bs
    from jrelu._bench_report import compile_summary

    t_start = time.perf_counter()
    cases = bs.build_cases(fns)
    tch = bs.find_torch(jax.default_backend()) if use_torch and "speed" in sections else None
    n_rep = repeats or (5 if quick else 15)
    sync_each = jax.default_backend() == "cpu"  # see Plan
    speed_plan = bs.Plan(
        target=0.002 if quick else 0.02,
        repeats=n_rep,
        min_repeats=min(5, n_rep),
        budget=0.05 if quick else 2.0,
        sync_each=sync_each,
    )
    # A training step on a shared 2-core machine varies by 20% from one step to the next: each repeat
    # times several steps (about 0.25 s of them), and the median is over the repeats.
    train_plan = bs.Plan(
        target=0.0 if quick else 0.25,
        repeats=n_rep,
        min_repeats=min(5, n_rep),
        budget=0.3 if quick else 10.0,
        sync_each=sync_each,
    )
    dispatch_plan = bs.Plan(
        target=0.005 if quick else 0.02,
        repeats=n_rep,
        min_repeats=min(5, n_rep),
        budget=0.05 if quick else 0.5,
        sync_each=True,
    )
    impls = ["jrelu", "jax.nn"]
    dims = bm.train_dims(quick)

    results: dict[str, Any] = {**_device_info(), **_versions()}
    results.update(
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        quick=quick,
        torch_version=tch.version if tch else None,
        torch_device=tch.device if tch else None,
        torch_threads=tch.threads() if tch else None,
        config={
            "sections": sections,
            "fns": [c.label for c in cases],
            "dtypes": dtypes,
            "sizes": sizes,
            "repeats": n_rep,
            "bytes": {k: v for k, v in bs.TRAFFIC_TEXT.items()},
            "memory_dims": bm.memory_dims(),
            "compile_workers": bs.compile_workers(),
            "timing": {
                "speed": dataclasses.asdict(speed_plan),
                "train": dataclasses.asdict(train_plan),
                "dispatch": dataclasses.asdict(dispatch_plan),
            },
        },
        copy=[],
        speed=[],
        memory=[],
        train_step=[],
        dispatch=[],
        ffn=[],
        skipped=[],
        errors=[],
    )

    @contextlib.contextmanager
    def section(name: str) -> Any:
        """A section that raises is recorded and the run goes on; the results are kept after each."""
        try:
            yield
        except Exception as e:  # keep the other sections; say what failed
            _record_error(results, name, e)
        if checkpoint:
            checkpoint(results)

    workers = bs.compile_workers()
    total = 0
    if "memory" in sections:
        total += len(bm.MODELS) * (1 + len(cases) * len(impls))
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

    console = Console(stderr=True)
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

        # Compile-only, in parallel: nothing is being timed yet.
        if "memory" in sections:
            with section("memory"):
                t0 = time.perf_counter()
                step(f"memory: compiling training steps ({workers} at a time)")
                jobs: list[tuple[Any, str, str, Any]] = []
                for model in bm.MODELS:
                    jobs.append(
                        (None, "identity", model, partial(bm.floor_tensors_per_layer, model))
                    )
                    for case in cases:
                        for impl in impls:
                            jobs.append(
                                (case, impl, model, partial(bm.extra_tensors, case, impl, model))
                            )
                values = bs.run_parallel([job[3] for job in jobs], workers, done)
                for (case, impl, model, _), value in zip(jobs, values, strict=True):
                    if case is None:
                        row = bm.memory_row(
                            None, "identity", model, 0.0, floor_tensors_per_layer=value
                        )
                    else:
                        row = bm.memory_row(case, impl, model, value)
                    results["memory"].append(row)
                console.log(f"memory: {time.perf_counter() - t0:.1f} s (compile only)")

        if "speed" in sections:
            with section("speed"):
                t0 = time.perf_counter()
                for dt in dtypes:
                    for n in sizes:
                        where = f"{dt} {bs.size_text(n)}"
                        x, g, key = bs.make_inputs(n, jnp.dtype(dt))
                        step(f"speed {where}: compiling")
                        ceiling = bs.copy_programs(x)
                        progs = {
                            (case.label, pass_, impl): bs.jax_program(case, impl, pass_, x, g, key)
                            for case in cases
                            for pass_ in bs.PASSES
                            for impl in impls
                        }
                        bs.compile_all([*ceiling.values(), *progs.values()], workers)
                        if hlo_dir and n == sizes[-1]:
                            for (label, pass_, impl), prog in progs.items():
                                _write_hlo(hlo_dir, f"speed-{label}-{pass_}-{impl}-{dt}-{n}", prog)
                        step(f"speed {where}: copy ceiling")
                        copy_row = bs.measure_copy(ceiling, speed_plan)
                        results["copy"].append(copy_row)
                        done()
                        rows = []
                        for case in cases:
                            for pass_ in bs.PASSES:
                                step(f"speed {case.label} {where} {pass_}")
                                pair = {impl: progs[(case.label, pass_, impl)] for impl in impls}
                                rows.extend(bs.measure_jax(case, pass_, pair, speed_plan))
                                for _ in impls:
                                    done()
                        del progs, ceiling
                        # PyTorch after JAX, not interleaved: each one's idle worker threads spin for a
                        # while after a call and would slow the other down.
                        if tch:
                            xt, gt = tch.inputs(x, g)
                            for case in cases:
                                for pass_ in bs.PASSES:
                                    step(f"speed {case.label} {where} {pass_} torch")
                                    try:
                                        rows.append(
                                            bs.measure_torch(
                                                tch, case, pass_, xt, gt, dt, n, speed_plan
                                            )
                                        )
                                    except (
                                        Exception
                                    ) as e:  # e.g. an op PyTorch lacks for this dtype
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
                            row["fraction_of_copy"] = row["gbps"] / copy_row["gbps"]
                        results["speed"].extend(rows)
                        del x, g
                console.log(f"speed: {time.perf_counter() - t0:.1f} s")

        if "train" in sections:
            with section("train"):
                t0 = time.perf_counter()
                step(f"train: compiling ({workers} at a time)")
                tprogs = {
                    (model, case.label, impl): bm.train_program(case, impl, model, dims[model])
                    for model in bm.MODELS
                    for case in cases
                    for impl in impls
                }
                bs.compile_all(list(tprogs.values()), workers)
                if hlo_dir:
                    for (model, label, impl), prog in tprogs.items():
                        _write_hlo(hlo_dir, f"train-{model}-{label}-{impl}", prog)
                for model in bm.MODELS:
                    for case in cases:
                        step(f"train {model} {case.label}")
                        pair = {impl: tprogs.pop((model, case.label, impl)) for impl in impls}
                        results["train_step"].extend(
                            bm.train_step_rows(case, model, dims[model], pair, train_plan)
                        )
                        for _ in impls:
                            done()
                console.log(f"train: {time.perf_counter() - t0:.1f} s")

        if "dispatch" in sections:
            with section("dispatch"):
                t0 = time.perf_counter()
                for case in cases:
                    for impl in impls:
                        step(f"dispatch {case.label} {impl}")
                        results["dispatch"].append(bs.measure_dispatch(case, impl, dispatch_plan))
                        done()
                console.log(f"dispatch: {time.perf_counter() - t0:.1f} s")

        if "ffn" in sections and ffn_specs:
            with section("ffn"):
                t0 = time.perf_counter()
                fdims = bm.ffn_dims(quick)
                results["config"]["ffn_dims"] = dataclasses.asdict(fdims)
                for spec in ffn_specs:
                    for dt in ffn_dtypes:
                        step(f"ffn {spec.name} {dt}: memory (compile only)")
                        for impl in impls:
                            results["ffn"].append(bm.ffn_memory_row(spec, impl, fdims, dt))
                            done()
                        step(f"ffn {spec.name} {dt}: training step")
                        fprogs = {i: bm.ffn_step_program(spec, i, fdims, dt) for i in impls}
                        bs.compile_all(list(fprogs.values()), workers)
                        results["ffn"].extend(bm.ffn_time_rows(spec, fdims, dt, fprogs, train_plan))
                        for _ in impls:
                            done()
                console.log(f"ffn: {time.perf_counter() - t0:.1f} s")

    results["compile"] = compile_summary(
        {"speed": results["speed"] + results["copy"], "train": results["train_step"]}
    )
    results["wall_seconds"] = time.perf_counter() - t_start
    return results


def _record_error(results: dict[str, Any], section: str, error: Exception) -> None:
    import traceback

    results["errors"].append(
        {
            "section": section,
            "error": f"{type(error).__name__}: {str(error)[:500]}",
            "traceback": traceback.format_exc(limit=8)[-4000:],
        }
    )
    print(
        f"jrelu bench: the {section} section failed ({type(error).__name__}: {error})",
        file=sys.stderr,
    )


def _write_json(path: str, results: dict[str, Any]) -> None:
    tmp = Path(path).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    tmp.replace(path)  # never a half-written file


def _write_hlo(directory: Path, name: str, program: Any) -> None:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    (directory / f"{safe}.hlo.txt").write_text(program.compiled.as_text())

"""Does ReLU's sparsity turn into speed? `jrelu.sparse` against the dense FFN, the whole grid, kept.

    python benchmarks/sparse_ffn.py      # about 15 minutes on two CPU cores: `jrelu bench --full
                                         # --sections sparse` into benchmarks/results/sparse-ffn-cpu.json
                                         # and .png, then benchmarks/README.md's sparse-ffn section

The grid (``jrelu._cli.bench.sparse.grid("full")``): relu and reglu; the down projection ``act(h) @
w_down`` and the whole FFN; d_model 512, 1024, 2048 (hidden 4x); 1, 8 and 64 tokens; 50% to 99% of the
hidden units off for every token (synthetic, the same units for all tokens: the best case for a
batch). Run it on a quiet machine; the load average at the start is kept in the JSON and the README.
How wide a real decode batch's union of active units is, and what that leaves of the gain, is example
09's (examples/09_sparse_ffn.py).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "sparse-ffn-cpu.json"


def render(data: dict) -> str:
    """benchmarks/README.md's sparse-ffn section (links relative to the repository root)."""
    from jrelu._cli.bench import sparse

    body = sparse.markdown(data, source=OUT.relative_to(ROOT).as_posix())
    png = OUT.with_suffix(".png")
    if png.exists():
        body += f"\n\n![jrelu.sparse ÷ dense against sparsity]({png.relative_to(ROOT).as_posix()})"
    return body


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mode", choices=("quick", "default", "full"), default="full")
    p.add_argument("--out", type=pathlib.Path, default=OUT, help="the JSON (the PNG beside it)")
    args = p.parse_args(argv)
    from jrelu._cli.bench import driver, sparse

    load = os.getloadavg()[0]
    results = driver.collect(
        sizes=[], dtypes=["float32"], fns=None, sections=["sparse"], mode=args.mode, use_torch=False
    )
    results["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    sparse.plot(results, str(args.out.with_suffix(".png")))
    for line in sparse.verdict_lines(results):
        print(line)
    print(f"wrote {args.out} and {args.out.with_suffix('.png').name}")
    if results["errors"]:
        print(f"{len(results['errors'])} error(s): see the JSON", file=sys.stderr)
        return 1
    if args.out == OUT:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import update_readme

        return int(update_readme.main(["--only", "sparse-ffn"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

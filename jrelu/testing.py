"""Testing utilities: check jrelu where you run it, and judge your own activations the same way.

jrelu's promises -- values and gradients within 2 ulp of a float64 reference (half precision and
float8 correctly rounded), PyTorch's kink conventions, NaN in NaN out, every transformation, a backward
pass that keeps a 1-bit mask -- are measured by the tools in this module, which jrelu's own test suite
and ``jrelu check`` use too. They are public, as ``jax.test_util`` and optax's test utilities are, so
that a user on an accelerator or compiler the authors never saw can run the same checks from Python,
and so that a new activation is judged by the code that judges the existing ones.

* :func:`check` runs every check on the backend at hand and returns a :class:`Report` (``jrelu check``
  prints it).
* The **float64 oracle** runs in NumPy on the host, independent of jrelu's JAX code:
  :func:`reference` (value and derivative from the registry's formulas, limits at ``±inf``),
  :func:`correctly_rounded`, :func:`ulp`, :func:`compare` (a :class:`Comparison` in ulps),
  the inputs :func:`grid` (every bit pattern of a 16- or 8-bit type) and :func:`finite_grid`, and
  :func:`is_subnormal` (what XLA on CPU flushes to zero).
* The **compiled memory** of a training step: :func:`extra_tensors_per_layer` (activation-sized tensors
  per layer an activation adds to ``jit(grad(loss))``, measured by XLA's ``memory_analysis()``), with its
  raw figures in :func:`extra_tensors_detail`, and :func:`temp_size`.

>>> import jrelu
>>> from jrelu import testing
>>> report = testing.check(["relu"], dtypes=["float32"], memory=False, transforms=False)
>>> report.passed, report.functions
(True, ['relu'])
>>> round(testing.extra_tensors_per_layer(jrelu.relu, batch=64, width=128), 2)
0.0
"""

from jrelu._testing.check import COLUMNS as COLUMNS
from jrelu._testing.check import DTYPES as DTYPES
from jrelu._testing.check import FLOAT8 as FLOAT8
from jrelu._testing.check import Report as Report
from jrelu._testing.check import Result as Result
from jrelu._testing.check import check as check
from jrelu._testing.memory import extra_tensors_detail as extra_tensors_detail
from jrelu._testing.memory import extra_tensors_per_layer as extra_tensors_per_layer
from jrelu._testing.memory import temp_size as temp_size
from jrelu._testing.oracle import Comparison as Comparison
from jrelu._testing.oracle import compare as compare
from jrelu._testing.oracle import correctly_rounded as correctly_rounded
from jrelu._testing.oracle import finite_grid as finite_grid
from jrelu._testing.oracle import grid as grid
from jrelu._testing.oracle import is_subnormal as is_subnormal
from jrelu._testing.oracle import reference as reference
from jrelu._testing.oracle import ulp as ulp

__all__ = [
    "COLUMNS",
    "DTYPES",
    "FLOAT8",
    "Comparison",
    "Report",
    "Result",
    "check",
    "compare",
    "correctly_rounded",
    "extra_tensors_detail",
    "extra_tensors_per_layer",
    "finite_grid",
    "grid",
    "is_subnormal",
    "reference",
    "temp_size",
    "ulp",
]

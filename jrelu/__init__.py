"""jrelu: the ReLU family for JAX.

Pure, jit-compiled functions with PyTorch's values and kink conventions, hand-written derivative rules that
keep only the output (plus a 1-bit mask where needed; on XLA:CPU a traced input of 4 or more axes, a
convolution's feature map, keeps the input instead, as do relu, relu6 and squared_relu on a 3-D input of
fewer than 2**19 elements) for the backward pass, and full support for every JAX
transformation (jit, grad, jvp, jacfwd, hessian, vmap, sharding). Flax modules live in ``jrelu.linen`` and
``jrelu.nnx``, Equinox modules in ``jrelu.equinox`` (importing ``jrelu`` imports neither Flax nor Equinox).
The checks ``jrelu check`` runs, the float64 oracle and the compiled-memory measurement are in
``jrelu.testing``.
"""

from jrelu._dropout import alpha_dropout as alpha_dropout
from jrelu._exponential import SELU_ALPHA as SELU_ALPHA
from jrelu._exponential import SELU_SCALE as SELU_SCALE
from jrelu._exponential import celu as celu
from jrelu._exponential import elu as elu
from jrelu._exponential import selu as selu
from jrelu._optim import weight_decay_mask as weight_decay_mask
from jrelu._random import rrelu as rrelu
from jrelu._rectifiers import leaky_relu as leaky_relu
from jrelu._rectifiers import prelu as prelu
from jrelu._rectifiers import reglu as reglu
from jrelu._rectifiers import relu as relu
from jrelu._rectifiers import relu6 as relu6
from jrelu._rectifiers import squared_relu as squared_relu
from jrelu._registry import FUNCTIONS as FUNCTIONS
from jrelu._registry import Activation as Activation
from jrelu._registry import Spec as Spec
from jrelu._registry import get as get
from jrelu._version import __version__ as __version__

__all__ = [
    "FUNCTIONS",
    "SELU_ALPHA",
    "SELU_SCALE",
    "Activation",
    "Spec",
    "__version__",
    "alpha_dropout",
    "celu",
    "elu",
    "get",
    "leaky_relu",
    "prelu",
    "reglu",
    "relu",
    "relu6",
    "rrelu",
    "selu",
    "squared_relu",
    "weight_decay_mask",
]

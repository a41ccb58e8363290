"""Keras 3: a jrelu activation saved in a ``.keras`` file comes back as jrelu's.

Keras saves a plain function by its name alone when Keras has a function of that name
(``keras.activations.serialize``), and reloads that name as its own: ``jrelu.leaky_relu`` (slope 0.01)
would come back as Keras' leaky_relu (slope 0.2), silently. A function registered with
``keras.saving.register_keras_serializable`` is saved as ``"jrelu>leaky_relu"`` instead, and reloads as
jrelu's -- or, in a process where jrelu has not registered it, fails to load with Keras' "Could not
locate function 'jrelu>leaky_relu'".

jrelu never imports Keras (an optional extra). It registers every function of the table, and
:class:`jrelu.Activation` (``jrelu.get(name, **params)``, its hyperparameters saved with it), as soon as
both are imported: at ``import jrelu`` when Keras is already imported, otherwise right after ``import
keras`` finishes (:func:`watch` puts a one-shot finder on ``sys.meta_path`` that wraps Keras' loader).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
import warnings
from types import ModuleType
from typing import Any

PACKAGE = "jrelu"  # registered names are "jrelu>leaky_relu", "jrelu>Activation"
_LOCK = threading.Lock()


def register() -> None:
    """Register jrelu's functions and :class:`jrelu.Activation` with Keras' serialization (once; Keras
    must be importable). Called by jrelu itself; a user never needs to."""
    import keras

    from jrelu._registry import FUNCTIONS, Activation

    objects: dict[str, Any] = {spec.name: spec.fn for spec in FUNCTIONS.values()}
    objects["Activation"] = Activation
    with _LOCK:
        for name, obj in objects.items():
            if keras.saving.get_registered_object(f"{PACKAGE}>{name}") is not obj:
                keras.saving.register_keras_serializable(package=PACKAGE, name=name)(obj)


def _register_or_warn() -> None:
    try:
        register()
    except Exception as e:  # a Keras without this API: say so rather than break `import keras`
        warnings.warn(
            f"jrelu could not register its activations with Keras ({type(e).__name__}: {e}); a "
            "model saved with them may reload Keras' functions of the same names. jrelu supports "
            "Keras 3 from the version its 'keras' extra names (pip install 'jrelu[keras]').",
            RuntimeWarning,
            stacklevel=2,
        )


class _Loader(importlib.abc.Loader):
    """Keras' own loader, then :func:`register` once the ``keras`` package has run."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._inner.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _register_or_warn()

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, is_package, ...
        return getattr(self._inner, name)


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for ``keras`` it asks the other finders and wraps the loader found."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "keras":
            return None
        _unwatch()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def _unwatch() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterKeras)]


def watch() -> None:
    """Register with Keras now if it is imported, else right after it is (never importing it)."""
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "saving"):
        _register_or_warn()
    elif not any(isinstance(f, _AfterKeras) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKeras())

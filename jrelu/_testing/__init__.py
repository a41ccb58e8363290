"""The implementation of :mod:`jrelu.testing` (the public names are re-exported there).

``oracle``: the float64 references, correct rounding, ulps, inputs and comparison; ``check``: the checks
``jrelu check`` runs and their report; ``memory``: the compiled-memory measurement.
"""

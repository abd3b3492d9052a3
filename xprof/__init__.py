"""xprof: what did this experiment cost, what did it buy, what should it have run on?

``import xprof`` is light (standard library only): training scripts call ``xprof.log``.
``xprof.profile``/``start``/``stop`` (in-process runs) and ``xprof.runs``/``samples``
(DataFrames) load their modules on first use.
"""

import importlib

from xprof.metrics_log import log

__version__ = "0.1.0"
__all__ = ["__version__", "log", "profile", "runs", "samples", "start", "stop"]

_LAZY = {"profile": "xprof.agent.inprocess", "start": "xprof.agent.inprocess",
         "stop": "xprof.agent.inprocess", "runs": "xprof.frames", "samples": "xprof.frames"}


def __getattr__(name: str):
    """The lazy names above, imported on first use (nothing heavy at ``import xprof``)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'xprof' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value

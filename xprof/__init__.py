"""xprof: what did this experiment cost, what did it buy, what should it have run on?

``import xprof`` is light (standard library only): training scripts call ``xprof.log``.
"""

from xprof.metrics_log import log

__version__ = "0.1.0"
__all__ = ["__version__", "log"]

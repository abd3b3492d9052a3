"""Callbacks for training frameworks that record into the current xprof run.

- ``xprof.agent.integrations.huggingface.XprofCallback``: a ``transformers.TrainerCallback``;
- ``xprof.agent.integrations.lightning.XprofCallback``: a Lightning ``Callback``.

Each imports its framework only when its module is imported; this package imports nothing.
The current run is the one ``xprof run`` records (metrics go through ``xprof.log``'s file) or
the open ``xprof.profile``/``xprof.start`` run of this process.
"""

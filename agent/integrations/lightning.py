"""Lightning ``Trainer`` -> the current xprof run.

    from xprof.agent.integrations.lightning import XprofCallback
    trainer = lightning.Trainer(max_epochs=3, callbacks=[XprofCallback()])

What is recorded is what Lightning hands its loggers, under the same names, each value at
its step (a value logged again is recorded again, equal or not):

- every ``every_n_steps`` optimizer steps (default: the Trainer's ``log_every_n_steps``) the
  step values the module logged (``self.log(..., on_step=True)``; ``X_step`` for a metric
  logged on step and epoch), with the global step, ``epoch`` and ``step_time_s``, the mean
  wall time of a training batch since the previous record;
- at the end of each training epoch the epoch values (``X_epoch``, or ``X`` for a metric
  logged on epoch only), and at the end of each validation run its metrics.

So ``X_step`` and ``X_epoch`` are separate series, and an unsuffixed series never mixes step
values with epoch means. ``epoch`` is recorded once per step. At the start of fitting the
module's (and datamodule's) ``hparams`` and the Trainer's settings are recorded as params.
Only global rank 0 records. Recording costs a few µs a step: the values (tensors, converted
later) are written in batches (:class:`MetricsBuffer`).

Built on ``lightning.pytorch`` when it is installed, else on ``pytorch_lightning``: use the
callback with the Trainer of the same package.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

try:
    from lightning.pytorch.callbacks import Callback
except ImportError:  # the older standalone package
    from pytorch_lightning.callbacks import Callback

from xprof.agent.integrations.channel import MetricsBuffer, flatten, record_params
from xprof.agent.once import WARN


def fit_params(trainer: Any, module: Any) -> dict[str, Any]:
    """The params a Lightning fit is recorded with (``None`` values left out)."""
    params: dict[str, Any] = {}
    for owner, prefix in ((module, ""), (getattr(trainer, "datamodule", None), "data.")):
        hparams = getattr(owner, "hparams", None)
        if hparams:
            params.update(flatten(dict(hparams), prefix))
    for name in ("max_epochs", "max_steps", "accumulate_grad_batches", "precision",
                 "num_devices", "num_nodes", "gradient_clip_val"):
        value = getattr(trainer, name, None)
        if value is not None and value != -1:
            params[f"trainer.{name}"] = value if isinstance(value, int | float) else str(value)
    strategy = getattr(trainer, "strategy", None)
    if strategy is not None:
        params["trainer.strategy"] = type(strategy).__name__
    params["model_class"] = type(module).__name__
    with contextlib.suppress(Exception):  # a model without parameters()
        params["model_parameters"] = sum(p.numel() for p in module.parameters())
    return {k: v for k, v in params.items() if v is not None}


class XprofCallback(Callback):
    """Records the module's logged metrics (per global step and epoch), batch timing and
    hyperparameters into the current xprof run. ``params=False`` records no params."""

    def __init__(self, *, every_n_steps: int | None = None, params: bool = True) -> None:
        super().__init__()
        self.every_n_steps = every_n_steps
        self.params = params
        self._batch_started: float | None = None
        self._batch_seconds = 0.0
        self._batches = 0
        self._last_step = -1
        self._epoch_at: tuple[int, int] | None = None  # (step, epoch) last recorded
        self._buffer = MetricsBuffer()
        self._names: dict = {}  # (result key, on_step, dataloader) -> logged name
        self._step_names: dict[Any, Any] = {}  # training result key -> its step name
        self._rank_zero = True
        self._every = every_n_steps or 1

    def on_fit_start(self, trainer, pl_module) -> None:
        self._rank_zero = trainer.is_global_zero
        self._every = self.every_n_steps or trainer.log_every_n_steps or 1
        if self.params and self._rank_zero:
            record_params(fit_params(trainer, pl_module))

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._batch_started = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._batch_started is not None:
            self._batch_seconds += time.perf_counter() - self._batch_started
            self._batches += 1
            self._batch_started = None
        if not self._rank_zero:
            return
        step = trainer.global_step
        if step == self._last_step or step % self._every:
            return
        self._last_step = step
        values = step_values(_training_results(trainer), self._step_names)
        if self._batches:
            values["step_time_s"] = self._batch_seconds / self._batches
            self._batch_seconds, self._batches = 0.0, 0
        self._record(trainer, values, step)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._rank_zero:
            self._record(trainer, logged_values(trainer, False, self._names))

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if self._rank_zero and not trainer.sanity_checking:
            self._record(trainer, logged_values(trainer, False, self._names))

    def on_fit_end(self, trainer, pl_module) -> None:
        self._buffer.flush()

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._buffer.flush()

    def _record(self, trainer: Any, values: dict[str, Any], step: int | None = None) -> None:
        if not values:
            return
        step = trainer.global_step if step is None else step
        epoch = trainer.current_epoch
        if self._epoch_at != (step, epoch):
            values["epoch"] = epoch
            self._epoch_at = (step, epoch)
        self._buffer.add(step, values)


def _training_results(trainer: Any) -> Any:
    """The training loop's results (what ``trainer._results`` is while training, without its
    property chain); None where a Lightning version keeps them elsewhere."""
    try:
        return trainer.fit_loop.epoch_loop._results
    except AttributeError:
        return None


_LOADER = ("dataloader",)  # step_values' cache key of the dataloader it is for (never a str)


def step_values(results: Any, names: dict[Any, Any]) -> dict[str, Any]:
    """The step values the module logged in this training batch (``on_step=True``), by logged
    name, as tensors (without autograd graph): :func:`logged_values` for ``on_step``, reading
    each result's step value (``_forward_cache``) directly, as the per-batch path must be
    cheap. ``names`` caches, per result key (Lightning refuses a key logged again with other
    options), its logged step name, or None for a result not handed to loggers on step; it is
    cleared when the results' dataloader changes (kept under :data:`_LOADER`)."""
    try:
        out: dict[str, Any] = {}
        if results is None:
            return out
        loader = results.dataloader_idx
        if names.get(_LOADER, -1) != loader:
            names.clear()
            names[_LOADER] = loader
        for key, metric in results.items():
            name = names.get(key, "")
            if name == "":
                meta = metric.meta
                name = names[key] = results._forked_name(metric, True)[1] \
                    if meta.on_step and meta.logger and meta.dataloader_idx == loader else None
            if name is None or metric.has_reset:
                continue
            value = metric._forward_cache
            if value is not None:
                out[name] = value.detach() if getattr(value, "requires_grad", False) else value
        return out
    except Exception as exc:
        WARN.warn("lightning-results", f"xprof: cannot read Lightning's logged metrics "
                  f"({exc!r}); this Lightning version is not supported, metrics not recorded")
        return {}


def logged_values(trainer: Any, on_step: bool, names: dict | None = None) -> dict[str, Any]:
    """What Lightning hands its loggers now: the step values (``on_step``) or the epoch values
    the module logged in the running loop, by logged name (``X_step``/``X_epoch`` apart), as
    tensors. Read from the loop's results as Lightning's logger connector reads them
    (``_ResultCollection.metrics``, without its progress-bar and callback parts); ``names``
    caches the logged name of each result. Not public API: {} (nothing recorded, one
    warning) where a Lightning version lacks it."""
    try:
        results = trainer._results
        out: dict[str, Any] = {}
        if results is None:
            return out
        names = {} if names is None else names
        for key, metric in results.valid_items():
            if not metric.meta.logger:
                continue
            value = results._get_cache(metric, on_step)
            if value is None:
                continue
            name = names.get((key, on_step, metric.meta.dataloader_idx))
            if name is None:
                name = names[(key, on_step, metric.meta.dataloader_idx)] = \
                    results._forked_name(metric, on_step)[1]
            out[name] = value
        return out
    except Exception as exc:
        WARN.warn("lightning-results", f"xprof: cannot read Lightning's logged metrics "
                  f"({exc!r}); this Lightning version is not supported, metrics not recorded")
        return {}

"""Hugging Face ``Trainer`` -> the current xprof run.

    from xprof.agent.integrations.huggingface import XprofCallback
    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[XprofCallback()])

Every time the Trainer logs (``logging_steps``), the numbers it logs (loss, learning rate,
grad norm, eval metrics, epoch) are recorded with its global step, plus ``step_time_s``: the
mean wall time of the optimizer steps since the previous log. ``epoch`` is recorded once per
step (the Trainer repeats it in each log of a step: training, evaluation, the final summary).
Recording costs a few µs a log: the values are written in batches (:class:`MetricsBuffer`).
At the start of training the main hyperparameters (:data:`TRAINING_ARGS`, all of them with
``all_args=True``) and the model's class and size are recorded as params. Only the main
process (rank 0) records. Works under ``xprof run`` and inside ``xprof.profile``/``xprof.start``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from transformers import TrainerCallback

from xprof.agent.integrations.channel import MetricsBuffer, flatten, record_params

TRAINING_ARGS = (
    "learning_rate", "per_device_train_batch_size", "per_device_eval_batch_size",
    "gradient_accumulation_steps", "num_train_epochs", "max_steps", "weight_decay",
    "warmup_steps", "warmup_ratio", "lr_scheduler_type", "optim", "seed", "fp16", "bf16",
    "max_grad_norm", "adam_beta1", "adam_beta2", "adam_epsilon", "gradient_checkpointing",
    "dataloader_num_workers", "torch_compile",
)


def training_params(args: Any, model: Any = None, all_args: bool = False) -> dict[str, Any]:
    """The params a Trainer run is recorded with (``None`` values left out)."""
    every = args.to_dict() if hasattr(args, "to_dict") else vars(args)
    chosen = every if all_args else {k: every[k] for k in TRAINING_ARGS if k in every}
    params = flatten(chosen)
    for name in ("world_size", "train_batch_size"):
        try:
            params[name] = getattr(args, name)
        except Exception:  # a property that needs a device set up
            continue
    if model is not None:
        params["model_class"] = type(model).__name__
        with contextlib.suppress(Exception):  # a model without parameters()
            params["model_parameters"] = sum(p.numel() for p in model.parameters())
        config = getattr(model, "config", None)
        for key in ("model_type", "_name_or_path"):
            value = getattr(config, key, None)
            if value:
                params[f"model_{key.lstrip('_')}"] = value
    return {k: v for k, v in params.items() if v is not None}


class XprofCallback(TrainerCallback):
    """Records the Trainer's logged metrics (per global step), step timing and
    hyperparameters into the current xprof run. ``params=False`` records no params;
    ``all_args=True`` records every TrainingArguments field."""

    def __init__(self, *, params: bool = True, all_args: bool = False) -> None:
        self.params = params
        self.all_args = all_args
        self._step_started: float | None = None
        self._step_seconds = 0.0
        self._steps = 0
        self._epoch_at: tuple[int, Any] | None = None  # (step, epoch) last recorded
        self._buffer = MetricsBuffer()

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.params and state.is_world_process_zero:
            record_params(training_params(args, model, self.all_args))

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_started is not None:
            self._step_seconds += time.perf_counter() - self._step_started
            self._steps += 1
            self._step_started = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero:
            return
        values = dict(logs or {})
        if self._steps:
            values["step_time_s"] = self._step_seconds / self._steps
            self._step_seconds, self._steps = 0.0, 0
        step = state.global_step
        epoch = values.get("epoch", state.epoch)
        if epoch is None or self._epoch_at == (step, epoch):
            values.pop("epoch", None)
        else:
            values["epoch"] = epoch
            self._epoch_at = (step, epoch)
        if values:
            self._buffer.add(step, values)

    def on_train_end(self, args, state, control, **kwargs):
        self._buffer.flush()

"""A real Lightning fit inside `xprof.profile` records every value the module logs at its step,
as Lightning's loggers get it: repeated values again, `_step` and `_epoch` series apart, an
unsuffixed series never mixing step values and epoch means, `epoch` once per step."""

from __future__ import annotations

from collections import Counter

import pytest

import xprof
from tests.integrations.conftest import params_of, rows

pytestmark = pytest.mark.integrations


def fit(epochs: int = 4, batches: int = 2) -> None:
    import torch

    try:
        import lightning.pytorch as pl
    except ImportError:
        import pytorch_lightning as pl

    from xprof.agent.integrations.lightning import XprofCallback

    class Module(pl.LightningModule):
        def __init__(self, lr: float = 0.05, frozen: bool = False) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch, _index):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            self.log("train_acc", 0.5)  # the same value at every step
            return loss

        def validation_step(self, batch, _index):
            self.log("val_acc", 0.75)  # the same value at every validation

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(16 * batches, 4),
                                          torch.randn(16 * batches, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=16)
    trainer = pl.Trainer(max_epochs=epochs, log_every_n_steps=1, callbacks=[XprofCallback()],
                         accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(Module(), loader, loader)


def test_every_logged_value_at_its_step(store):
    """4 epochs of 2 batches: constant values at every step and validation, `_step` at 1..8,
    `_epoch` at epoch ends (the mean of its batches), epoch once a step, params as JSON."""
    with xprof.profile(name="pl-series", project="pl", quiet=True) as run:
        fit()
    metrics = rows(store, "metrics", run.id, order="seq")
    series: dict[str, list[tuple[int, float]]] = {}
    for m in metrics:
        series.setdefault(m["key"], []).append((m["step"], m["value"]))
    assert series["val_acc"] == [(s, 0.75) for s in (2, 4, 6, 8)]
    assert series["train_acc"] == [(s, 0.5) for s in range(1, 9)]
    assert [s for s, _ in series["train_loss_step"]] == list(range(1, 9))
    assert [s for s, _ in series["train_loss_epoch"]] == [2, 4, 6, 8]
    assert "train_loss" not in series  # neither step values nor epoch means unsuffixed
    steps = dict(series["train_loss_step"])
    for step, mean in series["train_loss_epoch"]:  # each epoch's mean of its two batches
        assert mean == pytest.approx((steps[step - 1] + steps[step]) / 2, rel=1e-5)
    assert Counter(s for s, _ in series["epoch"]) == Counter(range(1, 9))
    assert dict(series["epoch"])[8] == 3.0
    assert [s for s, _ in series["step_time_s"]] == list(range(1, 9))
    params = params_of(store, run.id)
    assert (params["lr"], params["frozen"]) == ("0.05", "false")  # one encoding (JSON)
    assert xprof.runs(project="pl", store=store)["param.frozen"].dtype == "boolean"

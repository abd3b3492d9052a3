"""A tiny Lightning fit with XprofCallback that dies at step 6 of 8 (argv: LOG_FILE HOW), like
train_hf_dies.py: every step's logged ``train_loss`` is also appended to LOG_FILE; at step 4
the run pauses past the callback's write interval, so step 5 is written with everything
before it; step 6 is logged, then ``os._exit(3)`` (HOW "os_exit") or ``sys.exit(3)``."""

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import torch

from tests.integrations.scripts.train_lightning import Regressor, pl
from xprof.agent.integrations.channel import FLUSH_S
from xprof.agent.integrations.lightning import XprofCallback

log_file, how = Path(sys.argv[1]), sys.argv[2]


class Dies(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        step = trainer.global_step
        with open(log_file, "a") as fh:
            loss = trainer.callback_metrics["train_loss"].item()
            fh.write(json.dumps({"step": step, "logs": {"train_loss": loss}}) + "\n")
        if step == 4:
            time.sleep(FLUSH_S + 0.3)  # the next step is past the write interval
        if step == 6:
            if how == "os_exit":
                os._exit(3)
            sys.exit(3)


torch.manual_seed(0)
data = torch.utils.data.TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
trainer = pl.Trainer(max_epochs=1, log_every_n_steps=1, callbacks=[XprofCallback(), Dies()],
                     accelerator="cpu", logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False)
trainer.fit(Regressor(), torch.utils.data.DataLoader(data, batch_size=4))

"""What the Hugging Face and Lightning callbacks cost a training run; prints one markdown table.

For each framework, 300 optimizer steps of a tiny model on random data (CPU), logging every
step (the worst case: `logging_steps=1`, `log_every_n_steps=1`), the callback writing into a
metrics file as under `xprof run`. Runs without and with the callback alternate (PAIRS pairs);
the run without it has an empty callback instead, with the same hooks doing nothing. Every
hook of either is timed with the thread's CPU clock (flushes included). The table gives the
median wall time of each run, their ratio and difference per logged step, the CPU time per
logged step of the empty callback (the timing itself and the hook calls) and of xprof's,
and the median over pairs of xprof's minus the empty one's: the callback's own cost, the
figure the ≤ 20 µs goal is checked on (the wall-time difference of a run on a shared
machine is noise larger than that). torch runs one thread.

    python benchmarks/callbacks.py            # 5 pairs each
    python benchmarks/callbacks.py --quick    # 1 pair each
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STEPS = 300


def timed_hooks(callback: Any, base: type) -> list[float]:
    """Wrap every hook the callback defines (those not inherited from ``base``) to add its
    CPU time (this thread's) to the returned one-element list."""
    spent = [0.0]
    for name in hooks(type(callback), base):
        method = getattr(callback, name)

        @functools.wraps(method)
        def wrapper(*args, _method=method, **kwargs):
            start = time.thread_time()
            try:
                return _method(*args, **kwargs)
            finally:
                spent[0] += time.thread_time() - start

        setattr(callback, name, wrapper)
    return spent


def hooks(kind: type, base: type) -> list[str]:
    """The hooks ``kind`` defines itself (not inherited from ``base``)."""
    return [name for name, value in vars(kind).items() if name.startswith("on_")
            and callable(value) and getattr(base, name, None) is not value]


def timed(callback_class: type, base: type, with_callback: bool) -> tuple[Any, list[float]]:
    """An xprof callback, or an empty one with the same hooks doing nothing; timed."""
    if with_callback:
        callback = callback_class(params=False)
    else:
        def nothing(*_args, **_kwargs) -> None:
            return None

        empty = type("Empty", (base,), dict.fromkeys(hooks(callback_class, base), nothing))
        callback = empty()
    return callback, timed_hooks(callback, base)


def hf_run(with_callback: bool, workdir: Path) -> tuple[float, float]:
    """(wall seconds of train(), CPU seconds inside the callback: xprof's or the empty one)."""
    from transformers import TrainerCallback

    from tests.integrations.tiny_models import tiny_bert_trainer
    from xprof.agent.integrations.huggingface import XprofCallback

    callback, spent = timed(XprofCallback, TrainerCallback, with_callback)
    trainer = tiny_bert_trainer(workdir, [callback], steps_per_epoch=STEPS, epochs=1)
    start = time.perf_counter()
    trainer.train()
    return time.perf_counter() - start, spent[0]


def lightning_run(with_callback: bool, workdir: Path) -> tuple[float, float]:
    import torch

    try:
        import lightning.pytorch as pl
        from lightning.pytorch.callbacks import Callback
    except ImportError:
        import pytorch_lightning as pl
        from pytorch_lightning.callbacks import Callback

    from xprof.agent.integrations.lightning import XprofCallback

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(),
                                           torch.nn.Linear(32, 1))

        def training_step(self, batch, _index):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss, on_step=True, on_epoch=True)
            self.log("lr", 0.01)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(8 * STEPS, 16), torch.randn(8 * STEPS, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    callback, spent = timed(XprofCallback, Callback, with_callback)
    trainer = pl.Trainer(max_epochs=1, log_every_n_steps=1, callbacks=[callback],
                         accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=str(workdir))
    start = time.perf_counter()
    trainer.fit(Module(), loader)
    return time.perf_counter() - start, spent[0]


def measure(run, pairs: int, workdir: Path) -> list[str]:
    bare, wrapped, empty_cpu, xprof_cpu = [], [], [], []
    run(False, workdir)  # warm-up: imports, first allocations
    for _ in range(pairs):
        wall, spent = run(False, workdir)
        bare.append(wall)
        empty_cpu.append(spent)
        wall, spent = run(True, workdir)
        wrapped.append(wall)
        xprof_cpu.append(spent)
    b, w = statistics.median(bare), statistics.median(wrapped)
    net = statistics.median(x - e for x, e in zip(xprof_cpu, empty_cpu, strict=True))
    return [f"{b:.3f}", f"{w:.3f}", f"{w / b:.3f}", f"{(w - b) / STEPS * 1e6:.0f}",
            f"{statistics.median(empty_cpu) / STEPS * 1e6:.1f}",
            f"{statistics.median(xprof_cpu) / STEPS * 1e6:.1f}", f"{net / STEPS * 1e6:.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 pair per framework")
    args = parser.parse_args()
    pairs = 1 if args.quick else 5
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        os.environ["XPROF_METRICS_FILE"] = str(workdir / "metrics.jsonl")  # as `xprof run`
        rows = [["Hugging Face Trainer (tiny BERT)", *measure(hf_run, pairs, workdir / "hf")],
                ["Lightning Trainer (tiny MLP)", *measure(lightning_run, pairs, workdir / "pl")]]
        logged = len((workdir / "metrics.jsonl").read_text().splitlines())
    print(f"{STEPS} steps, every step logged, {pairs} alternating pairs, medians; "
          f"{logged} metric lines written")
    print("| framework | without (s) | with (s) | ratio | difference µs/step | "
          "empty callback CPU µs/step | xprof callback CPU µs/step | xprof's own µs/step |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()

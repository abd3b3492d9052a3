"""Tiny models built from configs on random tensors (nothing is downloaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def tiny_bert_trainer(output_dir: Path, callbacks: list[Any], steps_per_epoch: int = 4,
                      epochs: int = 2):
    """A 1-layer, 16-wide BERT classifier and a Trainer over random token ids."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    torch.manual_seed(0)
    config = BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32,
                        max_position_embeddings=32, num_labels=2)
    model = BertForSequenceClassification(config)
    batch, length = 8, 8
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 100, (batch * steps_per_epoch, length), generator=generator)
    labels = torch.randint(0, 2, (batch * steps_per_epoch,), generator=generator)

    class Tokens(torch.utils.data.Dataset):
        def __len__(self) -> int:
            return len(ids)

        def __getitem__(self, i: int) -> dict:
            return {"input_ids": ids[i], "labels": labels[i]}

    args = TrainingArguments(output_dir=str(output_dir), per_device_train_batch_size=batch,
                             num_train_epochs=epochs, logging_steps=1, report_to=[],
                             save_strategy="no", use_cpu=True, disable_tqdm=True,
                             learning_rate=1e-3, seed=0)
    return Trainer(model=model, args=args, train_dataset=Tokens(), callbacks=callbacks)

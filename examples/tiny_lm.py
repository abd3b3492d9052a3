"""A small Transformer language model on random tokens, trained for a fixed time.

Uses the GPU when torch sees one (bf16 autocast), else the CPU with a smaller model. Logs the
loss and tokens per second with xprof.log, so a GPU run shows what rightsizing sees on a
lightly loaded accelerator. Needs only torch (no data download). Try:
    xprof run --objective loss:min -- python examples/tiny_lm.py --seconds 90
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

import xprof


class TinyLM(nn.Module):
    """Embedding, a few Transformer encoder layers with a causal mask, and a linear head."""

    def __init__(self, vocab: int, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, batch_first=True,
                                           norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(tokens.shape[1],
                                                              device=tokens.device)
        return self.head(self.body(self.embed(tokens), mask=mask, is_causal=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    width = args.width or (512 if cuda else 64)
    batch = args.batch_size or (32 if cuda else 4)
    model = TinyLM(args.vocab, width, args.layers, heads=8 if width % 8 == 0 else 1).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    step, tokens_seen, started = 0, 0, time.time()
    while time.time() - started < args.seconds:
        tokens = torch.randint(0, args.vocab, (batch, args.seq_len + 1), device=device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(tokens[:, :-1])
            loss = loss_fn(logits.reshape(-1, args.vocab).float(), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        tokens_seen += batch * args.seq_len
        if step % 20 == 0:
            elapsed = time.time() - started
            xprof.log(step=step, loss=loss.detach().item(), tokens_per_s=tokens_seen / elapsed)
    print(f'xprof: {{"loss": {loss.detach().item():.4f}, "steps": {step}}}')


if __name__ == "__main__":
    main()

"""A small neural network on scikit-learn's bundled digits, trained epoch by epoch.

Logs loss and validation accuracy per epoch with xprof.log and prints the final accuracy on
a `xprof: {...}` line. Runs offline in well under 30 s. Try:
    xprof run --objective val_acc:max -- python examples/digits_mlp.py --hidden 128 --epochs 30
"""

from __future__ import annotations

import argparse
import json
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import xprof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25,
                                                      random_state=args.seed, stratify=y)
    scaler = StandardScaler().fit(X_train)
    X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)
    model = MLPClassifier(hidden_layer_sizes=(args.hidden,), learning_rate_init=args.lr,
                          batch_size=args.batch_size, max_iter=1, warm_start=True,
                          random_state=args.seed)
    classes = sorted(set(y))
    val_acc = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for epoch in range(args.epochs):
            model.partial_fit(X_train, y_train, classes=classes)
            val_acc = float(model.score(X_val, y_val))
            xprof.log(step=epoch, loss=float(model.loss_), val_acc=val_acc)
    print("xprof: " + json.dumps({"final_val_acc": val_acc}))


if __name__ == "__main__":
    main()

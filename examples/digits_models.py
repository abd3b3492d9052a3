"""Classify scikit-learn's bundled digits with one of two model families; logs via xprof.log.

Runs offline in a few seconds. Try:
    xprof run --objective val_acc:max -- python examples/digits_models.py --model svm --C 3
    xprof run --objective val_acc:max -- python examples/digits_models.py --model forest --trees 200
"""

from __future__ import annotations

import argparse
import time

from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.svm import SVC

import xprof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=["svm", "forest"], default="svm")
    parser.add_argument("--C", type=float, default=3.0, help="SVM regularisation")
    parser.add_argument("--gamma", type=float, default=0.001, help="SVM RBF width")
    parser.add_argument("--trees", type=int, default=200, help="forest size")
    parser.add_argument("--depth", type=int, default=None, help="forest max depth")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.25,
                                                      random_state=args.seed, stratify=y)
    if args.model == "svm":
        model = SVC(C=args.C, gamma=args.gamma)
    else:
        model = RandomForestClassifier(n_estimators=args.trees, max_depth=args.depth,
                                       random_state=args.seed, n_jobs=2)
    start = time.perf_counter()
    scores = cross_val_score(model, X_train, y_train, cv=args.folds)
    for fold, score in enumerate(scores):
        xprof.log(step=fold, cv_acc=float(score))
    model.fit(X_train, y_train)
    val_acc = float(model.score(X_val, y_val))
    xprof.log(step=args.folds, val_acc=val_acc, train_s=time.perf_counter() - start)
    print(f"{args.model}: cv {scores.mean():.4f} ± {scores.std():.4f}, val_acc {val_acc:.4f}")


if __name__ == "__main__":
    main()

"""A notebook executed headless (nbclient, the venv's ipykernel) trains a model inside
`xprof.profile`: its run, samples and metrics are stored; interrupted cells leave killed
runs; a run left open is finished when the kernel shuts down. None stays `running`."""

from __future__ import annotations

import json

import pytest

from tests.integrations.conftest import rows
from tests.integrations.extra import require

nbformat = require("nbformat")
NotebookClient = require("nbclient").NotebookClient

pytestmark = pytest.mark.integrations

CELLS = [
    "import os, signal, time\nimport numpy as np\nimport xprof",
    # train a logistic regression inside the profiled block
    """rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 20))
y = (X @ rng.normal(size=20) > 0).astype(float)
w = np.zeros(20)
with xprof.profile(name="nb-train", project="notebook", params={"lr": 0.5, "epochs": 20},
                   objective="accuracy:max", interval=0.1) as run:
    for epoch in range(20):
        p = 1 / (1 + np.exp(-(X @ w)))
        w -= 0.5 * X.T @ (p - y) / len(y)
        loss = float(-np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)))
        xprof.log(step=epoch, loss=loss, accuracy=float(np.mean((p > 0.5) == y)))
        time.sleep(0.03)
ids = {"train": run.id}""",
    # an interrupted cell: KeyboardInterrupt raised inside the block
    """with xprof.profile(name="nb-interrupted", project="notebook") as run:
    ids["interrupted"] = run.id
    for step in range(100):
        xprof.log(step=step, loss=1.0)
        if step == 5:
            raise KeyboardInterrupt
        time.sleep(0.02)""",
    # the kernel interrupted by a real SIGINT, as Jupyter's interrupt button does
    """with xprof.profile(name="nb-sigint", project="notebook") as run:
    ids["sigint"] = run.id
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(30)""",
    # a run left open: the kernel's shutdown ends it
    """open_run = xprof.start(name="nb-left-open", project="notebook")
ids["left_open"] = open_run.id
print(json.dumps(ids))""".replace("json.dumps", "__import__('json').dumps"),
]


def test_notebook_runs(store, tmp_path):
    """Trained run finished with samples and per-epoch metrics; interrupted runs killed; the
    run left open finished at kernel shutdown."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o["ename"] for cell in notebook.cells for o in cell.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == ["KeyboardInterrupt", "KeyboardInterrupt"]
    printed = notebook.cells[-1]["outputs"][0]["text"]
    ids = json.loads(printed)

    train = store.find_run(ids["train"])
    assert (train["status"], train["exit_code"], train["project"]) == ("finished", 0,
                                                                       "notebook")
    assert len(rows(store, "samples", train["id"])) >= 3
    accuracy = [m for m in rows(store, "metrics", train["id"], order="seq")
                if m["key"] == "accuracy"]
    assert [m["step"] for m in accuracy] == list(range(20))
    assert accuracy[-1]["value"] > 0.9
    assert store.run_details(train["id"])["params"] == {"lr": "0.5", "epochs": "20"}

    for name in ("interrupted", "sigint"):
        run = store.find_run(ids[name])
        assert (run["status"], run["signal"], run["exit_code"]) == ("killed", 2, 130), name
    assert store.run_details(ids["interrupted"])["counts"]["metrics"] == 6

    left_open = store.find_run(ids["left_open"])
    assert left_open["status"] == "finished" and left_open["ended_at"] is not None
    assert not [r for r in store.list_runs(project="notebook") if r["status"] == "running"]

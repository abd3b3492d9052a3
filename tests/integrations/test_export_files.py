"""`xprof export runs|samples|metrics|costs` writes CSV and Parquet files that read back
(xprof.frames.read_frame) equal to the DataFrame API's frames, types included; bad input is
one line, exit 2, and no file."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.integrations.seed import seed_runs
from xprof import frames
from xprof.cli import cli


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture
def seeded(store):
    return seed_runs(store)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("kind", ["runs", "samples", "gpu_samples", "metrics", "costs"])
def test_round_trip(store, seeded, tmp_path, fmt, kind):
    """What `xprof export KIND --format FMT -o FILE` writes reads back as the same frame."""
    path = tmp_path / f"{kind}.{fmt}"
    args = {"runs": ["runs", "--project", "vision"],
            "samples": ["samples", *seeded], "gpu_samples": ["samples", "--gpu", *seeded],
            "metrics": ["metrics", seeded[0], seeded[2]],
            "costs": ["costs", "--project", "vision"]}[kind]
    result = invoke("export", *args, "--format", fmt, "-o", str(path))
    assert result.exit_code == 0, result.output
    expected = frames.frame_for(kind, store, project="vision",
                                runs_=seeded if kind != "metrics" else [seeded[0], seeded[2]])
    back = frames.read_frame(path, kind)
    pd.testing.assert_frame_equal(back, expected, check_exact=True)
    assert len(back) == {"runs": 3, "samples": 15, "gpu_samples": 15, "metrics": 12,
                         "costs": 3}[kind]


def test_csv_to_stdout(store, seeded):
    """Without -o the CSV goes to standard output, one line a run plus the header."""
    result = invoke("export", "runs")
    assert result.exit_code == 0
    frame = pd.read_csv(io.StringIO(result.stdout))
    assert list(frame["name"]) == ["resnet-c", "resnet-b", "resnet-a"]
    assert "param.lr" in frame.columns


def test_format_from_suffix(store, seeded, tmp_path):
    """-o FILE.parquet writes Parquet without --format."""
    path = tmp_path / "runs.parquet"
    assert invoke("export", "runs", "-o", str(path)).exit_code == 0
    assert path.read_bytes()[:4] == b"PAR1"
    assert frames.read_frame(path)["cost"].tolist() == frames.runs(store=store)["cost"].tolist()


@pytest.mark.parametrize(("args", "message"), [
    (["runs", "--format", "parquet"], "-o FILE.parquet"),
    (["samples", "no-such-run"], "no run matches"),
    (["runs", "-o", "/nonexistent-dir/runs.csv"], "does not exist"),
    (["mlflow", "--tracking-uri", "sqlite:///x.db"], "give one RUN or --project"),
])
def test_bad_input(store, seeded, tmp_path, args, message):
    """Bad flags or runs: one line naming the problem, exit 2, nothing written."""
    result = CliRunner().invoke(cli, ["export", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.glob("*.csv")) == []


@pytest.mark.parametrize("kind", ["runs", "samples", "metrics", "costs"])
def test_plain_read_parquet_keeps_types(store, seeded, tmp_path, kind):
    """A plain `pd.read_parquet` of an export (no xprof) gives Int64, string and boolean
    columns back as such, not float64 and object."""
    path = tmp_path / f"{kind}.parquet"
    args = {"runs": ["runs", "--project", "vision"], "samples": ["samples", *seeded],
            "metrics": ["metrics", seeded[0]], "costs": ["costs", "--project", "vision"]}[kind]
    assert invoke("export", *args, "-o", str(path)).exit_code == 0
    plain = pd.read_parquet(path)
    expected = frames.read_frame(path)
    typed = [c for c, t in expected.dtypes.items() if str(t) in ("Int64", "string", "boolean")]
    assert typed
    for column in typed:
        assert str(plain[column].dtype) == str(expected[column].dtype), column
    pd.testing.assert_frame_equal(plain[typed], expected[typed])

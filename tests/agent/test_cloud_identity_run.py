"""Through the real `xprof run`: the machine's cloud identity lands on the run's row."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from tests.agent.imds_servers import (
    SERVERS,
    AwsImdsServer,
    EventLog,
    WitnessServer,
    make_dmi_dir,
    pinned_env,
)

PY = sys.executable
WAIT_S = 20.0
EXPECTED = {
    "aws": {"cloud_provider": "aws", "cloud_account": "123456789012",
            "cloud_region": "us-east-1", "cloud_zone": "us-east-1a",
            "instance_id": "i-0abc1234def567890", "instance_type": "p3.2xlarge",
            "lifecycle": "on-demand"},
    "gcp": {"cloud_provider": "gcp", "cloud_account": "ml-team-prod",
            "cloud_region": "us-central1", "cloud_zone": "us-central1-a",
            "instance_id": "4520539719284738291", "instance_type": "n1-standard-8",
            "lifecycle": "on-demand"},
    "azure": {"cloud_provider": "azure", "cloud_account": "8d10da13-8125-4ba9-a717-bf7490507b3d",
              "cloud_region": "eastus", "cloud_zone": "1",
              "instance_id": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
              "instance_type": "Standard_NC6s_v3", "lifecycle": "on-demand"},
}


def identity_env(tmp_path: Path, cloud: str | None, urls: dict[str, str], **extra: str
                 ) -> dict[str, str]:
    """Detection on (the test suite turns it off), DMI and every endpoint pinned."""
    env = pinned_env(make_dmi_dir(tmp_path / "dmi", cloud), urls)
    return {**env, "XPROF_PROVIDER": "", "XPROF_IDENTITY_TIMEOUT": "10", **extra}


def row(store) -> dict:
    [run] = store.list_runs()
    return run


def columns(run: dict) -> dict:
    return {key: run[key] for key in EXPECTED["aws"]}


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_identity_lands_on_the_run(tmp_path, xprof, store, cloud):
    """A run on a (local, pinned) AWS, GCP or Azure VM records its identity on the run row."""
    with SERVERS[cloud]() as server:
        result = xprof("run", "--quiet", "--", PY, "-c", "pass",
                       env=identity_env(tmp_path, cloud, {cloud: server.url}))
    assert result.returncode == 0, result.stderr
    run = row(store)
    assert columns(run) == EXPECTED[cloud]
    assert run["cloud"]["source"] == "imds"


def test_refused_token_takes_the_imdsv1_path(tmp_path, xprof, store):
    """An instance refusing the IMDSv2 token is read over IMDSv1 and its identity recorded."""
    with AwsImdsServer(refuse_token=403) as server:
        result = xprof("run", "--quiet", "--", PY, "-c", "pass",
                       env=identity_env(tmp_path, "aws", {"aws": server.url}))
    assert result.returncode == 0, result.stderr
    assert columns(row(store)) == EXPECTED["aws"]
    gets = [r for r in server.requests if r.method == "GET"]
    assert server.paths("PUT") == ["/latest/api/token"]
    assert gets and not any("x-aws-ec2-metadata-token" in r.headers for r in gets)


def test_hanging_service_never_holds_the_child(tmp_path, xprof, store):
    """The child runs and ends while IMDS holds the request; the run says unknown (timeout)."""
    events = EventLog()
    held_flag = tmp_path / "held"
    with AwsImdsServer(hang=True, events=events) as server, \
            WitnessServer(events=events) as witness:
        threading.Thread(target=lambda: server.holding.wait(WAIT_S) and held_flag.touch(),
                         daemon=True).start()
        child = ("import pathlib, time, urllib.request\n"
                 f"flag = pathlib.Path({str(held_flag)!r})\n"
                 "deadline = time.monotonic() + 20\n"
                 "while not flag.exists() and time.monotonic() < deadline:\n"
                 "    time.sleep(0.01)\n"
                 f"urllib.request.urlopen({witness.url + '/child-running'!r}, timeout=5).read()\n")
        result = xprof("run", "--quiet", "--", PY, "-c", child,
                       env=identity_env(tmp_path, "aws", {"aws": server.url},
                                        XPROF_IDENTITY_TIMEOUT="0.2"))
        events.add("xprof exited")
    assert result.returncode == 0, result.stderr
    order = [events.index(e) for e in ("aws: held", "child: GET /child-running",
                                       "xprof exited", "aws: released")]
    assert order == sorted(order), events.events
    run = row(store)
    assert run["cloud_provider"] == "unknown"
    assert run["cloud"]["error"] == "unknown (timeout)"


def test_flags_fill_and_imds_still_gives_the_instance_id(tmp_path, xprof, store):
    """--provider/--instance-type/--region/--lifecycle are recorded as given, and IMDS is
    still asked: the instance id billing joins on is recorded (issue 15 #3)."""
    with AwsImdsServer() as server:
        result = xprof("run", "--quiet", "--provider", "aws", "--instance-type", "g5.2xlarge",
                       "--region", "us-west-2", "--lifecycle", "spot", "--", PY, "-c", "pass",
                       env=identity_env(tmp_path, "aws", {"aws": server.url}))
    assert result.returncode == 0, result.stderr
    run = row(store)
    assert (run["cloud_provider"], run["instance_type"], run["cloud_region"],
            run["lifecycle"], run["instance_id"], run["cloud"]["source"]) == (
        "aws", "g5.2xlarge", "us-west-2", "spot", "i-0abc1234def567890", "imds")
    assert server.requests


def test_provider_none_asks_nothing(tmp_path, xprof, store):
    """XPROF_PROVIDER=none records provider none and sends no metadata request."""
    with AwsImdsServer() as server:
        result = xprof("run", "--quiet", "--", PY, "-c", "pass",
                       env=identity_env(tmp_path, "aws", {"aws": server.url},
                                        XPROF_PROVIDER="none"))
    assert result.returncode == 0, result.stderr
    run = row(store)
    assert (run["cloud_provider"], run["cloud"]["source"]) == ("none", "disabled")
    assert server.requests == []


def test_spot_interruption_lands_on_the_run(tmp_path, xprof, store):
    """An interruption notice AWS posts while the child runs is recorded on the run."""
    seen_flag = tmp_path / "polled"
    with AwsImdsServer(lifecycle="spot", spot_action={
            "action": "terminate", "time": "2026-05-09T08:22:00Z"}) as server:
        spot_path = "/latest/meta-data/spot/instance-action"

        def flag_when_polled() -> None:
            deadline = time.monotonic() + WAIT_S
            while spot_path not in server.paths() and time.monotonic() < deadline:
                time.sleep(0.01)
            seen_flag.touch()

        threading.Thread(target=flag_when_polled, daemon=True).start()
        child = ("import pathlib, time\n"
                 f"flag = pathlib.Path({str(seen_flag)!r})\n"
                 "deadline = time.monotonic() + 20\n"
                 "while not flag.exists() and time.monotonic() < deadline:\n"
                 "    time.sleep(0.01)\n")
        result = xprof("run", "--quiet", "--", PY, "-c", child,
                       env=identity_env(tmp_path, "aws", {"aws": server.url}))
    assert result.returncode == 0, result.stderr
    run = row(store)
    assert run["lifecycle"] == "spot"
    notice = run["cloud"]["interruption"]
    assert (notice["provider"], notice["action"], notice["time"]) == (
        "aws", "terminate", "2026-05-09T08:22:00Z")

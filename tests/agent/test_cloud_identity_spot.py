"""A spot interruption notice seen while the run lives is recorded; polling stops on stop()."""

from __future__ import annotations

import time

import pytest

from tests.agent.imds_servers import (
    AwsImdsServer,
    AzureImdsServer,
    GcpMetadataServer,
    make_dmi_dir,
    pinned_settings,
)
from xprof.agent.cloud_identity import IdentityResolver

WAIT_S = 10.0
POLL_S = 0.01  # tests poll fast; the agent's default is SPOT_POLL_INTERVAL_S


def start(tmp_path, cloud, server):
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", cloud), {cloud: server.url})
    return IdentityResolver.start(settings, poll_interval=POLL_S)


def wait_for(condition):
    """Wait (bounded) until condition() is true; the bound only guards against a hang."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.005)


SPOT = {
    "aws": (lambda: AwsImdsServer(lifecycle="spot", spot_action={
        "action": "terminate", "time": "2026-05-09T08:22:00Z"}),
            {"provider": "aws", "action": "terminate", "time": "2026-05-09T08:22:00Z"}),
    "gcp": (lambda: GcpMetadataServer(preemptible=True, preempted=True),
            {"provider": "gcp", "action": "preempt", "time": None}),
    "azure": (lambda: AzureImdsServer(priority="Spot", preempt=True),
              {"provider": "azure", "action": "preempt", "time": "2016-09-19T18:29:47+00:00"}),
}


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_interruption_notice_is_recorded(tmp_path, cloud):
    """A spot VM whose metadata announces an interruption gets it recorded with seen_at."""
    make_server, expected = SPOT[cloud]
    with make_server() as server:
        resolver = start(tmp_path, cloud, server)
        assert resolver.result(WAIT_S).lifecycle == "spot"
        wait_for(lambda: resolver.interruption() is not None)
        assert resolver.stop(wait=WAIT_S)
    notice = resolver.interruption()
    assert {k: v for k, v in notice.items() if k != "seen_at"} == expected
    assert notice["seen_at"].endswith("+00:00")
    fields = resolver.result(0).run_fields(interruption=notice)
    assert fields["cloud"]["interruption"] == notice


def test_notice_that_comes_later_is_seen(tmp_path):
    """A notice AWS posts after some quiet polls is still caught by the poller."""
    with AwsImdsServer(lifecycle="spot") as server:
        resolver = start(tmp_path, "aws", server)
        spot_path = "/latest/meta-data/spot/instance-action"
        wait_for(lambda: server.paths().count(spot_path) >= 2)
        assert resolver.interruption() is None
        server.spot_action = {"action": "stop", "time": "2026-05-09T09:00:00Z"}
        wait_for(lambda: resolver.interruption() is not None)
        resolver.stop(wait=WAIT_S)
    assert resolver.interruption()["action"] == "stop"


def test_preempt_event_for_another_vm_is_ignored(tmp_path):
    """An Azure Preempt event naming only other VMs is not this run's interruption."""
    with AzureImdsServer(priority="Spot", preempt=True,
                         preempt_resources=["someone-else"]) as server:
        resolver = start(tmp_path, "azure", server)
        wait_for(lambda: sum("scheduledevents" in p for p in server.paths()) >= 2)
        assert resolver.stop(wait=WAIT_S)
    assert resolver.interruption() is None


def test_on_demand_vm_is_not_polled(tmp_path):
    """An on-demand instance's identity is taken and no spot notice is ever asked for."""
    with AwsImdsServer(lifecycle="on-demand") as server:
        resolver = start(tmp_path, "aws", server)
        assert resolver.result(WAIT_S).lifecycle == "on-demand"
        assert resolver.stop(wait=WAIT_S)
    assert not any("spot" in p for p in server.paths())
    assert resolver.interruption() is None


def test_stop_ends_polling(tmp_path):
    """After stop() the poller's thread ends, so the service gets no further poll."""
    with AwsImdsServer(lifecycle="spot") as server:
        resolver = start(tmp_path, "aws", server)
        wait_for(lambda: "/latest/meta-data/spot/instance-action" in server.paths())
        assert resolver.stop(wait=WAIT_S)
        seen = len(server.requests)
        assert resolver.stop(wait=WAIT_S)
        assert len(server.requests) == seen


def test_failing_polls_never_raise(tmp_path):
    """A spot endpoint answering 500 is retried quietly; the run just has no notice."""
    with AwsImdsServer(lifecycle="spot") as server:
        resolver = start(tmp_path, "aws", server)
        assert resolver.result(WAIT_S).lifecycle == "spot"
        server.fail_status = 500
        wait_for(lambda: server.paths().count("/latest/meta-data/spot/instance-action") >= 3)
        assert resolver.stop(wait=WAIT_S)
    assert resolver.interruption() is None

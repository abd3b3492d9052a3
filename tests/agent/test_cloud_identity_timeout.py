"""A metadata service that hangs never holds anything up: start returns, result times out."""

from __future__ import annotations

import pytest

from tests.agent.imds_servers import SERVERS, EventLog, make_dmi_dir, pinned_settings
from xprof.agent.cloud_identity import IdentityResolver

WAIT_S = 10.0


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_hanging_service_gives_unknown_timeout(tmp_path, cloud):
    """start() returns and result(timeout) records `unknown (timeout)` while the request hangs."""
    events = EventLog()
    with SERVERS[cloud](hang=True, events=events) as server:
        settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", cloud), {cloud: server.url})
        resolver = IdentityResolver.start(settings)
        events.add("start returned")
        assert server.holding.wait(WAIT_S)
        identity = resolver.result(0.05)
        events.add("result taken")
        resolver.stop()
    assert events.index("start returned") < events.index(f"{cloud}: released")
    assert events.index(f"{cloud}: held") < events.index("result taken") \
        < events.index(f"{cloud}: released")
    assert identity.run_fields() == {
        "cloud_provider": "unknown", "cloud_account": None, "cloud_region": None,
        "cloud_zone": None, "instance_id": None, "instance_type": None, "lifecycle": None,
        "cloud": {"source": "imds", "error": "unknown (timeout)"}}


def test_identity_that_comes_late_is_still_taken(tmp_path):
    """A result asked again after a timeout gets the identity once the service answered."""
    with SERVERS["aws"](hang=True) as server:
        settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "aws"), {"aws": server.url})
        resolver = IdentityResolver.start(settings)
        assert server.holding.wait(WAIT_S)
        assert resolver.result(0).error == "unknown (timeout)"
        server.hang = False
        server.release()
        identity = resolver.result(WAIT_S)
    # the held token PUT outlived its 1 s timeout or was answered in time: either way the
    # result is final and not a timeout
    assert identity.provider == "aws" and identity.error != "unknown (timeout)"
    assert identity.instance_id == "i-0abc1234def567890"

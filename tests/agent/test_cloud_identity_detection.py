"""Which metadata service is asked: DMI picks one, off-cloud asks none, a named provider
only its own (flags fill what metadata cannot tell, they never switch detection off)."""

from __future__ import annotations

import pytest

from tests.agent.imds_servers import (
    SERVERS,
    AzureImdsServer,
    EventLog,
    closed_port_url,
    make_dmi_dir,
    pinned_settings,
)
from xprof.agent.cloud_identity import AZURE_ASSET_TAG, IdentityResolver, provider_from_dmi

WAIT_S = 10.0


@pytest.fixture
def servers():
    """One running server per provider."""
    running = {name: cls() for name, cls in SERVERS.items()}
    for server in running.values():
        server.__enter__()
    yield running
    for server in running.values():
        server.__exit__(None, None, None)


def urls(servers):
    return {name: server.url for name, server in servers.items()}


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_dmi_picks_the_one_service_to_ask(tmp_path, servers, cloud):
    """With DMI naming a cloud, only that cloud's metadata service gets any request."""
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", cloud), urls(servers))
    identity = IdentityResolver.start(settings).result(WAIT_S)
    assert (identity.provider, identity.source, identity.error) == (cloud, "imds", None)
    assert {name: bool(s.requests) for name, s in servers.items()} == {
        name: name == cloud for name in servers}


def test_dmi_naming_no_cloud_is_off_cloud_without_a_request(tmp_path, servers):
    """DMI files of an on-premises server mean provider none at once: no request at all."""
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "dell"), urls(servers))
    identity = IdentityResolver.start(settings).result(WAIT_S)
    assert identity.run_fields()["cloud_provider"] == "none"
    assert identity.source == "dmi"
    assert all(s.requests == [] for s in servers.values())


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_without_dmi_the_answering_cloud_is_found(tmp_path, cloud):
    """Without DMI files all three are probed; the one that answers its protocol wins."""
    with SERVERS[cloud]() as server:
        settings = pinned_settings(make_dmi_dir(tmp_path, None), {cloud: server.url})
        identity = IdentityResolver.start(settings).result(WAIT_S)
    assert (identity.provider, identity.source, identity.error) == (cloud, "imds", None)
    assert identity.instance_id


def test_without_dmi_a_foreign_protocol_is_not_taken(tmp_path):
    """Probing AWS and GCP endpoints that answer Azure's protocol finds Azure, not them."""
    with AzureImdsServer() as azure:
        settings = pinned_settings(make_dmi_dir(tmp_path, None),
                                   {"aws": azure.url, "gcp": azure.url, "azure": azure.url})
        identity = IdentityResolver.start(settings).result(WAIT_S)
    assert identity.provider == "azure"


def test_without_dmi_refused_ports_mean_off_cloud(tmp_path):
    """Without DMI, endpoints that refuse connections mean provider none, no error."""
    settings = pinned_settings(make_dmi_dir(tmp_path, None))
    identity = IdentityResolver.start(settings).result(WAIT_S)
    assert (identity.provider, identity.error) == ("none", None)


def test_without_dmi_silent_endpoints_are_not_waited_for(tmp_path):
    """Probes whose endpoints never answer give provider none while those requests still hang."""
    events = EventLog()
    hanging = {name: cls(hang=True, events=events) for name, cls in SERVERS.items()}
    for server in hanging.values():
        server.__enter__()
    try:
        settings = pinned_settings(make_dmi_dir(tmp_path, None), urls(hanging))
        identity = IdentityResolver.start(settings).result(WAIT_S)
        events.add("identity resolved")
        assert all(server.holding.wait(WAIT_S) for server in hanging.values())
    finally:
        for server in hanging.values():
            server.__exit__(None, None, None)
    assert (identity.provider, identity.error) == ("none", None)
    for name in hanging:
        assert events.index("identity resolved") < events.index(f"{name}: released")


def test_provider_none_asks_nothing(tmp_path, servers):
    """XPROF_PROVIDER=none records provider none (source disabled), even on a DMI-named cloud."""
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "aws"), urls(servers),
                               provider="none")
    identity = IdentityResolver.start(settings).result(0)
    assert (identity.provider, identity.source) == ("none", "disabled")
    assert all(s.requests == [] for s in servers.values())


def test_provider_with_instance_type_still_asks_for_the_instance_id(tmp_path, servers):
    """--provider with --instance-type (and --region) asks that provider's service: the
    flags' values are recorded, the instance id (what billing joins on) comes from it."""
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "aws"), urls(servers),
                               provider="gcp", instance_type="a2-highgpu-1g",
                               region="europe-west4")
    identity = IdentityResolver.start(settings).result(WAIT_S)
    fields = identity.run_fields()
    assert (fields["cloud_provider"], fields["instance_type"], fields["cloud_region"],
            fields["instance_id"], fields["cloud"]["source"]) == (
        "gcp", "a2-highgpu-1g", "europe-west4", "4520539719284738291", "imds")
    assert {name: bool(s.requests) for name, s in servers.items()} == {
        "aws": False, "gcp": True, "azure": False}


def test_flags_alone_where_no_metadata_answers(tmp_path):
    """No metadata service (connection refused): the flags are recorded as given, with the
    --instance-id setting as the id billing joins on, and no error."""
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", None),
                               {"aws": closed_port_url()}, provider="aws",
                               instance_type="m5.2xlarge", region="us-east-1",
                               instance_id="i-0feed0000000000001")
    identity = IdentityResolver.start(settings).result(WAIT_S)
    assert identity.run_fields() == {
        "cloud_provider": "aws", "cloud_account": None, "cloud_region": "us-east-1",
        "cloud_zone": None, "instance_id": "i-0feed0000000000001",
        "instance_type": "m5.2xlarge", "lifecycle": "on-demand",
        "cloud": {"source": "override", "resource_id": "i-0feed0000000000001"}}


def test_provider_alone_asks_that_provider_only(tmp_path, servers):
    """--provider without an instance type asks that provider's service, whatever DMI says."""
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "gcp"), urls(servers),
                               provider="azure")
    identity = IdentityResolver.start(settings).result(WAIT_S)
    assert (identity.provider, identity.instance_type) == ("azure", "Standard_NC6s_v3")
    assert [name for name, s in servers.items() if s.requests] == ["azure"]


def test_instance_type_alone_replaces_the_detected_one(tmp_path, servers):
    """--instance-type without --provider keeps detection and records the given type."""
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "aws"), urls(servers),
                               instance_type="p4d.24xlarge")
    identity = IdentityResolver.start(settings).result(WAIT_S)
    assert (identity.provider, identity.instance_id, identity.instance_type) == (
        "aws", "i-0abc1234def567890", "p4d.24xlarge")


@pytest.mark.parametrize(("dmi", "cloud"), [
    ({"sys_vendor": "Amazon EC2", "product_name": "m7i.large"}, "aws"),
    ({"sys_vendor": "Xen", "bios_vendor": "Xen", "bios_version": "4.11.amazon"}, "aws"),
    ({"sys_vendor": "Google", "product_name": "Google Compute Engine"}, "gcp"),
    ({"sys_vendor": "Microsoft Corporation", "chassis_asset_tag": AZURE_ASSET_TAG}, "azure"),
    ({"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"}, "none"),
    ({"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)"}, "none"),
    ({"sys_vendor": "LENOVO", "product_name": "20XW0026US"}, "none"),
])
def test_dmi_strings_name_the_cloud(dmi, cloud):
    """Nitro and Xen EC2, GCE and Azure DMI strings name their cloud; others name none."""
    assert provider_from_dmi(dmi) == cloud

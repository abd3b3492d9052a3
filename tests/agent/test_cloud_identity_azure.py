"""Azure: identity from IMDS with Metadata: true and an api-version; Spot/Low is spot."""

from __future__ import annotations

import pytest

from tests.agent.imds_servers import AzureImdsServer, make_dmi_dir, pinned_settings
from xprof.agent.cloud_identity import IdentityResolver

WAIT_S = 10.0


def resolve(tmp_path, server: AzureImdsServer):
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "azure"), {"azure": server.url})
    return IdentityResolver.start(settings).result(WAIT_S)


def test_identity_lands_in_run_fields(tmp_path):
    """vmId, vmSize, location, zone, subscription and resourceId land on the run's columns."""
    with AzureImdsServer(vm_size="Standard_NC24ads_A100_v4", location="westus2",
                         zone="") as server:
        identity = resolve(tmp_path, server)
    assert identity.run_fields() == {
        "cloud_provider": "azure", "cloud_account": "8d10da13-8125-4ba9-a717-bf7490507b3d",
        "cloud_region": "westus2", "cloud_zone": None,
        "instance_id": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
        "instance_type": "Standard_NC24ads_A100_v4", "lifecycle": "on-demand",
        "cloud": {"source": "imds", "resource_id": (
            "/subscriptions/8d10da13-8125-4ba9-a717-bf7490507b3d/resourceGroups/ml/providers/"
            "Microsoft.Compute/virtualMachines/trainer-1")},
    }


def test_requests_carry_metadata_header_and_api_version(tmp_path):
    """Every request sends Metadata: true and an api-version query (IMDS refuses others)."""
    with AzureImdsServer() as server:
        resolve(tmp_path, server)
    assert server.requests
    assert all(r.headers.get("metadata") == "true" for r in server.requests)
    assert all("api-version=" in r.path for r in server.requests)


@pytest.mark.parametrize("priority", ["Spot", "Low"])
def test_spot_and_low_priority_are_spot(tmp_path, priority):
    """Spot and (legacy) Low priority VMs are recorded as lifecycle spot."""
    with AzureImdsServer(priority=priority) as server:
        assert resolve(tmp_path, server).lifecycle == "spot"


def test_hyperv_on_premises_is_not_azure(tmp_path):
    """Microsoft Corporation in DMI without Azure's chassis tag is off-cloud: nothing asked."""
    with AzureImdsServer() as server:
        settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "hyperv"),
                                   {"azure": server.url})
        identity = IdentityResolver.start(settings).result(WAIT_S)
    assert (identity.provider, identity.source) == ("none", "dmi")
    assert server.requests == []

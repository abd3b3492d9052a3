"""GCP: identity from the metadata server with Metadata-Flavor: Google; spot/preemptible."""

from __future__ import annotations

import pytest

from tests.agent.imds_servers import GcpMetadataServer, make_dmi_dir, pinned_settings
from xprof.agent.cloud_identity import IdentityResolver

WAIT_S = 10.0


def resolve(tmp_path, server: GcpMetadataServer):
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "gcp"), {"gcp": server.url})
    return IdentityResolver.start(settings).result(WAIT_S)


def test_identity_lands_in_run_fields(tmp_path):
    """Project, numeric id, machine type, zone and its region come from the metadata server."""
    with GcpMetadataServer(machine_type="a2-highgpu-1g", zone="europe-west4-a") as server:
        identity = resolve(tmp_path, server)
    assert identity.run_fields() == {
        "cloud_provider": "gcp", "cloud_account": "ml-team-prod",
        "cloud_region": "europe-west4", "cloud_zone": "europe-west4-a",
        "instance_id": "4520539719284738291", "instance_type": "a2-highgpu-1g",
        "lifecycle": "on-demand",
        "cloud": {"source": "imds", "resource_id": "4520539719284738291"},
    }


def test_every_request_says_metadata_flavor_google(tmp_path):
    """Every request carries Metadata-Flavor: Google (the server refuses others)."""
    with GcpMetadataServer() as server:
        resolve(tmp_path, server)
    assert server.requests
    assert all(r.headers.get("metadata-flavor") == "Google" for r in server.requests)


@pytest.mark.parametrize(("preemptible", "model"), [(True, None), (False, "SPOT")])
def test_preemptible_and_spot_vms_are_spot(tmp_path, preemptible, model):
    """A preemptible VM and a SPOT provisioning model are both recorded as lifecycle spot."""
    with GcpMetadataServer(preemptible=preemptible, provisioning_model=model) as server:
        assert resolve(tmp_path, server).lifecycle == "spot"


def test_n1_with_attached_gpus_gets_the_catalog_key(tmp_path):
    """An N1 machine whose metadata lists attached GPUs is recorded as n1-...+gpu:count."""
    gpus = [{"acceleratorType": "projects/812345678901/zones/us-central1-a/acceleratorTypes/"
                                "nvidia-tesla-t4", "acceleratorCount": 1}]
    with GcpMetadataServer(machine_type="n1-standard-8", accelerators=gpus) as server:
        identity = resolve(tmp_path, server)
    assert identity.instance_type == "n1-standard-8+nvidia-tesla-t4:1"


def test_answer_without_flavor_header_is_not_gcp(tmp_path):
    """A server that does not answer with Metadata-Flavor: Google is not taken for GCP."""
    from tests.agent.imds_servers import AzureImdsServer

    with AzureImdsServer() as other:  # any HTTP server that is not GCP's
        settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "gcp"), {"gcp": other.url})
        identity = IdentityResolver.start(settings).result(WAIT_S)
    assert identity.instance_id is None
    assert identity.error == ("gcp metadata: not a GCP metadata server "
                              "(no Metadata-Flavor: Google)")


def test_default_host_is_asked_by_address():
    """The default metadata.google.internal is asked at 169.254.169.254: no DNS lookup."""
    from xprof.agent.imds_gcp import GcpMetadata

    assert GcpMetadata("http://metadata.google.internal", 1.0).base_url == \
        "http://169.254.169.254"
    assert GcpMetadata("http://127.0.0.1:8080", 1.0).base_url == "http://127.0.0.1:8080"

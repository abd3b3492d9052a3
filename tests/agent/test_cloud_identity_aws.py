"""AWS: IMDSv2 token flow, IMDSv1 only when the token is refused, never on a timeout."""

from __future__ import annotations

import pytest

from tests.agent.imds_servers import AwsImdsServer, make_dmi_dir, pinned_settings
from xprof.agent.cloud_identity import IdentityResolver

WAIT_S = 10.0  # generous: the local server answers in milliseconds


def resolve(tmp_path, server: AwsImdsServer, **values):
    settings = pinned_settings(make_dmi_dir(tmp_path / "dmi", "aws"), {"aws": server.url},
                               **values)
    return IdentityResolver.start(settings).result(WAIT_S)


def test_imdsv2_identity_lands_in_run_fields(tmp_path):
    """Every identity field comes from IMDSv2 and maps onto the runs table's columns."""
    with AwsImdsServer(instance_type="g5.xlarge", region="eu-west-1", zone="eu-west-1b",
                       account="210987654321") as server:
        identity = resolve(tmp_path, server)
    assert identity.run_fields() == {
        "cloud_provider": "aws", "cloud_account": "210987654321", "cloud_region": "eu-west-1",
        "cloud_zone": "eu-west-1b", "instance_id": "i-0abc1234def567890",
        "instance_type": "g5.xlarge", "lifecycle": "on-demand",
        "cloud": {"source": "imds", "resource_id": "i-0abc1234def567890"},
    }


def test_every_get_carries_the_token_from_the_put(tmp_path):
    """One token PUT with a TTL header comes first, and every GET sends that token back."""
    with AwsImdsServer() as server:
        resolve(tmp_path, server)
    first, *gets = server.requests
    assert (first.method, first.path) == ("PUT", "/latest/api/token")
    assert 1 <= int(first.headers["x-aws-ec2-metadata-token-ttl-seconds"]) <= 21600
    assert gets and all(r.method == "GET" for r in gets)
    assert {r.headers.get("x-aws-ec2-metadata-token") for r in gets} == server.tokens
    assert len(server.tokens) == 1


def test_spot_instance_life_cycle_is_spot(tmp_path):
    """instance-life-cycle `spot` is recorded as lifecycle spot."""
    with AwsImdsServer(lifecycle="spot") as server:
        assert resolve(tmp_path, server).lifecycle == "spot"


@pytest.mark.parametrize("refusal", [403, 404, 405])
def test_refused_token_falls_back_to_imdsv1(tmp_path, refusal):
    """A refused token PUT (403/404/405) leads to IMDSv1 GETs without a token, same identity."""
    with AwsImdsServer(refuse_token=refusal) as server:
        identity = resolve(tmp_path, server)
    assert (identity.provider, identity.instance_id, identity.instance_type) == (
        "aws", "i-0abc1234def567890", "p3.2xlarge")
    assert identity.error is None
    assert server.paths("PUT") == ["/latest/api/token"]
    gets = [r for r in server.requests if r.method == "GET"]
    assert gets and not any("x-aws-ec2-metadata-token" in r.headers for r in gets)


def test_token_error_other_than_refusal_gets_no_imdsv1(tmp_path):
    """A token PUT answered 400 is an error, not a reason to try IMDSv1."""
    with AwsImdsServer(refuse_token=400) as server:
        identity = resolve(tmp_path, server)
    assert server.paths() == ["/latest/api/token"]
    assert identity.provider == "aws" and identity.source == "dmi"
    assert identity.error == "aws metadata: token request answered HTTP 400"


def test_token_timeout_gets_no_imdsv1(tmp_path):
    """A token PUT that times out is not a refusal: no IMDSv1 request follows."""
    with AwsImdsServer(hang=True) as server:
        identity = resolve(tmp_path, server)
        seen = server.paths()
    assert seen == ["/latest/api/token"]
    assert identity.error == "aws metadata: timed out"


def test_metadata_failure_keeps_what_dmi_tells(tmp_path):
    """When IMDS answers 404 everywhere, the Nitro DMI strings still give type and id."""
    with AwsImdsServer(not_found=True) as server:
        identity = resolve(tmp_path, server)
    assert (identity.provider, identity.source) == ("aws", "dmi")
    assert (identity.instance_type, identity.instance_id) == ("p3.2xlarge",
                                                              "i-0abc1234def567890")
    assert identity.error.startswith("aws metadata: ")


def test_settings_replace_detected_fields(tmp_path):
    """--instance-type/--region/--lifecycle given with detection replace what IMDS says."""
    with AwsImdsServer() as server:
        identity = resolve(tmp_path, server, region="us-west-2", lifecycle="spot")
    assert (identity.instance_id, identity.region, identity.lifecycle) == (
        "i-0abc1234def567890", "us-west-2", "spot")

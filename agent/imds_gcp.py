"""GCP Compute Engine metadata server (``Metadata-Flavor: Google`` both ways).

Identity: ``project/project-id`` and the instance's recursive listing
(``instance/?recursive=true``: id, machineType, zone, scheduling, and guestAccelerators where
the server lists them). Spot: ``instance/preempted`` turns ``TRUE`` once the VM is preempted.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from xprof.agent.imds_http import MetadataError, request

PROVIDER = "gcp"
PREFIX = "/computeMetadata/v1/"
HEADERS = {"Metadata-Flavor": "Google"}
# The metadata server is always at this address on GCE; asking it directly, as google-auth
# does, spares a DNS lookup of metadata.google.internal that can hang off-cloud.
METADATA_HOST = "metadata.google.internal"
METADATA_IP = "169.254.169.254"


def _direct(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.hostname != METADATA_HOST:
        return base_url
    netloc = METADATA_IP + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class GcpMetadata:
    """A session with one GCP metadata server."""

    provider = PROVIDER

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = _direct(base_url)
        self.timeout = timeout
        self.answered = False  # a Metadata-Flavor: Google answer came back

    def get(self, path: str, timeout: float | None = None) -> str | None:
        """The text at ``/computeMetadata/v1/`` + path; None for 404."""
        answer = request(self.base_url, PREFIX + path, headers=HEADERS,
                         timeout=self.timeout if timeout is None else timeout)
        if answer.headers.get("metadata-flavor") != "Google":
            raise MetadataError("not a GCP metadata server (no Metadata-Flavor: Google)")
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise MetadataError(f"{path} answered HTTP {answer.status}")
        return answer.body.strip()

    def identity(self, first_timeout: float) -> dict[str, Any]:
        """Identity fields of this VM; the first request uses ``first_timeout``."""
        project = self.get("project/project-id", first_timeout)
        self.answered = True
        raw = self.get("instance/?recursive=true")
        try:
            instance = json.loads(raw or "")
        except ValueError as exc:
            raise MetadataError("instance listing is not JSON") from exc
        if not isinstance(instance, dict) or not instance.get("id"):
            raise MetadataError("instance listing has no id")
        zone = _last(instance.get("zone"))
        scheduling = instance.get("scheduling") or {}
        spot = (str(scheduling.get("preemptible", "")).upper() == "TRUE"
                or str(scheduling.get("provisioningModel", "")).upper() == "SPOT")
        instance_id = str(instance["id"])
        return {
            "provider": PROVIDER,
            "account": project or None,
            "instance_id": instance_id,
            "instance_type": machine_key(_last(instance.get("machineType")),
                                         instance.get("guestAccelerators")),
            "region": zone.rsplit("-", 1)[0] if zone and "-" in zone else None,
            "zone": zone,
            "lifecycle": "spot" if spot else "on-demand",
            "resource_id": instance_id,
        }

    def interruption(self) -> dict[str, Any] | None:
        """A preemption notice once ``instance/preempted`` says TRUE, else None."""
        if (self.get("instance/preempted") or "").upper() != "TRUE":
            return None
        return {"provider": PROVIDER, "action": "preempt", "time": None}


def machine_key(machine_type: str | None, accelerators: Any) -> str | None:
    """The catalog key of a machine: ``n1-standard-8``, or for an N1 with GPUs attached
    ``n1-standard-8+nvidia-tesla-t4:1`` (GCP bills N1 GPUs apart from the machine; the GPUs
    of A2, A3, G2 machines are part of the machine type)."""
    if not machine_type:
        return None
    if not machine_type.startswith("n1-") or not isinstance(accelerators, list):
        return machine_type
    attached = []
    for item in accelerators:
        if not isinstance(item, dict):
            continue
        kind = _last(item.get("acceleratorType") or item.get("type"))
        count = item.get("acceleratorCount") or item.get("count")
        if kind and count:
            attached.append(f"{kind}:{int(count)}")
    return "+".join([machine_type, *attached])


def _last(value: Any) -> str | None:
    """``projects/123/zones/us-central1-a`` -> ``us-central1-a``."""
    return str(value).rsplit("/", 1)[-1] or None if value else None

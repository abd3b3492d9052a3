"""Azure Instance Metadata Service (``Metadata: true`` header, ``api-version`` query).

Identity: ``/metadata/instance`` (compute: vmId, vmSize, location, zone, resourceId,
subscriptionId, priority). Spot: ``/metadata/scheduledevents`` lists a ``Preempt`` event for
this VM once Azure decides to evict it.
"""

from __future__ import annotations

import json
from typing import Any

from xprof.agent.imds_http import MetadataError, request

PROVIDER = "azure"
HEADERS = {"Metadata": "true"}
INSTANCE_PATH = "/metadata/instance?api-version=2021-02-01"
EVENTS_PATH = "/metadata/scheduledevents?api-version=2020-07-01"
SPOT_PRIORITIES = frozenset({"spot", "low"})


class AzureMetadata:
    """A session with one Azure instance metadata service."""

    provider = PROVIDER

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.vm_name: str | None = None  # scheduled events name the VMs they concern
        self.answered = False  # instance metadata with a vmId came back

    def get_json(self, path: str, timeout: float | None = None) -> dict[str, Any]:
        """The JSON object at ``path``; MetadataError for any other answer."""
        answer = request(self.base_url, path, headers=HEADERS,
                         timeout=self.timeout if timeout is None else timeout)
        if answer.status != 200:
            raise MetadataError(f"{path.split('?')[0]} answered HTTP {answer.status}")
        try:
            data = json.loads(answer.body)
        except ValueError as exc:
            raise MetadataError(f"{path.split('?')[0]} is not JSON") from exc
        if not isinstance(data, dict):
            raise MetadataError(f"{path.split('?')[0]} is not a JSON object")
        return data

    def identity(self, first_timeout: float) -> dict[str, Any]:
        """Identity fields of this VM; the one request uses ``first_timeout``."""
        compute = self.get_json(INSTANCE_PATH, first_timeout).get("compute")
        if not isinstance(compute, dict) or not compute.get("vmId"):
            raise MetadataError("instance metadata has no compute.vmId")
        self.answered = True
        self.vm_name = compute.get("name") or None
        priority = str(compute.get("priority") or "").lower()
        return {
            "provider": PROVIDER,
            "account": compute.get("subscriptionId") or None,
            "instance_id": compute["vmId"],
            "instance_type": compute.get("vmSize") or None,
            "region": compute.get("location") or None,
            "zone": str(compute.get("zone") or "") or None,
            "lifecycle": "spot" if priority in SPOT_PRIORITIES else "on-demand",
            "resource_id": compute.get("resourceId") or None,
        }

    def interruption(self) -> dict[str, Any] | None:
        """The first ``Preempt`` event that concerns this VM, or None."""
        events = self.get_json(EVENTS_PATH).get("Events") or []
        for event in events:
            if not isinstance(event, dict) or event.get("EventType") != "Preempt":
                continue
            resources = event.get("Resources") or []
            if self.vm_name and resources and self.vm_name not in resources:
                continue
            return {"provider": PROVIDER, "action": "preempt",
                    "time": _iso(event.get("NotBefore"))}
        return None


def _iso(http_date: Any) -> str | None:
    """``Mon, 19 Sep 2016 18:29:47 GMT`` -> ``2016-09-19T18:29:47+00:00`` (as given if odd)."""
    if not http_date:
        return None
    from email.utils import parsedate_to_datetime  # email: heavy, rarely needed

    try:
        return parsedate_to_datetime(str(http_date)).isoformat()
    except (TypeError, ValueError):
        return str(http_date)

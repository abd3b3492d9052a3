"""AWS EC2 instance metadata (IMDSv2 token flow, IMDSv1 only when the token is refused).

Identity: ``instance-id``, ``instance-type``, ``placement/region``,
``placement/availability-zone``, ``instance-life-cycle`` and the instance identity document
(for the account id). Spot: ``spot/instance-action`` answers 404 until AWS schedules the
interruption, then ``{"action": "terminate", "time": "..."}``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from xprof.agent.imds_http import MetadataError, Response, request

PROVIDER = "aws"
TOKEN_PATH = "/latest/api/token"
TOKEN_TTL_S = 21600
TOKEN_REFUSED = frozenset({403, 404, 405})  # IMDSv2 unavailable: IMDSv1 is the way in
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"


class AwsMetadata:
    """A session with one EC2 metadata service: holds the IMDSv2 token between requests."""

    provider = PROVIDER

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self.imds_v1 = False  # set when the token PUT was refused
        self.answered = False  # an EC2 instance id came back
        self._token: str | None = None
        self._token_expires = 0.0

    def _fetch_token(self, timeout: float) -> None:
        answer = request(self.base_url, TOKEN_PATH, method="PUT",
                         headers={TTL_HEADER: str(TOKEN_TTL_S)}, timeout=timeout)
        if answer.status == 200 and answer.body.strip():
            self._token = answer.body.strip()
            self._token_expires = time.monotonic() + TOKEN_TTL_S - 60
            self.imds_v1 = False
        elif answer.status in TOKEN_REFUSED:
            self._token, self.imds_v1 = None, True
        else:
            raise MetadataError(f"token request answered HTTP {answer.status}")

    def _headers(self, timeout: float) -> dict[str, str]:
        if not self.imds_v1 and (self._token is None or time.monotonic() >= self._token_expires):
            self._fetch_token(timeout)
        return {TOKEN_HEADER: self._token} if self._token else {}

    def get(self, path: str, timeout: float | None = None) -> str | None:
        """The text at ``/latest/`` + path; None for 404; MetadataError otherwise."""
        timeout = self.timeout if timeout is None else timeout
        answer = request(self.base_url, f"/latest/{path}", headers=self._headers(timeout),
                         timeout=timeout)
        if answer.status == 401 and self._token:  # token expired or revoked: one new one
            self._token = None
            answer = request(self.base_url, f"/latest/{path}",
                             headers=self._headers(timeout), timeout=timeout)
        return _text(answer, path)

    def identity(self, first_timeout: float) -> dict[str, Any]:
        """Identity fields of this instance; the first request uses ``first_timeout``."""
        instance_id = self.get("meta-data/instance-id", first_timeout)
        if not instance_id or not instance_id.startswith("i-"):
            raise MetadataError(f"not an EC2 instance id: {instance_id!r}")
        self.answered = True
        document: dict[str, Any] = {}
        raw = self.get("dynamic/instance-identity/document")
        if raw:
            try:
                document = json.loads(raw)
            except ValueError:
                document = {}
        zone = (self.get("meta-data/placement/availability-zone")
                or document.get("availabilityZone"))
        region = self.get("meta-data/placement/region") or document.get("region")
        lifecycle = self.get("meta-data/instance-life-cycle")
        return {
            "provider": PROVIDER,
            "account": document.get("accountId"),
            "instance_id": instance_id,
            "instance_type": (self.get("meta-data/instance-type")
                              or document.get("instanceType")),
            "region": region or (zone[:-1] if zone else None),
            "zone": zone,
            "lifecycle": "spot" if lifecycle == "spot" else "on-demand",
            "resource_id": instance_id,
        }

    def interruption(self) -> dict[str, Any] | None:
        """The spot interruption notice, or None while AWS has scheduled none."""
        raw = self.get("meta-data/spot/instance-action")
        if not raw:
            return None
        try:
            notice = json.loads(raw)
        except ValueError:
            notice = {}
        return {"provider": PROVIDER, "action": notice.get("action") or "terminate",
                "time": notice.get("time")}


def _text(answer: Response, path: str) -> str | None:
    if answer.status == 404:
        return None
    if answer.status != 200:
        raise MetadataError(f"{path} answered HTTP {answer.status}")
    return answer.body.strip()

"""Where a run runs: cloud provider, account, instance id and type, region, zone, lifecycle.

Resolved once per run in a daemon thread while the child runs, so it never delays the
child's start; the runner takes ``result(timeout)`` at the end and records
``unknown (timeout)`` if nothing came in time. Order of detection:

1. ``provider = none``: nothing is asked (source ``disabled``);
2. ``provider`` given: only that provider's metadata service is asked. If it does not answer
   and ``instance_type`` or ``instance_id`` is given, the identity is recorded as given
   (source ``override``, no error): flags fill what metadata cannot tell, they never switch
   detection off (on EC2 with IMDS reachable the instance id is still recorded);
3. otherwise the DMI files name the cloud (``Amazon EC2``, ``Google``, Microsoft with Azure's
   chassis asset tag) and only that one is asked; DMI files naming no cloud mean off-cloud at
   once; without DMI files all three services are probed in parallel with short timeouts
   (``PROBE_BUDGET_S`` in all).

``instance_type``, ``instance_id``, ``region`` and ``lifecycle`` settings replace what
detection found (``--instance-id`` names the machine billing joins on where there is no
metadata service; an Azure ``/subscriptions/…`` id becomes the resource id too). If the
answer does not come within the runner's wait, what the settings give is recorded instead
of ``unknown (timeout)``. For a spot VM, a poller in the same thread watches for an
interruption notice until ``stop()``.
A failing request never raises: it ends as an ``error`` on the identity.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from xprof.agent.imds_aws import AwsMetadata
from xprof.agent.imds_azure import AzureMetadata
from xprof.agent.imds_gcp import GcpMetadata
from xprof.agent.imds_http import MetadataError
from xprof.settings import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 0.25      # first request of each provider when probing without DMI
PROBE_BUDGET_S = 0.3        # all probes together, off-cloud
REQUEST_TIMEOUT_S = 1.0     # each request once a provider is known (DMI, flag or answer)
SPOT_POLL_INTERVAL_S = 5.0  # AWS gives two minutes' notice and advises polling every 5 s

DMI_DIR = "/sys/class/dmi/id"  # the default of the dmi_dir setting (XPROF_DMI_DIR)
DMI_FILES = ("sys_vendor", "product_name", "product_version", "bios_vendor", "bios_version",
             "board_asset_tag", "chassis_asset_tag")
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
CLOUDS = ("aws", "gcp", "azure")
_URL_KEYS = {"aws": "aws_imds_url", "gcp": "gcp_metadata_url", "azure": "azure_imds_url"}
_EC2_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9-]+$")


@dataclass(frozen=True)
class CloudIdentity:
    """Where a run ran, as the provider's metadata service (or the user) tells it."""

    provider: str                      # aws | gcp | azure | none | unknown
    account: str | None = None         # AWS account id, GCP project id, Azure subscription id
    instance_id: str | None = None     # what billing joins on (Azure: vmId)
    instance_type: str | None = None   # GCP N1 with GPUs: n1-standard-8+nvidia-tesla-t4:1
    region: str | None = None
    zone: str | None = None
    lifecycle: str | None = None       # on-demand | spot
    resource_id: str | None = None     # Azure resourceId; AWS/GCP: the instance id
    source: str = "imds"               # imds | override | disabled | dmi
    error: str | None = None           # e.g. "unknown (timeout)"

    def run_fields(self, interruption: dict[str, Any] | None = None) -> dict[str, Any]:
        """The identity as columns of the ``runs`` table (``cloud`` is the JSON column)."""
        cloud: dict[str, Any] = {"source": self.source}
        if self.resource_id:
            cloud["resource_id"] = self.resource_id
        if self.error:
            cloud["error"] = self.error
        if interruption:
            cloud["interruption"] = interruption
        return {
            "cloud_provider": self.provider,
            "cloud_account": self.account,
            "cloud_region": self.region,
            "cloud_zone": self.zone,
            "instance_id": self.instance_id,
            "instance_type": self.instance_type,
            "lifecycle": self.lifecycle,
            "cloud": cloud,
        }


TIMED_OUT = CloudIdentity(provider="unknown", error="unknown (timeout)")


class MetadataClient(Protocol):
    """One provider's metadata service (``imds_aws``, ``imds_gcp``, ``imds_azure``)."""

    provider: str
    answered: bool  # its first identity request was answered: this is that cloud

    def identity(self, first_timeout: float) -> dict[str, Any]: ...

    def interruption(self) -> dict[str, Any] | None: ...


class IdentityResolver:
    """Resolves this machine's identity in the background and watches for spot notices."""

    def __init__(self, settings: Settings, poll_interval: float) -> None:
        self._settings = settings
        self._poll_interval = poll_interval
        self._done = threading.Event()
        self._stopped = threading.Event()
        self._identity: CloudIdentity | None = None
        self._interruption: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self._given: CloudIdentity | None = None  # what the settings fix, if detection is late

    @classmethod
    def start(cls, settings: Settings, *,
              poll_interval: float = SPOT_POLL_INTERVAL_S) -> IdentityResolver:
        """Start resolving; returns at once (the network, if any, is used by a daemon thread)."""
        self = cls(settings, poll_interval)
        given = identity_without_network(settings)
        if given is not None and given.provider not in CLOUDS:
            self._identity = given
            self._done.set()
            return self
        self._given = given
        self._thread = threading.Thread(target=self._run, name="xprof-identity", daemon=True)
        self._thread.start()
        return self

    def result(self, timeout: float) -> CloudIdentity:
        """The identity, waiting at most ``timeout`` seconds; then ``unknown (timeout)``."""
        if self._done.wait(max(timeout, 0.0)) and self._identity is not None:
            return self._identity
        return self._given or TIMED_OUT

    def ready(self) -> bool:
        """True once the identity is known (never blocks)."""
        return self._done.is_set()

    def interruption(self) -> dict[str, Any] | None:
        """The spot/preemption notice seen while the run lived:
        ``{"provider", "action", "time", "seen_at"}``; None if none came."""
        return self._interruption

    def stop(self, wait: float = 0.0) -> bool:
        """Stop watching for spot notices; wait up to ``wait`` s for the thread to end
        (default: return at once, the thread is a daemon). True when it has ended."""
        self._stopped.set()
        if self._thread is None:
            return True
        if wait > 0:
            self._thread.join(wait)
        return not self._thread.is_alive()

    def _run(self) -> None:
        client: MetadataClient | None = None
        try:
            identity, client = detect(self._settings)
        except Exception as exc:  # never let identity fail the run
            log.warning("cloud identity failed: %s", exc)
            identity = CloudIdentity(provider="unknown", error=f"unknown ({exc})")
        self._identity = identity
        self._done.set()
        if client is not None and identity.lifecycle == "spot" and identity.source == "imds":
            self._watch_spot(client)

    def _watch_spot(self, client: MetadataClient) -> None:
        """Poll for an interruption notice every ``poll_interval`` s, first poll at once."""
        next_poll = time.monotonic()
        failed_once = False
        while not self._stopped.is_set():
            try:
                notice = client.interruption()
            except Exception as exc:
                notice = None
                if not failed_once:
                    log.info("spot notice poll failed (will keep trying): %s", exc)
                    failed_once = True
            if notice:
                seen = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
                self._interruption = {**notice, "seen_at": seen}
                log.warning("%s interruption notice: %s at %s", notice["provider"],
                            notice["action"], notice.get("time"))
                return
            next_poll = max(next_poll + self._poll_interval, time.monotonic())  # no bursts
            if self._stopped.wait(max(0.0, next_poll - time.monotonic())):
                return


def identity_without_network(settings: Settings) -> CloudIdentity | None:
    """The identity the settings fix without asking anything (``provider = none``, or a
    provider with an instance type or id: then still asked, see :func:`detect`), or None."""
    provider = settings.get("provider")
    if provider == "none":
        return with_overrides(CloudIdentity(provider="none", source="disabled"), settings)
    if provider and (settings.get("instance_type") or settings.get("instance_id")):
        return with_overrides(
            CloudIdentity(provider=provider, lifecycle="on-demand", source="override"),
            settings)
    return None


def detect(settings: Settings) -> tuple[CloudIdentity, MetadataClient | None]:
    """Ask the metadata service(s) this machine's identity; also the client that answered."""
    provider = settings.get("provider")
    if provider in CLOUDS:
        given = identity_without_network(settings)
        identity, client = ask(make_client(provider, settings), REQUEST_TIMEOUT_S,
                               fallback=given or CloudIdentity(provider=provider,
                                                               source="override"))
        if client is None and given is not None:
            return given, None  # no metadata here: the flags say it all
        return with_overrides(identity, settings), client
    dmi = read_dmi(Path(settings.get("dmi_dir") or DMI_DIR))
    if dmi is None:
        identity, client = probe({c: make_client(c, settings) for c in CLOUDS})
        return with_overrides(identity, settings), client
    named = provider_from_dmi(dmi)
    if named == "none":
        return with_overrides(CloudIdentity(provider="none", source="dmi"), settings), None
    identity, client = ask(make_client(named, settings), REQUEST_TIMEOUT_S,
                           fallback=identity_from_dmi(named, dmi))
    return with_overrides(identity, settings), client


def make_client(provider: str, settings: Settings) -> MetadataClient:
    """A metadata session for ``provider`` at its configured endpoint."""
    kind = {"aws": AwsMetadata, "gcp": GcpMetadata, "azure": AzureMetadata}[provider]
    return kind(settings.get(_URL_KEYS[provider]), REQUEST_TIMEOUT_S)


def ask(client: MetadataClient, first_timeout: float, fallback: CloudIdentity
        ) -> tuple[CloudIdentity, MetadataClient | None]:
    """One provider's identity; on failure ``fallback`` with the reason as its error."""
    try:
        return CloudIdentity(**client.identity(first_timeout)), client
    except MetadataError as exc:
        log.info("%s metadata unavailable: %s", client.provider, exc)
        return replace(fallback, error=f"{client.provider} metadata: {exc}"), None


def probe(clients: dict[str, MetadataClient]) -> tuple[CloudIdentity, MetadataClient | None]:
    """Ask every provider at once; the first complete answer wins. Off-cloud this ends
    within ``PROBE_BUDGET_S``; a provider whose first request was answered is waited for."""
    answers: queue.Queue[tuple[str, dict[str, Any] | None, str | None]] = queue.Queue()

    def one(name: str, client: MetadataClient) -> None:
        try:
            fields = client.identity(PROBE_TIMEOUT_S)
            answers.put((name, fields, None))
        except MetadataError as exc:
            answers.put((name, None, str(exc)))
        except Exception as exc:
            answers.put((name, None, f"{type(exc).__name__}: {exc}"))

    for name, client in clients.items():
        threading.Thread(target=one, args=(name, client), name=f"xprof-probe-{name}",
                         daemon=True).start()
    deadline = time.monotonic() + PROBE_BUDGET_S
    pending = set(clients)
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0 and not any(clients[name].answered for name in pending):
            break
        try:
            name, fields, error = answers.get(timeout=remaining if remaining > 0 else 0.05)
        except queue.Empty:
            continue
        pending.discard(name)
        if fields is not None:
            return CloudIdentity(**fields), clients[name]
        if clients[name].answered:  # this is the cloud, but its metadata broke off
            return CloudIdentity(provider=name, error=f"{name} metadata: {error}"), None
    return CloudIdentity(provider="none"), None


def with_overrides(identity: CloudIdentity, settings: Settings) -> CloudIdentity:
    """``identity`` with the instance type and id, region and lifecycle the settings give."""
    given = {key: settings.get(key) for key in ("instance_type", "region", "lifecycle")}
    given = {key: value for key, value in given.items() if value}
    instance_id = settings.get("instance_id")
    if instance_id:
        given["instance_id"] = instance_id
        if instance_id.lower().startswith("/subscriptions/") or \
                identity.resource_id in (None, identity.instance_id):
            given["resource_id"] = instance_id
    return replace(identity, **given) if given else identity


# -- DMI: which cloud the firmware names -------------------------------------------------------
def read_dmi(folder: Path) -> dict[str, str] | None:
    """The DMI strings under ``folder``; None when the machine has no DMI files."""
    values: dict[str, str] = {}
    for name in DMI_FILES:
        try:
            values[name] = (folder / name).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
    return values or None


def provider_from_dmi(dmi: dict[str, str]) -> str:
    """aws, gcp or azure when the DMI strings name that cloud; none otherwise."""
    text = {key: value.lower() for key, value in dmi.items()}
    vendors = (text.get("sys_vendor", ""), text.get("bios_vendor", ""))
    if "amazon ec2" in vendors or "amazon" in text.get("bios_version", "") \
            or text.get("board_asset_tag", "").startswith("i-"):
        return "aws"
    if "google" in vendors or text.get("product_name") == "google compute engine":
        return "gcp"
    if "microsoft corporation" in vendors and dmi.get("chassis_asset_tag") == AZURE_ASSET_TAG:
        return "azure"
    return "none"


def identity_from_dmi(provider: str, dmi: dict[str, str]) -> CloudIdentity:
    """What DMI alone tells (EC2 Nitro: instance type and id), for when metadata fails."""
    if provider != "aws":
        return CloudIdentity(provider=provider, source="dmi")
    product, tag = dmi.get("product_name", ""), dmi.get("board_asset_tag", "")
    instance_id = tag if tag.startswith("i-") else None
    return CloudIdentity(provider="aws", source="dmi", instance_id=instance_id,
                         resource_id=instance_id,
                         instance_type=product if _EC2_TYPE.match(product) else None)

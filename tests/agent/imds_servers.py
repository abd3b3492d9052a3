"""Local instance-metadata servers on 127.0.0.1 speaking the AWS, GCP and Azure protocols.

Each server runs in a daemon thread on an ephemeral port, records every request it gets
(method, path, headers; also as ``"<name>: <METHOD> <path>"`` in its EventLog, which
servers and tests may share to assert the order of events) and can be told to:
- ``hang=True``: hold every request until ``release()`` (records ``held`` / ``released``);
- ``not_found=True``: answer 404 to everything; ``fail_status=500``: answer that to everything;
- announce a spot interruption (``spot_action`` / ``preempted`` / ``preempt``), also while
  running (set the attribute).
AWS also: ``refuse_token=403|404|405`` refuses the IMDSv2 token PUT and then serves IMDSv1;
without it, GETs need the token it issued (401 otherwise), as an IMDSv2-only instance does.
GCP needs ``Metadata-Flavor: Google`` and sends it back; Azure needs ``Metadata: true`` and an
``api-version`` query, answering 400 without them.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from xprof.settings import Settings

HOLD_LIMIT_S = 30.0  # a held request is answered after this even if nobody releases it


class EventLog:
    """Ordered events from servers and tests, to assert what happened before what."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[str] = []

    def add(self, event: str) -> None:
        with self._lock:
            self.events.append(event)

    def index(self, event: str) -> int:
        with self._lock:
            return self.events.index(event)


@dataclass(frozen=True)
class Seen:
    """One request a server received."""

    method: str
    path: str
    headers: dict[str, str]


Answer = tuple[int, dict[str, str], bytes]


def closed_port_url() -> str:
    """A 127.0.0.1 URL nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        status, headers, body = self.server.owner.handle(self.command, self.path,
                                                         dict(self.headers.items()))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: MetadataServer


class MetadataServer:
    """Base: serving, recording, holding; subclasses answer in their protocol."""

    name = "metadata"

    def __init__(self, *, hang: bool = False, not_found: bool = False,
                 fail_status: int | None = None, events: EventLog | None = None) -> None:
        self.hang = hang
        self.not_found = not_found
        self.fail_status = fail_status
        self.events = events or EventLog()
        self.requests: list[Seen] = []
        self.holding = threading.Event()   # set while a request is being held
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name=f"test-{self.name}-imds", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> MetadataServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def release(self) -> None:
        """Let held requests go (they are then answered normally)."""
        if not self._release.is_set():
            if self.holding.is_set():
                self.events.add(f"{self.name}: released")
            self._release.set()

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests if method in (None, r.method)]

    def handle(self, method: str, path: str, headers: dict[str, str]) -> Answer:
        with self._lock:
            self.requests.append(Seen(method, path, {k.lower(): v for k, v in headers.items()}))
        self.events.add(f"{self.name}: {method} {path}")
        if self.hang and not self._release.is_set():
            self.events.add(f"{self.name}: held")
            self.holding.set()
            self._release.wait(HOLD_LIMIT_S)
        if self.not_found:
            return self.text(404, "Not Found")
        if self.fail_status:
            return self.text(self.fail_status, "Internal Server Error")
        return self.answer(method, urlsplit(path), {k.lower(): v for k, v in headers.items()})

    def answer(self, method: str, url: Any, headers: dict[str, str]) -> Answer:
        raise NotImplementedError

    @staticmethod
    def text(status: int, body: str, headers: dict[str, str] | None = None) -> Answer:
        return status, {"Content-Type": "text/plain", **(headers or {})}, body.encode()

    @staticmethod
    def json(status: int, data: Any, headers: dict[str, str] | None = None) -> Answer:
        return (status, {"Content-Type": "application/json", **(headers or {})},
                json.dumps(data).encode())


class AwsImdsServer(MetadataServer):
    """EC2 IMDS: IMDSv2 token flow (PUT /latest/api/token), IMDSv1 when the token is refused."""

    name = "aws"

    def __init__(self, *, instance_id: str = "i-0abc1234def567890",
                 instance_type: str = "p3.2xlarge", region: str = "us-east-1",
                 zone: str = "us-east-1a", lifecycle: str = "on-demand",
                 account: str = "123456789012", refuse_token: int | None = None,
                 spot_action: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refuse_token = refuse_token
        self.spot_action = spot_action
        self.tokens: set[str] = set()
        self.meta = {
            "instance-id": instance_id, "instance-type": instance_type,
            "placement/region": region, "placement/availability-zone": zone,
            "instance-life-cycle": lifecycle,
        }
        self.document = {"accountId": account, "instanceId": instance_id,
                         "instanceType": instance_type, "region": region,
                         "availabilityZone": zone, "architecture": "x86_64"}

    def answer(self, method: str, url: Any, headers: dict[str, str]) -> Answer:
        if url.path == "/latest/api/token":
            if method != "PUT":
                return self.text(405, "Method Not Allowed")
            if self.refuse_token:
                return self.text(self.refuse_token, "Forbidden")
            ttl = headers.get("x-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self.text(400, "Bad Request")
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return self.text(200, token, {"X-aws-ec2-metadata-token-ttl-seconds": ttl})
        if method != "GET":
            return self.text(405, "Method Not Allowed")
        token = headers.get("x-aws-ec2-metadata-token")
        if not self.refuse_token and token not in self.tokens:
            return self.text(401, "Unauthorized")  # IMDSv2 required
        if url.path == "/latest/dynamic/instance-identity/document":
            return self.json(200, self.document)
        if url.path == "/latest/meta-data/spot/instance-action":
            if self.spot_action:
                return self.json(200, self.spot_action)
            return self.text(404, "Not Found")
        key = url.path.removeprefix("/latest/meta-data/")
        if key in self.meta:
            return self.text(200, self.meta[key])
        return self.text(404, "Not Found")


class GcpMetadataServer(MetadataServer):
    """GCE metadata server: /computeMetadata/v1/..., Metadata-Flavor: Google both ways."""

    name = "gcp"
    FLAVOR: ClassVar[dict[str, str]] = {"Metadata-Flavor": "Google"}

    def __init__(self, *, project: str = "ml-team-prod", instance_id: str = "4520539719284738291",
                 machine_type: str = "n1-standard-8", zone: str = "us-central1-a",
                 preemptible: bool = False, provisioning_model: str | None = None,
                 accelerators: list[dict[str, Any]] | None = None, preempted: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.project = project
        self.preempted = preempted
        self.instance: dict[str, Any] = {
            "id": int(instance_id), "name": "trainer-1", "hostname": "trainer-1.c.internal",
            "machineType": f"projects/812345678901/machineTypes/{machine_type}",
            "zone": f"projects/812345678901/zones/{zone}",
            "scheduling": {"automaticRestart": "FALSE" if preemptible else "TRUE",
                           "onHostMaintenance": "TERMINATE",
                           "preemptible": "TRUE" if preemptible else "FALSE"},
            "attributes": {"ssh-keys": "user:ssh-ed25519 AAAA... user"},
        }
        if provisioning_model:
            self.instance["scheduling"]["provisioningModel"] = provisioning_model
        if accelerators:
            self.instance["guestAccelerators"] = accelerators

    def answer(self, method: str, url: Any, headers: dict[str, str]) -> Answer:
        if headers.get("metadata-flavor") != "Google":
            return self.text(403, "Missing Metadata-Flavor:Google header.", self.FLAVOR)
        if method != "GET":
            return self.text(405, "Method Not Allowed", self.FLAVOR)
        path = url.path.removeprefix("/computeMetadata/v1/")
        recursive = parse_qs(url.query).get("recursive") == ["true"]
        if path == "instance/" and recursive:
            return self.json(200, self.instance, self.FLAVOR)
        leaves = {
            "project/project-id": self.project,
            "instance/id": str(self.instance["id"]),
            "instance/machine-type": self.instance["machineType"],
            "instance/zone": self.instance["zone"],
            "instance/scheduling/preemptible": self.instance["scheduling"]["preemptible"],
            "instance/preempted": "TRUE" if self.preempted else "FALSE",
        }
        if path in leaves:
            return self.text(200, leaves[path], self.FLAVOR)
        return self.text(404, "Not Found", self.FLAVOR)


class AzureImdsServer(MetadataServer):
    """Azure IMDS: /metadata/instance and /metadata/scheduledevents, Metadata: true."""

    name = "azure"

    def __init__(self, *, vm_id: str = "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
                 vm_size: str = "Standard_NC6s_v3", location: str = "eastus", zone: str = "1",
                 subscription: str = "8d10da13-8125-4ba9-a717-bf7490507b3d",
                 resource_group: str = "ml", vm_name: str = "trainer-1",
                 priority: str = "Regular", preempt: bool = False,
                 preempt_resources: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.preempt = preempt
        self.preempt_resources = preempt_resources
        self.compute = {
            "vmId": vm_id, "vmSize": vm_size, "location": location, "zone": zone,
            "name": vm_name, "subscriptionId": subscription, "resourceGroupName": resource_group,
            "resourceId": (f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
                           f"/providers/Microsoft.Compute/virtualMachines/{vm_name}"),
            "priority": priority, "osType": "Linux",
        }

    def answer(self, method: str, url: Any, headers: dict[str, str]) -> Answer:
        if headers.get("metadata") != "true":
            return self.json(400, {"error": "Bad request. Required metadata header not "
                                            "specified"})
        if not parse_qs(url.query).get("api-version"):
            return self.json(400, {"error": "Bad request. api-version was not specified in "
                                            "the request"})
        if method != "GET":
            return self.json(405, {"error": "Method not allowed"})
        if url.path == "/metadata/instance":
            return self.json(200, {"compute": self.compute, "network": {"interface": []}})
        if url.path == "/metadata/scheduledevents":
            events = []
            if self.preempt:
                events.append({
                    "EventId": "f020ba2e-3bc0-4c40-a10b-86575a9eabd5", "EventType": "Preempt",
                    "ResourceType": "VirtualMachine",
                    "Resources": self.preempt_resources or [self.compute["name"]],
                    "EventStatus": "Scheduled", "NotBefore": "Mon, 19 Sep 2016 18:29:47 GMT",
                    "Description": "", "EventSource": "Platform", "DurationInSeconds": -1})
            return self.json(200, {"DocumentIncarnation": 1 + len(events), "Events": events})
        return self.json(404, {"error": "Not found"})


class WitnessServer(MetadataServer):
    """Answers 200 to anything: a child process GETs it to put its own steps in the log."""

    name = "child"

    def answer(self, method: str, url: Any, headers: dict[str, str]) -> Answer:
        return self.text(200, "ok")


SERVERS = {"aws": AwsImdsServer, "gcp": GcpMetadataServer, "azure": AzureImdsServer}
URL_KEYS = {"aws": "aws_imds_url", "gcp": "gcp_metadata_url", "azure": "azure_imds_url"}
ENV_KEYS = {"aws": "XPROF_AWS_IMDS_URL", "gcp": "XPROF_GCP_METADATA_URL",
            "azure": "XPROF_AZURE_IMDS_URL"}

# DMI strings as real machines show them (/sys/class/dmi/id)
DMI = {
    "aws": {"sys_vendor": "Amazon EC2", "product_name": "p3.2xlarge", "bios_vendor": "Amazon EC2",
            "board_asset_tag": "i-0abc1234def567890"},
    "gcp": {"sys_vendor": "Google", "product_name": "Google Compute Engine",
            "bios_vendor": "Google"},
    "azure": {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine",
              "bios_vendor": "Microsoft Corporation",
              "chassis_asset_tag": "7783-7084-3265-9085-8269-3286-77"},
    "dell": {"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R750",
             "bios_vendor": "Dell Inc."},
    "hyperv": {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine",
               "bios_vendor": "Microsoft Corporation", "chassis_asset_tag": "None"},
}


def make_dmi_dir(folder: Path, machine: str | None) -> str:
    """A DMI folder for ``machine`` (a key of DMI); None: a folder that does not exist."""
    if machine is None:
        return str(folder / "no-dmi")
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in DMI[machine].items():
        (folder / name).write_text(value + "\n")
    return str(folder)


def pinned_settings(dmi_dir: str, urls: dict[str, str] | None = None,
                    **values: Any) -> Settings:
    """Settings with every metadata URL pinned (given ones, else a refused local port),
    the DMI folder given, and nothing from the environment or a config file."""
    urls = urls or {}
    flags = {URL_KEYS[p]: urls.get(p) or closed_port_url() for p in URL_KEYS}
    return Settings(flags={**flags, "dmi_dir": dmi_dir, **values}, env={}, config={})


def pinned_env(dmi_dir: str, urls: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables that pin the same for a real `xprof run`."""
    urls = urls or {}
    env = {ENV_KEYS[p]: urls.get(p) or closed_port_url() for p in URL_KEYS}
    env["XPROF_DMI_DIR"] = dmi_dir
    return env


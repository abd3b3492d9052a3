"""How long cloud identity detection takes off-cloud (budget: 300 ms in all).

Measures, per way a machine can be off-cloud, the time ``IdentityResolver.start`` takes to
return (it must never hold up the child) and the time until the identity is known, as the
median (and max) of repeated runs. Endpoints are local stand-ins, so nothing is sent to
169.254.169.254 unless ``--real-endpoints`` asks for this machine's own DMI folder and the
default metadata URLs.

    python benchmarks/identity_offcloud.py [--repeats 21] [--real-endpoints]
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from xprof.agent.cloud_identity import PROBE_BUDGET_S, IdentityResolver
from xprof.settings import Settings

URL_KEYS = ("aws_imds_url", "gcp_metadata_url", "azure_imds_url")


def refused_url() -> str:
    """A local port nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextmanager
def silent_url() -> Iterator[str]:
    """A local port that takes connections and never answers (a black-holed endpoint)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def settings(dmi_dir: str, urls: dict[str, str] | None = None, **values: str) -> Settings:
    flags = {"dmi_dir": dmi_dir, **(urls or {}), **values}
    return Settings(flags=flags, env={}, config={})


def measure(make: Callable[[], Settings], repeats: int) -> tuple[list[float], list[float], str]:
    """(start() seconds, seconds until the identity is known, provider) over ``repeats``."""
    starts, totals, provider = [], [], ""
    for _ in range(repeats):
        s = make()
        t0 = time.perf_counter()
        resolver = IdentityResolver.start(s)
        t1 = time.perf_counter()
        identity = resolver.result(10.0)
        t2 = time.perf_counter()
        resolver.stop()
        starts.append(t1 - t0)
        totals.append(t2 - t0)
        provider = f"{identity.provider} ({identity.source})"
    return starts, totals, provider


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--real-endpoints", action="store_true",
                        help="also measure this machine's DMI folder and default endpoints "
                             "(sends requests to 169.254.169.254 if it has no DMI files)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="xprof-bench-"))
    onprem = tmp / "dmi"
    onprem.mkdir()
    for name, value in {"sys_vendor": "Dell Inc.", "product_name": "PowerEdge R750",
                        "bios_vendor": "Dell Inc."}.items():
        (onprem / name).write_text(value + "\n")
    no_dmi = str(tmp / "no-dmi")

    def refused() -> dict[str, str]:
        return {key: refused_url() for key in URL_KEYS}

    rows: list[tuple[str, list[float], list[float], str]] = []
    cases: list[tuple[str, Callable[[], Settings]]] = [
        ("XPROF_PROVIDER=none", lambda: settings(no_dmi, refused(), provider="none")),
        ("--provider aws --instance-type ...",
         lambda: settings(no_dmi, refused(), provider="aws", instance_type="p3.2xlarge")),
        ("DMI names no cloud (on-prem server)", lambda: settings(str(onprem), refused())),
        ("no DMI, endpoints refuse connections", lambda: settings(no_dmi, refused())),
    ]
    for label, make in cases:
        rows.append((label, *measure(make, args.repeats)))
    with silent_url() as url:
        urls = dict.fromkeys(URL_KEYS, url)
        rows.append(("no DMI, endpoints never answer (worst case)",
                     *measure(lambda: settings(no_dmi, urls), args.repeats)))
    if args.real_endpoints:
        rows.append(("this machine: its DMI folder, default endpoints",
                     *measure(lambda: Settings(env={}, config={}), args.repeats)))

    has_dmi = Path("/sys/class/dmi/id/sys_vendor").exists()
    print(f"# Cloud identity detection off-cloud ({args.repeats} repeats each; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
          f"this machine has {'' if has_dmi else 'no '}DMI files; "
          f"probe budget {PROBE_BUDGET_S * 1000:.0f} ms)\n")
    print("| case | result | start() median ms | identity known: median ms | max ms |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, starts, totals, provider in rows:
        print(f"| {label} | {provider} | {ms(statistics.median(starts))} | "
              f"{ms(statistics.median(totals))} | {ms(max(totals))} |")


if __name__ == "__main__":
    main()

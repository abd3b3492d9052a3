"""Where billing export files are: a file, a folder, or an ``s3://bucket/prefix``.

Exports are delivered as many files per billing period, and re-delivered when the provider
restates the period. Files are grouped by the billing period their path names
(``BILLING_PERIOD=2024-09`` in Data Exports, ``20240901-20241001`` in legacy CUR); a location
without such folders is one group, ``all``. When a group holds several delivery folders
(legacy CUR assembly ids, Data Exports versions), only the newest delivery is read.

Each group has a signature (names, sizes and modification times or ETags): an import reads a
group again only when its signature changed since the last import of that location.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from xprof.collector.billing import BillingInputError, BillingSourceError

SUFFIXES = (".csv", ".csv.gz", ".csv.gzip", ".parquet", ".parq")
_PERIOD = (re.compile(r"BILLING_PERIOD=(\d{4}-\d{2})"),
           re.compile(r"(?:^|/)(\d{4})(\d{2})01-\d{8}(?:/|$)"),
           re.compile(r"(?:^|/)billing_period=(\d{4}-\d{2})", re.IGNORECASE))


@dataclass(frozen=True)
class ExportFile:
    """One data file: where it is, its path inside the location, size and change stamp."""

    uri: str        # local path or s3://bucket/key
    relative: str   # path below the location, with /
    size: int
    stamp: str      # mtime (ns) or S3 ETag
    modified: float  # seconds since the epoch, to find the newest delivery

    @property
    def group(self) -> str:
        """The billing period the path names (``2024-09``), else ``all``."""
        for pattern in _PERIOD:
            match = pattern.search(self.relative)
            if match:
                groups = match.groups()
                return groups[0] if len(groups) == 1 else f"{groups[0]}-{groups[1]}"
        return "all"

    @property
    def folder(self) -> str:
        return str(PurePosixPath(self.relative).parent)


def is_s3(location: str) -> bool:
    return location.lower().startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    rest = uri[5:]
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix


def list_files(location: str, s3_client: Any = None,
               suffixes: tuple[str, ...] = SUFFIXES) -> list[ExportFile]:
    """Every data file at ``location`` (sorted by path) whose name ends with one of
    ``suffixes``; BillingInputError if there is none."""
    files = _list_s3(location, s3_client) if is_s3(location) else _list_local(location)
    files = [f for f in files if f.relative.lower().endswith(suffixes)
             and not PurePosixPath(f.relative).name.startswith((".", "_"))]
    if not files:
        kinds = "CSV, Parquet or JSON" if any("json" in s for s in suffixes) else \
            "CSV or Parquet"
        raise BillingInputError(f"{location}: no {kinds} billing files found")
    return sorted(files, key=lambda f: f.relative)


def _list_local(location: str) -> list[ExportFile]:
    root = Path(location).expanduser()
    if root.is_file():
        stat = root.stat()
        return [ExportFile(str(root), root.name, stat.st_size, str(stat.st_mtime_ns),
                           stat.st_mtime)]
    if not root.is_dir():
        raise BillingInputError(f"{location}: no such file or folder")
    out = []
    for path in root.rglob("*"):
        if path.is_file():
            stat = path.stat()
            out.append(ExportFile(str(path), path.relative_to(root).as_posix(), stat.st_size,
                                  str(stat.st_mtime_ns), stat.st_mtime))
    return out


def _list_s3(location: str, s3_client: Any) -> list[ExportFile]:
    if s3_client is None:
        import boto3  # optional cloud SDK (xprof[aws]): only for s3:// locations

        s3_client = boto3.client("s3")
    bucket, prefix = split_s3(location)
    out = []
    try:
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                        Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                relative = key[len(prefix):].lstrip("/") if prefix else key
                out.append(ExportFile(f"s3://{bucket}/{key}", relative or PurePosixPath(key).name,
                                      int(obj["Size"]), str(obj.get("ETag", "")).strip('"'),
                                      obj["LastModified"].timestamp()))
    except Exception as exc:  # botocore ClientError / NoCredentialsError: one line
        raise BillingSourceError(f"{location}: cannot list: {_one_line(exc)}") from exc
    return out


def groups(files: list[ExportFile]) -> dict[str, list[ExportFile]]:
    """Files by billing period; of several delivery folders of a period, the newest one."""
    by_group: dict[str, list[ExportFile]] = defaultdict(list)
    for f in files:
        by_group[f.group].append(f)
    out = {}
    for group, members in sorted(by_group.items()):
        folders: dict[str, list[ExportFile]] = defaultdict(list)
        for f in members:
            folders[f.folder].append(f)
        if len(folders) > 1 and group != "all":
            newest = max(folders, key=lambda d: (max(f.modified for f in folders[d]), d))
            members = folders[newest]
        out[group] = sorted(members, key=lambda f: f.relative)
    return out


def signature(files: list[ExportFile]) -> str:
    """A digest that changes when any file of the group is added, removed or rewritten."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.relative):
        digest.update(f"{f.relative}\0{f.size}\0{f.stamp}\n".encode())
    return digest.hexdigest()[:40]


def fetch(f: ExportFile, folder: Path, s3_client: Any = None) -> Path:
    """A local path for the file (downloaded into ``folder`` when it is on S3)."""
    if not is_s3(f.uri):
        return Path(f.uri)
    if s3_client is None:
        import boto3  # optional cloud SDK (xprof[aws]): only for s3:// locations

        s3_client = boto3.client("s3")
    bucket, key = split_s3(f.uri)
    target = folder / hashlib.sha1(f.uri.encode()).hexdigest()[:16] / PurePosixPath(key).name
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3_client.download_file(bucket, key, str(target))
    except Exception as exc:
        raise BillingSourceError(f"{f.uri}: cannot download: {_one_line(exc)}") from exc
    return target


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

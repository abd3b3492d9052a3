"""One HTTP request to an instance metadata service, standard library only.

``http.client`` rather than ``urllib.request``: metadata requests must never go through an
``HTTP_PROXY`` from the environment, and each request carries its own short timeout.
``http.client`` is imported on first use, so importing this module costs nothing on the
agent's start path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_BODY_BYTES = 1 << 20  # metadata answers are small; never read more than this


class MetadataError(Exception):
    """A metadata request failed: no answer, a timeout, or an answer we cannot use."""


class MetadataTimeout(MetadataError):
    """The metadata service did not answer within the request's timeout."""


@dataclass(frozen=True)
class Response:
    """A metadata answer: status, body text and (lower-cased) headers."""

    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def request(base_url: str, path: str, *, method: str = "GET",
            headers: dict[str, str] | None = None, timeout: float) -> Response:
    """Send one request to ``base_url`` + ``path``; MetadataError when no answer comes."""
    import http.client  # in the identity thread, never on the start path

    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MetadataError(f"bad metadata URL {base_url!r}")
    conn_class = (http.client.HTTPSConnection if parts.scheme == "https"
                  else http.client.HTTPConnection)
    conn = conn_class(parts.hostname, parts.port, timeout=max(timeout, 0.001))
    try:
        conn.request(method, parts.path.rstrip("/") + path, headers=headers or {})
        answer = conn.getresponse()
        body = answer.read(MAX_BODY_BYTES).decode("utf-8", "replace")
        return Response(answer.status, body, {k.lower(): v for k, v in answer.getheaders()})
    except TimeoutError as exc:
        raise MetadataTimeout("timed out") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise MetadataError(_describe(exc)) from exc
    finally:
        conn.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {exc}"

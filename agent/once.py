"""Warnings of a running agent, each distinct problem logged once per process."""

from __future__ import annotations

import logging

log = logging.getLogger("xprof.agent")


class OnceLogger:
    """Logs each distinct problem once per run."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def warn(self, key: str, message: str) -> None:
        if key not in self._seen:
            self._seen.add(key)
            log.warning(message)


WARN = OnceLogger()

"""Keeping secrets out of the store, logs and reports.

Two defences: names that look secret (``--api-key X``, ``DB_PASSWORD=...``) have their values
replaced by ``***``, and every such value, plus the values of secret-looking environment
variables, is scrubbed from any other text xprof stores (the command's output tail, params).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

MASK = "***"
SECRET_NAME = re.compile(
    r"(password|passwd|passphrase|secret|credential|private_key|api_?key|access_key"
    r"|(^|_)(key|token|pwd|auth|dsn|cookie|signature|session_key)$)"
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_MIN_SECRET_LEN = 4


NOT_SECRET = frozenset({"pwd", "oldpwd"})  # the shell's working directories, not passwords


def is_secret_name(name: str) -> bool:
    """True for names such as api_key, --api-key, AWS_SECRET_ACCESS_KEY, db-password."""
    key = name.lstrip("-").lower().replace("-", "_")
    return key not in NOT_SECRET and bool(SECRET_NAME.search(key))


def secret_env_values(environ: Mapping[str, str]) -> set[str]:
    """Values of environment variables whose names look secret."""
    return {v for k, v in environ.items() if is_secret_name(k) and len(v) >= _MIN_SECRET_LEN}


def secret_argv_values(argv: Sequence[str]) -> set[str]:
    """Values given to secret-looking flags in argv (``--token X`` and ``--token=X``)."""
    found: set[str] = set()
    for i, arg in enumerate(argv):
        if arg.startswith("-") and "=" in arg:
            name, value = arg.split("=", 1)
            if is_secret_name(name) and value:
                found.add(value)
        elif (arg.startswith("-") and is_secret_name(arg) and i + 1 < len(argv)
              and not argv[i + 1].startswith("-")):
            found.add(argv[i + 1])
    return found


class Redactor:
    """Scrubs a known set of secret values (and URL passwords) from text."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, values))) if values else None

    def text(self, text: str) -> str:
        text = _URL_PASSWORD.sub(r"\1" + MASK + "@", text)
        return self._pattern.sub(MASK, text) if self._pattern else text

    def argv(self, argv: Sequence[str]) -> list[str]:
        """argv with values of secret flags masked and known secrets scrubbed."""
        out: list[str] = []
        mask_next = False
        for arg in argv:
            if mask_next and not arg.startswith("-"):
                out.append(MASK)
                mask_next = False
                continue
            mask_next = False
            if arg.startswith("-") and "=" in arg:
                name = arg.split("=", 1)[0]
                out.append(f"{name}={MASK}" if is_secret_name(name) else self.text(arg))
            else:
                mask_next = arg.startswith("-") and is_secret_name(arg)
                out.append(self.text(arg))
        return out

    def mapping(self, values: Mapping[str, str]) -> dict[str, str]:
        """A mapping with secret-named keys masked and known secrets scrubbed from values."""
        return {k: MASK if is_secret_name(k) else self.text(str(v)) for k, v in values.items()}

"""Keeping secrets out of the store, logs and reports.

Three defences, patterns in :mod:`xprof.secret_patterns` (after detect-secrets' rules):
values given to names that look secret (``--api-key X``, ``--password -x``,
``DB_PASS=...``, ``AccountKey=...;``) become ``***``, in argv and in free text; URL passwords
and well-known token shapes (AWS, GitHub, Slack, OpenAI, Hugging Face, JWT, private-key
blocks) are masked wherever they appear; and every secret value known to the run (from its
argv and secret-looking environment variables) is scrubbed from any other text xprof stores,
where it stands as a whole token and is at least 6 characters long, so that ``--key 1``
never turns ``lr=0.001`` into ``lr=0.00***``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence

from xprof.secret_patterns import (
    ASSIGNED_VALUE,
    FLAG_VALUE,
    NAME_IN_TEXT,
    NOT_SECRET,
    SECRET_NAME,
    TOKENS,
    TRIVIAL_VALUES,
    URL_PASSWORD,
)

MASK = "***"
MIN_SCRUB_LEN = 6  # known secret values shorter than this are masked where named, not scrubbed
_SHORT_FLAG = re.compile(r"-[A-Za-z]")


@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """True for names such as api_key, --api-key, AWS_SECRET_ACCESS_KEY, db-password, DB_PASS."""
    key = name.lstrip("-").lower().replace("-", "_").replace(".", "_")
    return key not in NOT_SECRET and bool(SECRET_NAME.search(key))


def is_trivial(value: str) -> bool:
    """Values that are never secret whatever their name (true, false, none, empty)."""
    return value.strip().lower() in TRIVIAL_VALUES


def _named_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of values given to secret names in free text (flags and assignments)."""
    for m in NAME_IN_TEXT.finditer(text):
        if not is_secret_name(m.group(2)):
            continue
        value = (FLAG_VALUE if m.group(1) else ASSIGNED_VALUE).match(text, m.end())
        if value is None:
            continue
        group = next(g for g in range(1, 5) if value.group(g) is not None)
        if not is_trivial(value.group(group)):
            yield value.span(group)


def secret_spans(text: str) -> list[tuple[int, int]]:
    """Spans of secrets in text: named values, URL passwords and token shapes."""
    spans = list(_named_spans(text))
    spans += [m.span(2) for m in URL_PASSWORD.finditer(text) if m.group(2)]
    spans += [m.span() for m in TOKENS.finditer(text)]
    return spans


def _mask_spans(text: str, spans: Iterable[tuple[int, int]]) -> str:
    out: list[str] = []
    pos = 0
    for start, end in sorted(spans):
        if end <= pos:
            continue
        out.append(text[pos:max(start, pos)])
        out.append(MASK)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def secrets_in_text(text: str) -> set[str]:
    """The secret values found in a piece of text (to scrub them elsewhere too)."""
    return {text[a:b] for a, b in secret_spans(text)}


def secret_env_values(environ: Mapping[str, str]) -> set[str]:
    """Values of environment variables whose names look secret, and secrets inside any
    value (the password of ``REDIS_URL=redis://:pw@host``, ``AccountKey=...``)."""
    found = {v for k, v in environ.items() if is_secret_name(k) and not is_trivial(v)}
    for value in environ.values():
        if "://" in value or "=" in value or len(value) >= 20:
            found |= secrets_in_text(value)
    return found


def _is_value(arg: str) -> bool:
    """Whether an argument after a secret flag is its value (``-dashPw4444`` is; ``--x``
    and ``-v`` are not)."""
    return not arg.startswith("--") and not _SHORT_FLAG.fullmatch(arg)


def secret_argv_values(argv: Sequence[str]) -> set[str]:
    """Values given to secret-looking flags in argv (``--token X``, ``--token=X``, and flags
    inside a single argument such as ``sh -c "... --api-key X"``)."""
    found: set[str] = set()
    for i, arg in enumerate(argv):
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if (arg.startswith("-") and "=" not in arg and is_secret_name(arg)
                and _is_value(value) and not is_trivial(value)):
            found.add(value)
        found |= secrets_in_text(arg)
    return found


class Redactor:
    """Scrubs secrets from text: named values, URL passwords, token shapes and a known set of
    secret values (whole tokens of 6+ characters)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = sorted({s for s in secrets if len(s) >= MIN_SCRUB_LEN and not is_trivial(s)},
                        key=len, reverse=True)
        self._pattern = (re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(map(re.escape, values))
                                    + r")(?![A-Za-z0-9])") if values else None)

    def text(self, text: str) -> str:
        """The text with every secret it holds replaced by ``***``."""
        text = _mask_spans(text, secret_spans(text))
        return self._pattern.sub(MASK, text) if self._pattern else text

    def tail(self, text: str, cut: bool) -> str:
        """An output tail; when ``cut`` (the output was longer) its first, partial line is
        dropped, so that the end of a secret cut by the boundary is not kept."""
        if cut:
            newline = text.find("\n")
            if newline < 0:
                match = re.search(r"\s", text)
                newline = match.start() if match else len(text)
            text = text[newline + 1:]
        return self.text(text)

    def argv(self, argv: Sequence[str]) -> list[str]:
        """argv with values of secret flags masked and secrets scrubbed from every argument."""
        out: list[str] = []
        mask_next = False
        for arg in argv:
            if mask_next and _is_value(arg):
                out.append(arg if is_trivial(arg) else MASK)
                mask_next = False
                continue
            mask_next = arg.startswith("-") and "=" not in arg and is_secret_name(arg)
            out.append(self.text(arg))
        return out

    def mapping(self, values: Mapping[str, str]) -> dict[str, str]:
        """A mapping with secret-named keys masked and secrets scrubbed from other values."""
        return {k: MASK if is_secret_name(k) and not is_trivial(str(v)) else self.text(str(v))
                for k, v in values.items()}

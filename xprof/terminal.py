"""Stored user text made safe to print on a terminal.

Run names, tags, params, commands and output tails are whatever a user (or a script) typed.
Printed raw, an escape sequence in them drives the reader's terminal: OSC 52 writes the
clipboard, OSC 8 hides links, CSI sequences rewrite the screen. Every terminal output of
stored text goes through :func:`printable`. JSON output needs nothing: it escapes them.
Standard library only.
"""

from __future__ import annotations

import re
from typing import Any

# whole escape sequences first (so their arguments go too), then any control character left
_SEQUENCES = re.compile(
    r"\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"     # OSC ... BEL | ST
    r"|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?"         # DCS, SOS, PM, APC ... ST
    r"|\x1b\[[0-?]*[ -/]*[@-~]?"                        # CSI
    r"|\x9b[0-?]*[ -/]*[@-~]?"                          # 8-bit CSI
    r"|[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x9c)?"  # 8-bit DCS/SOS/OSC/PM/APC
    r"|\x1b[ -/]*[0-~]?")                               # other ESC sequences
# C0 and C1 controls, DEL, and the bidirectional overrides that reorder what is shown
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_KEEP_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(value: Any, *, lines: bool = False) -> str:
    """``str(value)`` without escape sequences and control characters (tabs and newlines
    kept when ``lines``; otherwise a tab or newline becomes a space)."""
    text = _SEQUENCES.sub("", str(value))
    if lines:
        return _CONTROLS_KEEP_LINES.sub("", text.replace("\r\n", "\n"))
    return _CONTROLS.sub("", re.sub(r"[\t\n\r]", " ", text))

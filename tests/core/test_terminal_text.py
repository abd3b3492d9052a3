"""Stored user text never drives the reader's terminal: escape sequences in run names, tags,
params and commands are stripped from `xprof ls`, `xprof show`, `xprof rm` and the summary
`xprof run` prints (JSON output escapes them instead)."""

from __future__ import annotations

import json
import sys

OSC52 = "\x1b]52;c;cm0gLXJmIH4=\x07"  # writes "rm -rf ~" to the clipboard
EVIL = f"evil{OSC52}\x1b[2J\x9b31m\u202eName\x07"


def _clean(text: str) -> None:
    for char in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert char not in text, repr(text)


def test_escape_sequences_never_reach_the_terminal(xprof, store_url):
    """A run named, tagged and parametrised with OSC 52, CSI and bidi overrides: ls, show, rm
    and the run's own summary print the text without them; --json keeps the exact value."""
    run = xprof("run", "--name", EVIL, "--tag", f"team={EVIL}", "--param", f"p={EVIL}",
                "--", sys.executable, "-c", "pass", f"--lr={OSC52}")
    assert run.returncode == 0, run.stderr
    _clean(run.stderr)
    assert "evilName" in run.stderr
    listed = xprof("ls")
    assert listed.returncode == 0
    _clean(listed.stdout)
    assert "evilName" in listed.stdout
    [stored] = json.loads(xprof("ls", "--json").stdout)
    assert stored["name"] == EVIL  # stored as given; only the terminal output is cleaned
    shown = xprof("show", stored["id"][:8])
    assert shown.returncode == 0, shown.stderr
    _clean(shown.stdout)
    assert "evilName" in shown.stdout
    removed = xprof("rm", "--yes", stored["id"][:8])
    assert removed.returncode == 0, removed.stderr
    _clean(removed.stderr)

"""Every command has help with an example and appears in the README; `xprof --help` and
`import xprof` stay light (no SQLAlchemy, pandas, streamlit or cloud SDK)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from xprof.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sqlalchemy", "pandas", "streamlit", "boto3", "botocore", "google", "azure", "pynvml",
         "numpy", "alembic")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help_with_example(name):
    """`xprof NAME --help` works and shows a runnable example."""
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    examples = [line.strip() for line in result.output.splitlines()
                if line.strip().startswith(f"xprof {name}")]
    assert examples, f"`xprof {name} --help` shows no example command line"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_is_in_readme(name):
    """The README documents each command."""
    readme = (ROOT / "README.md").read_text()
    assert re.search(rf"`xprof {name}\b", readme), f"`xprof {name}` missing from README.md"


def _imported_modules(code: str) -> set[str]:
    code += "\nimport sys\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_import_xprof_is_light():
    """`import xprof` (for xprof.log) loads no heavy library."""
    assert not _imported_modules("import xprof") & set(HEAVY)


def test_cli_help_is_light():
    """`xprof --help` and `xprof run --help` load no heavy library."""
    code = ("import sys\nfrom xprof.cli import cli\n"
            "for args in (['--help'], ['run', '--help']):\n"
            "    try:\n        cli.main(args)\n"
            "    except SystemExit:\n        pass\n")
    assert not _imported_modules(code) & set(HEAVY)


def test_readme_test_command_is_what_ci_runs():
    """The README's test command is the one .ci/run runs."""
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    match = re.search(r"^# run the tests\n(.+)$", readme, re.MULTILINE)
    assert match, "README must show the test command under '# run the tests'"
    assert match.group(1).strip() in ci

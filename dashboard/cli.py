"""``xprof dashboard``: start the Streamlit app on this machine and print its address."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
from pathlib import Path

import click

from xprof.cli import BadInput
from xprof.settings import ConfigError, Settings
from xprof.storeurl import StoreError, check_store, redact_url

APP = Path(__file__).with_name("app.py")


def _check_port(host: str, port: int) -> None:
    """Fail early (one line, exit 2) when the address cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise BadInput(f"--host {host} --port {port}: cannot listen there "
                           f"({exc.strerror}); pick another --port") from exc


def streamlit_command(host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line: headless, no telemetry, no file watching."""
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.port", str(port), "--server.address", host,
            "--server.headless", "true", "--server.fileWatcherType", "none",
            "--server.runOnSave", "false", "--browser.gatherUsageStats", "false",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal"]


@click.command()
@click.option("--store", "store_url", metavar="URL",
              help="Store to read (default: XPROF_STORE, else $XPROF_HOME/xprof.db).")
@click.option("--port", type=click.IntRange(1, 65535), default=8501, show_default=True,
              help="Port to serve on.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; 0.0.0.0 shares the dashboard with your network.")
def dashboard(store_url: str | None, port: int, host: str) -> None:
    """Open the dashboard: runs ranked by metric per dollar, run detail, compare,
    recommendations and spend. Runs until Ctrl-C.

    \b
    Examples:
      xprof dashboard
      xprof dashboard --port 8600 --store sqlite:////data/team/xprof.db
    """
    if importlib.util.find_spec("streamlit") is None:
        raise BadInput("the dashboard needs Streamlit: pip install 'xprof[dashboard]'")
    try:
        url = Settings(flags={"store": store_url}).store_url
        check_store(url)
        from xprof.store import Store  # lazy: SQLAlchemy, not for --help

        Store.open(url).engine.dispose()
    except (ConfigError, StoreError) as exc:
        raise BadInput(str(exc)) from exc
    _check_port(host, port)
    shown_host = f"[{host}]" if ":" in host else host
    click.echo(f"xprof dashboard: http://{shown_host}:{port}  "
               f"(store {redact_url(url)}; Ctrl-C stops it)")
    sys.stdout.flush()
    env = {**os.environ, "XPROF_STORE": url}
    os.execve(sys.executable, streamlit_command(host, port), env)

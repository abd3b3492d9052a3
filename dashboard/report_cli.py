"""``xprof report``: the weekly cost report, written to a file, optionally posted and mailed."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from xprof.cli import BadInput
from xprof.dashboard import report_period, report_render
from xprof.delivery import DeliveryError, post_webhook, send_mail
from xprof.settings import ConfigError, Settings
from xprof.storeurl import StoreError

FORMATS = ("html", "md", "json")
BASES = ("billed", "effective", "list")


def _date(value: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise BadInput(f"{flag} {value!r}: expected a date as YYYY-MM-DD") from None


def _period(week: str | None, first: str | None, last: str | None, tz: str) -> Any:
    try:
        report_period.zone(tz)
        if week is not None and (first or last):
            raise BadInput("--week and --from/--to exclude each other; give one of them")
        if first or last:
            if not (first and last):
                raise BadInput("--from and --to go together (both dates included)")
            return report_period.date_range(_date(first, "--from"), _date(last, "--to"), tz)
        if week and week != "last":
            return report_period.iso_week(week, tz)
        return report_period.last_full_week(tz) if week == "last" else None
    except ValueError as exc:
        raise BadInput(f"--tz/--week/--from/--to: {exc}") from None


def default_name(period: Any, project: str | None, fmt: str) -> str:
    """``xprof-report-2026-W47.html``, ``xprof-report-2026-W47-digits.md``."""
    name = f"xprof-report-{period.slug}"
    if project:
        name += "-" + "".join(ch if ch.isalnum() or ch in "._" else "-" for ch in project)[:60]
    return f"{name}.{fmt}"


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder: a reader never
    sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_delivery(post: tuple[str, ...], mail: tuple[str, ...], settings: Any) -> list[str]:
    for url in post:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"--post: expected an http:// or https:// URL, got "
                           f"{parts.scheme or 'no scheme'}://{parts.hostname or '?'}")
    recipients = [a.strip() for item in mail for a in item.split(",") if a.strip()]
    for address in recipients:
        if "@" not in address or " " in address:
            raise BadInput(f"--mail {address!r}: expected an e-mail address")
    if mail and not settings["report.smtp_host"]:
        raise BadInput("--mail needs an SMTP server: set report.smtp_host in "
                       "$XPROF_HOME/config.toml (or XPROF_REPORT_SMTP_HOST)")
    return recipients


@click.command()
@click.option("--week", metavar="[YYYY-Www]", is_flag=False, flag_value="last", default=None,
              help="An ISO week (--week alone: the last full week). Default: the last full week, "
                   "or this week so far when the last has no runs or spend.")
@click.option("--from", "first", metavar="DATE", help="First day (YYYY-MM-DD), with --to.")
@click.option("--to", "last", metavar="DATE", help="Last day, included (YYYY-MM-DD).")
@click.option("--project", metavar="P", help="Only this project (idle cost belongs to none).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="html", show_default=True,
              help="html (self-contained, charts inline), md (the same tables) or json.")
@click.option("--out", metavar="FILE",
              help="Where to write; - for stdout (default: xprof-report-WEEK.FORMAT here).")
@click.option("--tz", default="UTC", show_default=True, metavar="ZONE",
              help="Time zone of the days and times (IANA name, e.g. Europe/Berlin).")
@click.option("--basis", type=click.Choice(BASES), default="billed", show_default=True,
              help="Cost basis: billed, effective (amortised commitments) or list price.")
@click.option("--post", multiple=True, metavar="URL",
              help="Also POST a summary (Slack-compatible JSON) to this webhook.")
@click.option("--mail", multiple=True, metavar="TO",
              help="Also mail the report to this address (SMTP: the report.smtp_* settings).")
@click.option("--store", "store_url", metavar="URL",
              help="Store to read (default: XPROF_STORE, else $XPROF_HOME/xprof.db).")
def report(week: str | None, first: str | None, last: str | None, project: str | None,
           fmt: str, out: str | None, tz: str, basis: str, post: tuple[str, ...],
           mail: tuple[str, ...], store_url: str | None) -> None:
    """Write the cost report of a week (default: the last full ISO week, UTC, or this week so
    far when that is empty) and print a short summary beside the file's path: spend per
    currency billed and estimated with the change from the week before, by project, user,
    instance type and provider, idle cost, GPU-hours, failed runs, the most expensive runs,
    the best value for money and the Pareto frontier per project, open recommendations, and
    what is not priced yet. The file is always written; --post and --mail then deliver it
    (a failed delivery: one line each, exit 1).

    \b
    Examples:
      xprof report
      xprof report --week 2026-W47 --format md --out weekly.md
      xprof report --from 2026-03-01 --to 2026-03-31 --project digits --tz Europe/Berlin
      xprof report --post https://hooks.slack.com/services/T000/B000/XXXX --mail ml@example.com
    """
    period = _period(week, first, last, tz)
    try:
        settings = Settings(flags={"store": store_url})
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    recipients = _check_delivery(post, mail, settings)
    # lazy: SQLAlchemy and pandas load only when a report is made, not for --help
    from xprof.dashboard import queries  # (pandas)
    from xprof.dashboard.report import build_report
    from xprof.store import Store

    try:
        store = Store.open(settings.store_url)
    except StoreError as exc:
        raise BadInput(str(exc)) from None

    if project is not None:
        known = queries.projects(store)["project"].tolist()
        if project not in known:
            shown = ", ".join(sorted(known)[:10]) or "none yet"
            raise BadInput(f"--project {project!r}: no such project (projects: {shown})")

    if period is None:  # the default: the last full week with data, else this week so far
        period, data = _default_period(store, tz, project, basis)
    else:
        data = build_report(store, period, project=project, basis=basis)
    text = report_render.render(data, fmt)
    name = default_name(period, project, fmt)
    if out == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        path = None
    else:
        path = Path(out).expanduser() if out else Path.cwd() / name
        if path.is_dir():
            path = path / name
        try:
            write_atomically(path, text)
        except OSError as exc:
            raise BadInput(f"--out {path}: cannot write ({exc.strerror})") from None
        click.echo(str(path))
        for line in report_render.terminal_summary(data):
            click.echo(f"  {line}")
    _deliver(data, fmt, text, path, name, post, recipients, settings)


def _default_period(store: Any, tz: str, project: str | None, basis: str) -> tuple[Any, dict]:
    """The last full ISO week when it has runs or spend; else the current week so far when
    that has; else the (empty) last full week. The report says which and why."""
    from xprof.dashboard.report import build_report

    last = report_period.last_full_week(tz)
    data = build_report(store, last, project=project, basis=basis)
    if not data["empty"]:
        data["period"]["why"] = "the last full week"
        return last, data
    current = report_period.this_week_so_far(tz)
    recent = build_report(store, current, project=project, basis=basis)
    if recent["empty"]:
        return last, data
    recent["period"]["why"] = f"this week so far ({last.label} has no runs or spend)"
    return current, recent


def _deliver(data: dict, fmt: str, text: str, path: Path | None, name: str,
             post: tuple[str, ...], recipients: list[str], settings: Any) -> None:
    """Post and mail; every failure is one line on stderr and the exit status is 1."""
    if not post and not recipients:
        return
    kept = f" (the report is in {path})" if path is not None else ""
    errors: list[str] = []
    for url in post:
        try:
            post_webhook(url, report_render.slack_payload(data, str(path) if path else None))
        except DeliveryError as exc:
            errors.append(f"{exc}{kept}")
    if recipients:
        html = text if fmt == "html" else report_render.render_html(data)
        body = text if fmt == "md" else report_render.render_markdown(data)
        try:
            send_mail(settings, recipients, report_render.mail_subject(data), body, html=html,
                      attachments=[(path.name if path else name, text.encode("utf-8"))])
        except DeliveryError as exc:
            errors.append(f"{exc}{kept}")
    for message in errors[:-1]:
        click.echo(f"xprof: error: {message}", err=True)
    if errors:
        raise click.ClickException(errors[-1])  # one line, exit 1

"""``xprof gc``: keep raw samples for a while, one-minute aggregates after that."""

from __future__ import annotations

import json

import click

from xprof.cli import BadInput
from xprof.collector.gc import downsample, parse_keep
from xprof.runs_cli import open_store, output_options, print_table, store_option


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return "-"


@click.command()
@click.option("--keep-raw", default="30d", show_default=True, metavar="SPAN",
              help="Keep raw samples this recent: 30d, 12h, 2w, 90m.")
@click.option("--dry-run", is_flag=True, help="Say what would change; change nothing.")
@store_option
@output_options
def gc(keep_raw: str, dry_run: bool, store: str | None, as_json: bool) -> None:
    """Downsample old samples to one-minute aggregates (min, mean, max, p95).

    Samples and GPU samples of ended runs older than --keep-raw become one row per minute
    (and device); run summaries, costs, advice and metrics stay exactly as they were.
    SQLite stores are then compacted (VACUUM).

    \b
    Examples:
      xprof gc --keep-raw 30d --dry-run
      xprof gc --keep-raw 2w --store postgresql+psycopg://xprof@db/xprof
    """
    try:
        keep = parse_keep(keep_raw)
    except ValueError as exc:
        raise BadInput(f"--keep-raw {exc}") from exc
    db = open_store(store)
    progress = None if as_json else (lambda line: click.echo(line, err=True))
    result = downsample(db, keep, dry_run=dry_run, progress=progress)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
        return
    verb = "would fold" if dry_run else "folded"
    rows = []
    for raw, rollup in (("samples", "samples_1m"), ("gpu_samples", "gpu_samples_1m")):
        before = result.raw_before[raw]
        rows.append([raw, f"{before:,}", f"{result.removed[raw]:,}",
                     f"{before - result.removed[raw]:,}", rollup,
                     f"{result.rollups_added[rollup]:,}"])
    print_table(rows, ["TABLE", "RAW ROWS", "FOLDED", "RAW LEFT", "INTO", "MINUTE ROWS ADDED"])
    line = (f"gc: {verb} samples older than {result.cutoff:%Y-%m-%d %H:%M} UTC of "
            f"{result.runs} run(s)")
    if result.skipped_running:
        line += f"; {result.skipped_running} running run(s) left alone"
    if dry_run:
        line += "; nothing changed (--dry-run)"
    elif result.bytes_before is not None:
        line += f"; store {_size(result.bytes_before)} -> {_size(result.bytes_after)}"
    click.echo(line)

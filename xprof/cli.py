"""The ``xprof`` command line: thin click commands, each in the module of its part.

Commands are imported only when invoked (``COMMANDS`` maps a name to ``module:attribute``),
so ``xprof run`` starts its child before anything heavy is imported and ``xprof --help``
works on a base install.
"""

from __future__ import annotations

import importlib
import sys

import click

from xprof import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:attribute, one-line help shown by `xprof --help`)
    "run": ("xprof.agent.cli:run", "Run a training command and record what it used."),
    "ls": ("xprof.runs_cli:ls", "List recent runs."),
    "show": ("xprof.runs_cli:show", "Show everything recorded about one run."),
    "compare": ("xprof.compare_cli:compare",
                "Runs side by side: params that differ, metrics, cost, metric per $, t-test."),
    "rm": ("xprof.runs_cli:rm", "Delete runs and everything recorded with them."),
    "config": ("xprof.runs_cli:config", "Show every setting, its value and where it came from."),
    "store": ("xprof.store_cli:store", "Create, upgrade and inspect a store."),
    "sync": ("xprof.store_cli:sync", "Upload spooled runs, or copy another store's runs."),
    "dashboard": ("xprof.dashboard.cli:dashboard",
                  "Open the dashboard: runs ranked by metric per dollar, advice, spend."),
    "prices": ("xprof.collector.cli:prices", "Show and refresh the price catalog."),
    "collect": ("xprof.collector.cli:collect",
                "Import billing, allocate it to runs and idle, estimate, advise, alert."),
    "advise": ("xprof.collector.advise_cli:advise",
               "Rightsizing advice from each run's own samples, with savings."),
    "export": ("xprof.export_cli:export",
               "Write runs, samples, metrics, costs to CSV/Parquet, or onto MLflow runs."),
    "import": ("xprof.export_cli:import_", "Import MLflow runs to cost and rank them."),
    "gc": ("xprof.collector.gc_cli:gc",
           "Downsample old samples to one-minute aggregates; run summaries stay exact."),
    "report": ("xprof.dashboard.report_cli:report",
               "Weekly cost report (HTML, Markdown or JSON); post or mail it."),
}


class BadInput(click.ClickException):
    """Bad flags, files or config: one line on stderr, exit 2, nothing written."""

    exit_code = 2


def parse_pairs(values: tuple[str, ...], flag: str) -> dict[str, str]:
    """``k=v`` strings into a dict; BadInput naming the flag for anything else."""
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"{flag} {value!r}: expected KEY=VALUE")
        pairs[key.strip()] = val
    return pairs


class LazyGroup(click.Group):
    """A group whose subcommands load on use, with one-line errors (exit 2) for bad usage."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, *args, **kwargs):  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
            if isinstance(code, int) and code:  # ctx.exit(N) returns N in this mode
                sys.exit(code)
            return code
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else "xprof"
            click.echo(f"{command}: error: {exc.format_message().rstrip('.')} "
                       f"(see `{command} --help`)", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"xprof: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xprof")
def cli() -> None:
    """xprof records what each training run cost, what it bought, and what it should have
    run on.

    \b
    Record a run:     xprof run -- python train.py --lr 3e-4
    List runs:        xprof ls
    Price and advise: xprof collect
    Explore:          xprof dashboard

    The store is SQLite at $XPROF_HOME/xprof.db (default ~/.xprof) unless --store or
    XPROF_STORE names another; settings are described by `xprof config`.
    """


def main() -> None:
    cli.main(prog_name="xprof")


if __name__ == "__main__":
    main()

"""Every setting xprof reads, declared once: name, type, default, environment variable, doc.

Precedence: command-line flag > environment variable > ``$XPROF_HOME/config.toml`` > default.
The config file uses the setting names as keys; nested tables are flattened with dots
(``[billing.focus] paths = [...]`` is the key ``billing.focus.paths``).

Standard library only: this module is on the agent's import path.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting or the config file is invalid; the message names the place."""


@dataclass(frozen=True)
class Setting:
    """One setting: its config key, environment variable, type, default and meaning."""

    key: str
    env: str | None
    type: Callable[[Any], Any]
    default: Any
    doc: str
    secret: bool = False  # never shown by `xprof config`, never logged


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _positive_float(value: Any) -> float:
    number = float(value)
    if not number > 0 or not math.isfinite(number):
        raise ValueError(f"expected a positive number, got {value!r}")
    return number


MAX_SECONDS = 86_400.0  # a day: longer waits overflow the timers (threading caps ~9e9 s)


def _seconds(value: Any) -> float:
    """A positive, finite number of seconds, at most a day (``inf``, ``nan``, ``1e10``: no)."""
    number = _positive_float(value)
    if number > MAX_SECONDS:
        raise ValueError(f"expected a positive number of seconds up to {MAX_SECONDS:g}, "
                         f"got {value!r}")
    return number


def _whole(value: Any) -> int:
    """A whole number written as one: ``12``, ``"12"``; not ``1.5``, ``"1e3"`` or ``true``."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"expected a whole number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {value!r}") from None


def _non_negative_int(value: Any) -> int:
    number = _whole(value)
    if number < 0:
        raise ValueError(f"expected a whole number of 0 or more, got {value!r}")
    return number


def _positive_int(value: Any) -> int:
    number = _whole(value)
    if number <= 0:
        raise ValueError(f"expected a positive whole number, got {value!r}")
    return number


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = str(value).strip().lower()
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return text
    return check


def _alert_rules(value: Any) -> tuple:
    from xprof.alert_rules import parse_alerts  # only a config with alerts pays for it

    return parse_alerts(value)


def _budgets(value: Any) -> tuple:
    from xprof.alert_rules import parse_budgets

    return parse_budgets(value)


def _str_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part for part in value.split(",") if part]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(f"expected a list of strings, got {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("home", "XPROF_HOME", str, "~/.xprof",
            "Folder of the default store, the config file and the spool."),
    Setting("store", "XPROF_STORE", str, None,
            "SQLAlchemy URL of the store; default: SQLite at $XPROF_HOME/xprof.db."),
    Setting("host", "XPROF_HOST", str, None,
            "Host name recorded for this agent (default: the machine's); distinguishes the "
            "agents of one multi-node run."),
    Setting("spool", "XPROF_SPOOL", str, None,
            "SQLite file where the agent keeps a run while the store is unreachable; "
            "default: $XPROF_HOME/spool.db. `xprof sync` uploads it."),
    Setting("interval", "XPROF_INTERVAL", _seconds, 1.0,
            "Seconds between samples of `xprof run`."),
    Setting("flush_interval", "XPROF_FLUSH_INTERVAL", _seconds, 2.0,
            "Seconds between store writes (and heartbeats) of a running agent; "
            "a run whose heartbeat is older than 3 of these is `crashed`."),
    Setting("provider", "XPROF_PROVIDER", _choice("aws", "gcp", "azure", "none"), None,
            "Cloud provider of this machine: aws, gcp, azure, or none to skip detection."),
    Setting("instance_type", "XPROF_INSTANCE_TYPE", str, None,
            "Instance type to record instead of asking the metadata service."),
    Setting("instance_id", "XPROF_INSTANCE_ID", str, None,
            "Instance id billing joins on (EC2 i-…, GCP instance id, Azure resource id), for "
            "machines without a metadata service; replaces what detection found."),
    Setting("region", "XPROF_REGION", str, None,
            "Region to record instead of asking the metadata service."),
    Setting("lifecycle", "XPROF_LIFECYCLE", _choice("on-demand", "spot"), None,
            "on-demand or spot, to record instead of asking the metadata service."),
    Setting("aws_imds_url", "XPROF_AWS_IMDS_URL", str, "http://169.254.169.254",
            "Base URL of the AWS instance metadata service."),
    Setting("gcp_metadata_url", "XPROF_GCP_METADATA_URL", str, "http://metadata.google.internal",
            "Base URL of the GCP metadata server."),
    Setting("azure_imds_url", "XPROF_AZURE_IMDS_URL", str, "http://169.254.169.254",
            "Base URL of the Azure instance metadata service."),
    Setting("azure_prices_url", "XPROF_AZURE_PRICES_URL", str,
            "https://prices.azure.com/api/retail/prices",
            "Azure Retail Prices API that `xprof prices update --provider azure` reads."),
    Setting("dmi_dir", "XPROF_DMI_DIR", str, "/sys/class/dmi/id",
            "Folder of the DMI files (sys_vendor, ...) read to tell which cloud this machine "
            "is on; a folder that does not exist means the machine has none."),
    Setting("identity_timeout", "XPROF_IDENTITY_TIMEOUT", _seconds, 2.0,
            "Seconds `xprof run` waits at the end for cloud identity before recording "
            "`unknown (timeout)`."),
    Setting("offcloud_rate", "XPROF_OFFCLOUD_RATE", _positive_float, None,
            "Hourly rate (catalog currency) for machines off any cloud; default: the price of "
            "the cheapest equivalent cloud instance."),
    Setting("offcloud_provider", "XPROF_OFFCLOUD_PROVIDER", str, "aws",
            "Provider whose catalog prices an off-cloud machine's equivalent."),
    Setting("offcloud_region", "XPROF_OFFCLOUD_REGION", str, "us-east-1",
            "Region whose catalog prices an off-cloud machine's equivalent."),
    Setting("gpu.energy_interval_s", "XPROF_GPU_ENERGY_INTERVAL", _positive_float, 120.0,
            "Seconds between reads of each GPU's energy counter (also read at a run's first "
            "and last sample; power, read every sample, covers the time between)."),
    Setting("gpu.thermal_interval_s", "XPROF_GPU_THERMAL_INTERVAL", _positive_float, 30.0,
            "Seconds between reads of each GPU's temperature and SM clock."),
    Setting("gpu.process_interval_s", "XPROF_GPU_PROCESS_INTERVAL", _positive_float, 60.0,
            "Seconds between GPU process lists (also read at once when the run's process tree "
            "changes, or a GPU's memory moves while other processes may be on it)."),
    Setting("gpu.process_util_interval_s", "XPROF_GPU_PROCESS_UTIL_INTERVAL", _positive_float,
            300.0, "Seconds between per-process GPU utilisation reads, made only on a GPU "
            "shared by several of the run's processes or with foreign ones (also read, at "
            "most every 2 min, when the GPU's processes change or its utilisation moves by "
            "10 points)."),
    Setting("gpu.static_interval_s", "XPROF_GPU_STATIC_INTERVAL", _positive_float, 600.0,
            "Seconds between re-checks of each GPU's static facts (power limit, MIG mode); "
            "also re-read at once when a GPU's memory total changes."),
    Setting("budget_warn_fraction", "XPROF_BUDGET_WARN_FRACTION", _positive_float, 0.8,
            "Fraction of a run's --budget at which xprof warns once."),
    Setting("budget_grace_s", "XPROF_BUDGET_GRACE", _seconds, 30.0,
            "Seconds between SIGTERM and SIGKILL when --on-budget stop ends a run."),
    Setting("leftover_grace_s", "XPROF_LEFTOVER_GRACE", _seconds, 5.0,
            "Seconds processes the command left in its group get after SIGTERM, then SIGKILL."),
    Setting("tail_bytes", "XPROF_TAIL_BYTES", _non_negative_int, 65536,
            "Bytes of the command's output kept with the run."),
    Setting("exit_wait", "XPROF_EXIT_WAIT", _seconds, 5.0,
            "Seconds `xprof run` waits, after the command exits, for a slow or locked store "
            "before it spools what is left (`xprof sync` uploads it) and exits."),
    Setting("packages", "XPROF_RECORD_PACKAGES", _bool, True,
            "Record the installed Python packages with each run."),
    Setting("light_writes", "XPROF_LIGHT_WRITES", _bool, False,
            "While the command runs, write an existing SQLite store with the standard "
            "library's sqlite3 instead of SQLAlchemy: less agent CPU during the run, "
            "SQLAlchemy's import paid after the command ends instead (slower exit)."),
    Setting("advise.min_duration_s", "XPROF_ADVISE_MIN_DURATION_S", _positive_float, 300.0,
            "Runs shorter than this many seconds get only preliminary rightsizing advice "
            "(confidence low)."),
    Setting("advise.preliminary_s", "XPROF_ADVISE_PRELIMINARY_S", _positive_float, 60.0,
            "Runs shorter than this many seconds get no rightsizing advice at all."),
    Setting("advise.allow_arch_change", "XPROF_ADVISE_ALLOW_ARCH_CHANGE", _bool, False,
            "Let advice suggest a machine of another CPU architecture (x86_64 <-> arm64)."),
    Setting("advise.min_samples", "XPROF_ADVISE_MIN_SAMPLES", _positive_int, 30,
            "Rules over sample series need at least this many samples (per GPU for GPU rules)."),
    Setting("advise.idle_tail_s", "XPROF_ADVISE_IDLE_TAIL_S", _positive_float, 600.0,
            "GPUs idle for at least this many seconds at a run's end give `idle_tail` advice."),
    Setting("billing.focus.paths", "XPROF_FOCUS_PATHS", _str_list, [],
            "FOCUS export files or folders that `xprof collect` imports."),
    Setting("billing.cur.paths", "XPROF_CUR_PATHS", _str_list, [],
            "AWS CUR 2.0 / legacy CUR exports (files, folders or s3:// prefixes) to import."),
    Setting("billing.aws_ce.enabled", "XPROF_AWS_CE", _bool, False,
            "Ask AWS Cost Explorer for the hourly cost of the runs' EC2 instances "
            "($0.01 a request; needs hourly resource-level data turned on)."),
    Setting("billing.azure.scope", "XPROF_AZURE_BILLING_SCOPE", str, None,
            "Azure Cost Management scope to import, e.g. /subscriptions/<id>."),
    Setting("billing.gcp.table", "XPROF_GCP_BILLING_TABLE", str, None,
            "BigQuery table of the GCP detailed billing export: project.dataset.table."),
    Setting("billing.gcp.project", "XPROF_GCP_BILLING_PROJECT", str, None,
            "GCP project that runs the billing query (default: the client's project)."),
    Setting("billing.azure_export.paths", "XPROF_AZURE_EXPORT_PATHS", _str_list, [],
            "Azure cost details export files or folders (CSV/Parquet, Cost Management "
            "exports) to import."),
    Setting("billing.azure_export.cost_type", "XPROF_AZURE_EXPORT_COST_TYPE",
            _choice("actual", "amortized"), "actual",
            "Which cost the Azure exports hold: actual (as invoiced) or amortized."),
    Setting("billing.gcp_export.paths", "XPROF_GCP_EXPORT_PATHS", _str_list, [],
            "GCP billing export files or folders (the BigQuery table exported to "
            "Parquet, JSON or CSV) to import."),
    Setting("billing.project_tag_keys", "XPROF_PROJECT_TAG_KEYS", _str_list,
            ["project", "Project", "team"],
            "Tag/label keys (first found wins) whose value names the project of billed spend "
            "no run accounts for (other spend, idle machines); the rest is 'untagged'."),
    Setting("billing.lookback_days", "XPROF_BILLING_LOOKBACK_DAYS", _positive_int, 31,
            "Days of Azure and BigQuery billing the first import reaches back."),
    Setting("report.smtp_host", "XPROF_REPORT_SMTP_HOST", str, None,
            "SMTP server that `xprof report --mail` (and alerts) send through."),
    Setting("report.smtp_port", "XPROF_REPORT_SMTP_PORT", _positive_int, 587,
            "Port of the SMTP server (465 means TLS from the first byte)."),
    Setting("report.smtp_user", "XPROF_REPORT_SMTP_USER", str, None,
            "User name to log in to the SMTP server; none: send without logging in."),
    Setting("report.smtp_password", "XPROF_REPORT_SMTP_PASSWORD", str, None,
            "Password for report.smtp_user (secret: never shown or logged).", secret=True),
    Setting("report.smtp_from", "XPROF_REPORT_SMTP_FROM", str, None,
            "From address of report mail; default: report.smtp_user, else xprof@<this host>."),
    Setting("report.smtp_starttls", "XPROF_REPORT_SMTP_STARTTLS", _bool, True,
            "Upgrade the SMTP connection with STARTTLS before logging in and sending."),
    Setting("alerts", None, _alert_rules, (),
            "Alert rules: [[alerts]] tables (run_failed, run_cost_above, gpu_idle, "
            "metric_threshold, project_budget), each sent to a webhook and/or by mail."),
    Setting("budgets", None, _budgets, (),
            "Project budgets: [[budgets]] tables of project, period (week | month), amount."),
    Setting("alerts_lookback_hours", "XPROF_ALERTS_LOOKBACK_HOURS", _positive_float, 48.0,
            "`xprof collect` alerts on failed or costly runs that ended this recently "
            "(those whose agent could not send the alert); older runs are history."),
)

BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


def home() -> Path:
    """The xprof home folder (not created)."""
    return Path(os.environ.get("XPROF_HOME") or "~/.xprof").expanduser()


def config_path() -> Path:
    return home() / "config.toml"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in BY_KEY:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


RETIRED = frozenset({"advise.exit_max_rows"})
"""Settings that no longer do anything: accepted in a config file (so one written for an
older xprof still loads) and ignored. ``advise.exit_max_rows``: advice at a run's end reads
counts the agent kept, so it is never skipped for a long run."""


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The config file's settings, flattened; {} when there is no file.

    Raises ConfigError naming the file (and line) for bad TOML or unknown keys.
    """
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        line = text_line(path.read_bytes(), exc.start)
        raise ConfigError(f"{path}: line {line}: not UTF-8 text (byte {exc.start}: "
                          f"{exc.object[exc.start:exc.start + 1]!r}); save it as UTF-8") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    flat = {k: v for k, v in _flatten(data).items() if k not in RETIRED}
    unknown = sorted(set(flat) - set(BY_KEY))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r} (see `xprof config`)")
    if "alerts" in flat or "budgets" in flat:  # [[alerts]] and [[budgets]] tables
        try:
            for key in ("alerts", "budgets"):
                if key in flat:
                    flat[key] = BY_KEY[key].type(flat[key])
            from xprof.alert_rules import check_references

            check_references(flat.get("alerts", ()), flat.get("budgets", ()))
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    return flat


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line number of byte ``offset``."""
    return data.count(b"\n", 0, offset) + 1


class Settings:
    """Resolved settings: flag > environment > config file > default."""

    def __init__(self, flags: Mapping[str, Any] | None = None,
                 env: Mapping[str, str] | None = None,
                 config: Mapping[str, Any] | None = None) -> None:
        self._flags = {k: v for k, v in (flags or {}).items() if v is not None}
        self._env = os.environ if env is None else env
        self._config = read_config() if config is None else dict(config)
        self._values: dict[str, Any] = {}
        self._sources: dict[str, str] = {}
        for setting in SETTINGS:
            self._values[setting.key] = self._resolve(setting)

    def _resolve(self, setting: Setting) -> Any:
        if setting.key in self._flags:
            raw, where = self._flags[setting.key], f"--{setting.key.replace('_', '-')}"
        elif setting.env and self._env.get(setting.env):
            raw, where = self._env[setting.env], setting.env
        elif setting.key in self._config:
            raw, where = self._config[setting.key], f"{config_path()}: {setting.key}"
        else:
            self._sources[setting.key] = "default"
            return setting.default
        self._sources[setting.key] = where
        try:
            return setting.type(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {exc}") from exc

    def source(self, key: str) -> str:
        """Where the value came from: ``default``, the flag (``--store``), the environment
        variable (``XPROF_STORE``) or the config file (``/home/ada/.xprof/config.toml: store``)."""
        return self._sources[key]

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)

    @property
    def home(self) -> Path:
        return Path(self._values["home"]).expanduser()

    @property
    def store_url(self) -> str:
        return self._values["store"] or f"sqlite:///{self.home / 'xprof.db'}"

    @property
    def spool_url(self) -> str:
        path = Path(self._values["spool"]).expanduser() if self._values["spool"] else (
            self.home / "spool.db")
        return f"sqlite:///{path}"

    def items(self) -> list[tuple[Setting, Any]]:
        return [(s, self._values[s.key]) for s in SETTINGS]

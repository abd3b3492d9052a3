"""What every page shares: the store (cached), cached queries, URL state, the empty-store
welcome and safe text. Pages lay out; SQL stays in ``queries`` (pages call those functions
through :func:`query`, which caches them); ranking in ``ranking``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import pandas as pd
import streamlit as st

from xprof.dashboard import queries
from xprof.dashboard.formatting import escape_markdown
from xprof.settings import ConfigError, Settings
from xprof.store import Store, StoreError
from xprof.storeurl import redact_url

CACHE_TTL_S = 30
P = ParamSpec("P")
R = TypeVar("R")
FIRST_COMMAND = "xprof run -- python train.py"


def store_url() -> str:
    """The store the dashboard reads: ``XPROF_STORE`` (set by `xprof dashboard --store`),
    else the configured default."""
    return os.environ.get("XPROF_STORE") or Settings().store_url


@st.cache_resource(show_spinner=False)
def _open_store(url: str) -> Store:
    return Store.open(url)


def store() -> Store:
    """The open store; a one-line error on the page (and stop) when it cannot be opened."""
    try:
        return _open_store(store_url())
    except (StoreError, ConfigError) as exc:
        st.error(str(exc))
        st.stop()
        raise  # unreachable: st.stop() ends the script


def _store_key(store: Store) -> str:
    return store.url


@functools.cache
def cached(query: Callable[Concatenate[Store, P], R]) -> Callable[Concatenate[Store, P], R]:
    """``query`` under ``st.cache_data`` for CACHE_TTL_S seconds; the store argument is keyed
    by its URL, the other arguments by value."""
    return st.cache_data(query, ttl=CACHE_TTL_S, show_spinner=False,
                         hash_funcs={Store: _store_key})


def query(fn: Callable[Concatenate[Store, P], R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """``fn(store, *args, **kwargs)`` for a function of :mod:`queries`, cached (see
    :func:`cached`); an unreadable store is a page error first."""
    return cached(fn)(store(), *args, **kwargs)


def forget_cached_queries() -> None:
    """Drop cached query results (after the dashboard itself wrote)."""
    st.cache_data.clear()


# -- URL state ------------------------------------------------------------------------------
# Widgets whose value belongs in a shareable link use ``bind="query-params"``: the widget key is
# the URL parameter (``?project=digits&objective=val_acc``). Run pickers show names but keep
# run ids in the URL (``?run=<id>``, ``?runs=<id>&runs=<id>``), so they set it themselves.

def run_picker(label: str, ids: list[str], names: dict[str, str], param: str = "run",
               where: Any = st) -> str | None:
    """A run selectbox showing ``name · id[:8]``, with the run id kept in ``?run=``."""
    if not ids:
        return None
    wanted = st.query_params.get(param)
    run_id = where.selectbox(label, ids, index=ids.index(wanted) if wanted in ids else 0,
                             key=f"pick_{param}", format_func=run_label(names))
    if st.query_params.get(param) != run_id:
        st.query_params[param] = run_id
    return run_id


def runs_picker(label: str, ids: list[str], names: dict[str, str], param: str = "runs",
                **kwargs: Any) -> list[str]:
    """A run multiselect with the chosen ids kept in ``?runs=a&runs=b``."""
    wanted = [r for r in st.query_params.get_all(param) if r in ids]
    picked = st.multiselect(label, ids, default=wanted, key=f"pick_{param}",
                            format_func=run_label(names), **kwargs)
    if st.query_params.get_all(param) != picked:
        st.query_params[param] = picked
    return picked


# -- shared blocks --------------------------------------------------------------------------

def md(text: object) -> str:
    """User text (names, tags, params) made safe to put inside Markdown."""
    return escape_markdown(text)


def stop_if_empty() -> None:
    """On an empty store, show how to record the first run and end the page."""
    if query(queries.run_count) > 0:
        return
    st.title("Welcome to xprof")
    st.markdown("No runs are recorded in this store yet. Wrap any training command to record "
                "what it used, what it cost and what it reached:")
    st.code(FIRST_COMMAND, language="bash")
    st.markdown("Name the metric to rank by with `--objective`, and log it from the script:")
    st.code("xprof run --objective val_acc:max -- python train.py --lr 3e-4\n\n"
            "# in train.py\nimport xprof\nxprof.log(step=epoch, val_acc=acc)", language="bash")
    st.caption(f"Store: {md(redact_url(store_url()))} · this page refreshes every "
               f"{CACHE_TTL_S} s")
    st.stop()


def default_project(projects: pd.DataFrame) -> str | None:
    """The project a page opens on: the one of the most recent run among projects with an
    objective, else of the most recent run (``projects`` as :func:`queries.projects`)."""
    if projects.empty:
        return None
    newest = projects.sort_values("last_started_at", ascending=False, kind="stable")
    declared = newest[newest["objective_name"].notna()]
    return str((declared if not declared.empty else newest)["project"].iloc[0])


def project_picker(sidebar: bool = True, prefer: str | None = None) -> str:
    """Pick the project (kept in the URL); most recently active first. Without ``?project=``
    it opens on ``prefer`` when given, else on :func:`default_project`."""
    projects = query(queries.projects)
    names = projects["project"].tolist()
    first = prefer if prefer in names else default_project(projects)
    where = st.sidebar if sidebar else st
    return where.selectbox("Project", names, index=names.index(first) if first in names else 0,
                           key="project", bind="query-params")


def run_label(names: dict[str, str]) -> Callable[[str], str]:
    """format_func for run-id pickers: ``name · id[:8]``."""
    return lambda run_id: f"{names.get(run_id, '?')} · {run_id[:8]}"


LOWER_IS_BETTER = ("loss", "err", "perplex", "mse", "mae", "rmse", "wer", "cer", "latency")


def objective_picker(project: str, left: Any = st, right: Any = st) -> tuple[str | None, str]:
    """The objective (default: the project's ``--objective``) and its mode, kept in the URL.

    A metric nobody declared is taken as lower-is-better when its name says loss/error.
    """
    info = query(queries.projects).set_index("project").loc[project]
    declared = info["objective_name"]
    keys = query(queries.metric_keys, project=project)
    options = sorted(set(keys) | ({declared} if declared else set()))
    objective = left.selectbox(
        "Objective", options, index=options.index(declared) if declared in options else
        (0 if options else None), key="objective", bind="query-params",
        help="The metric to rank by; a run's value is the last one it logged.",
        placeholder="no metric logged yet")
    guess = "min" if objective and any(w in objective.lower() for w in LOWER_IS_BETTER) \
        else "max"
    default = info["objective_mode"] if objective == declared and info["objective_mode"] \
        else guess
    mode = right.radio("Objective mode", ["max", "min"], index=["max", "min"].index(default),
                       key="mode", bind="query-params", horizontal=True,
                       help="max: higher is better (accuracy); min: lower is better (loss).")
    return objective, mode

"""Links and defaults: the dashboard opens on the project of the most recent run (one with an
objective first), a compare link shows exactly the runs it names whatever their projects
(unknown ids named in a warning), and costs read as money, sub-cent ones included."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.dashboard.subcent_seed import seed_subcent
from xprof.store import Store

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _scratch_run(store: Store, project: str, started: dt.datetime) -> str:
    """A finished run without an objective, metrics or cost."""
    run_id = uuid.uuid4().hex
    store.create_run({"id": run_id, "name": f"{project}-try", "project": project,
                      "status": "finished", "exit_code": 0, "started_at": started,
                      "ended_at": started + dt.timedelta(seconds=5),
                      "heartbeat_at": started + dt.timedelta(seconds=5), "duration_s": 5.0,
                      "interval_s": 1.0, "flush_interval_s": 2.0, "command": ["python", "x.py"],
                      "host": "h", "user": "ada"})
    return run_id


@pytest.fixture
def mixed(tmp_path) -> tuple[str, dict[str, str]]:
    """mnist (objective val_acc, 3 sub-cent runs) started on T0; a newer project without an
    objective (scratch) an hour later; an older project zz-old without one either."""
    url = f"sqlite:///{tmp_path / 'xprof.db'}"
    store = Store.open(url)
    ids = seed_subcent(store, started=T0)
    ids["scratch"] = _scratch_run(store, "scratch", T0 + dt.timedelta(hours=1))
    ids["old"] = _scratch_run(store, "aa-old", T0 - dt.timedelta(days=3))
    return url, ids


@pytest.mark.parametrize("page", ["views/leaderboard.py", "views/compare.py"])
def test_opens_on_the_newest_project_with_an_objective(mixed, open_page, page) -> None:
    """Without ?project= the page opens on mnist: the newest run's project (scratch) has no
    objective, and the alphabetically first one (aa-old) is neither."""
    url, _ = mixed
    at = open_page(page, url)
    assert at.sidebar.selectbox(key="project").value == "mnist"


def test_opens_on_the_newest_project_when_none_has_an_objective(tmp_path, open_page) -> None:
    """No project declared an objective: the page opens on the project of the newest run."""
    url = f"sqlite:///{tmp_path / 'xprof.db'}"
    store = Store.open(url)
    _scratch_run(store, "alpha", T0)
    _scratch_run(store, "beta", T0 + dt.timedelta(minutes=1))
    at = open_page("views/leaderboard.py", url)
    assert at.sidebar.selectbox(key="project").value == "beta"


def test_compare_link_shows_exactly_the_runs_it_names(mixed, open_page) -> None:
    """A link naming runs of two projects and an id the store lacks: both runs are compared,
    none dropped, and the unknown id is named in a warning."""
    url, ids = mixed
    at = open_page("views/compare.py", url, runs=[ids["mid-lr"], ids["scratch"], "f00dfeed"])
    table = next(d.value for d in at.dataframe if "cost source" in d.value.columns)
    assert table["run"].tolist() == [f"mid-lr · {ids['mid-lr'][:8]}",
                                     f"scratch-try · {ids['scratch'][:8]}"]
    assert table["project"].tolist() == ["mnist", "scratch"]
    assert table["cost"].tolist() == ["$0.0055", "—"]
    assert len(at.warning) == 1 and "f00dfeed" in at.warning[0].value
    assert at.multiselect(key="pick_runs").value == [ids["mid-lr"], ids["scratch"]]


def test_compare_link_opens_on_the_first_linked_runs_project(mixed, open_page) -> None:
    """A link without ?project= opens on the project of the first run it names."""
    url, ids = mixed
    at = open_page("views/compare.py", url, runs=[ids["scratch"], ids["mid-lr"]])
    assert at.sidebar.selectbox(key="project").value == "scratch"
    table = next(d.value for d in at.dataframe if "cost source" in d.value.columns)
    assert table["project"].tolist() == ["scratch", "mnist"]


def test_leaderboard_costs_are_money_with_sub_cent_digits(mixed, open_page) -> None:
    """The cost column reads $0.0055, $0.0031, $0.0024 (the one money formatter), not a
    fixed four decimals; Sort by cost still orders by amount."""
    url, _ = mixed
    at = open_page("views/leaderboard.py", url, project="mnist")
    costs = dict(zip(at.dataframe[0].value["name"], at.dataframe[0].value["cost"], strict=True))
    assert costs == {"small-lr": "$0.0031", "mid-lr": "$0.0055", "big-lr": "$0.0024"}
    at = open_page("views/leaderboard.py", url, project="mnist", sort="cost")
    assert at.dataframe[0].value["name"].tolist() == ["big-lr", "small-lr", "mid-lr"]

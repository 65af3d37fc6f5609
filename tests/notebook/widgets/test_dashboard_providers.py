"""The dashboard with several providers: a provider column, routed actions, failures as lines."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flow_notebook.core.errors import ConfigurationError, ProviderUnavailableError
from flow_notebook.notebook.widgets.dashboard import HEADERS, DashboardModel
from flow_notebook.notebook.widgets.dashboard_widget import WidgetDashboard

from .conftest import NOW, WidgetFakeProvider, make_task

PROVIDER = HEADERS.index("PROVIDER")


class Unreachable(WidgetFakeProvider):
    def list_tasks(self, *args, **kwargs):
        raise ProviderUnavailableError("cannot reach the API at 127.0.0.1:9 (connection refused)")


@contextmanager
def _dashboard(entries, **options) -> Iterator[WidgetDashboard]:
    """A widget dashboard over ``entries``, refreshed once; closed afterwards."""
    model = DashboardModel(lambda: entries, clock=lambda: NOW, **options)
    dashboard = WidgetDashboard(model, interval=3600)
    try:
        dashboard.refresh()
        yield dashboard
    finally:
        dashboard.close()


def _two_providers(*more):
    local = WidgetFakeProvider([make_task("local-1", minutes=1)])
    cloud = WidgetFakeProvider([make_task("bid-1", minutes=5), make_task("bid-2", minutes=60)])
    entries = [("local", local), ("mithril", cloud), *more]
    return local, cloud, entries


def test_rows_of_both_providers_side_by_side_newest_first_with_their_provider():
    local, cloud, entries = _two_providers()
    listed: list[tuple[str, str]] = []
    with _dashboard(entries, on_listed=lambda *pair: listed.append(pair)) as dashboard:
        shown = [(view.task_id, view.cells[PROVIDER].value) for view in dashboard.row_views]
        assert shown == [("local-1", "local"), ("bid-1", "mithril"), ("bid-2", "mithril")]
        assert dashboard.header.children[PROVIDER].value == "<b>PROVIDER</b>"
        assert listed == [("local-1", "local"), ("bid-1", "mithril"), ("bid-2", "mithril")]
        assert dashboard.problems.value == ""


def test_cancel_goes_to_the_provider_of_the_row():
    local, cloud, entries = _two_providers()
    with _dashboard(entries) as dashboard:
        dashboard.confirm_cancel("bid-1")
        assert (cloud.cancelled, local.cancelled) == (["bid-1"], [])
        dashboard.confirm_cancel("local-1")
        assert local.cancelled == ["local-1"]


def test_a_failing_provider_is_one_line_and_the_others_still_show():
    keyless = ConfigurationError("no Mithril API key", suggestion="run %flow setup")
    local, cloud, entries = _two_providers(("mithril-eu", keyless), ("slow", Unreachable()))
    with _dashboard(entries) as dashboard:
        assert [view.task_id for view in dashboard.row_views] == ["local-1", "bid-1", "bid-2"]
        problems = dashboard.problems.value
        assert "mithril-eu: cannot list tasks: no Mithril API key (run %flow setup)" in problems
        assert "slow: cannot list tasks: cannot reach the API at 127.0.0.1:9" in problems
        assert problems.count("<div>") == 2
        assert "3 tasks ·" in dashboard.status.value
        text = dashboard._repr_mimebundle_()["text/plain"].splitlines()
        assert text[-2:] == [
            "mithril-eu: cannot list tasks: no Mithril API key (run %flow setup)",
            "slow: cannot list tasks: cannot reach the API at 127.0.0.1:9 (connection refused)",
        ]


def test_a_provider_that_recovers_clears_its_line():
    local, cloud, entries = _two_providers()
    state = {"down": True}

    class Flaky(WidgetFakeProvider):
        def list_tasks(self, *args, **kwargs):
            if state["down"]:
                raise ProviderUnavailableError("api down")
            return super().list_tasks(*args, **kwargs)

    entries.append(("flaky", Flaky([make_task("flaky-1", minutes=2)])))
    with _dashboard(entries) as dashboard:
        assert "flaky: cannot list tasks: api down" in dashboard.problems.value
        state["down"] = False
        dashboard.refresh()
        assert dashboard.problems.value == ""
        assert "flaky-1" in [view.task_id for view in dashboard.row_views]


def test_every_provider_failing_keeps_the_last_rows_and_says_why():
    local, cloud, entries = _two_providers()
    with _dashboard(entries) as dashboard:
        entries[:] = [("local", Unreachable()), ("mithril", Unreachable())]
        dashboard.refresh()
        assert len(dashboard.row_views) == 3
        assert "local: cannot list tasks" in dashboard.status.value
        assert "mithril: cannot list tasks" in dashboard.status.value

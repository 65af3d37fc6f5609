"""One notebook, several providers: --provider on every magic, ids routed to their provider.

The providers are in-memory fakes built through a real ``ProviderRegistry``, so
names, the unknown-name error and lazy construction are the registry's own.
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.errors import ConfigurationError
from flow_notebook.core.models import TaskConfig, TaskStatus
from flow_notebook.core.registry import ProviderRegistry
from flow_notebook.notebook.commands import COMMANDS
from flow_notebook.notebook.magics import FlowMagics
from flow_notebook.notebook.notebook_tasks import NotebookTasks
from flow_notebook.notebook.positions import LogPositions
from flow_notebook.notebook.session import Timing

from .conftest import FakeProvider


class NamedFake(FakeProvider):
    """A fake whose task ids carry its name, as real providers' ids differ."""

    def __init__(self, name: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.name = name

    def submit_task(self, instance_type: str, config: TaskConfig, *args, **kwargs):
        task = super().submit_task(instance_type, config)
        renamed = task.model_copy(update={"task_id": f"{self.name}-{task.task_id}"})
        del self.tasks[task.task_id]
        self.tasks[renamed.task_id] = renamed
        return renamed

    def get_task_logs(self, task_id: str, tail: int = 100, log_type: str = "stdout") -> str:
        self.get_task(task_id)
        return f"log of {task_id} on {self.name}\n"


class Broken(NamedFake):
    """A provider whose API does not answer."""

    def list_tasks(self, status=None, limit=100, force_refresh=False):
        from flow_notebook.core.errors import ProviderUnavailableError

        raise ProviderUnavailableError("the API did not answer (connection refused)")


@pytest.fixture
def built() -> dict[str, NamedFake]:
    return {}


@pytest.fixture
def registry(built) -> ProviderRegistry:
    def factory(name: str, kind: type[NamedFake] = NamedFake):
        def make(config):
            # One instance per name, so a second kernel sees the tasks the first started.
            return built.setdefault(name, kind(name, ends_by_itself=False))

        return make

    def needs_key(config):
        raise ConfigurationError("no Mithril API key", suggestion="run %flow setup")

    return ProviderRegistry(
        {"local": factory("local"), "cloud": factory("cloud"), "keyless": needs_key}
    )


@pytest.fixture
def magics(ip, registry, tmp_path):
    def register() -> FlowMagics:
        registered = FlowMagics(
            ip,
            provider_factory=registry.create,
            positions=LogPositions(tmp_path / "positions"),
            timing=Timing(poll_interval=0.01, settle_timeout=1.0),
            tasks=NotebookTasks(tmp_path / "tasks.json"),
        )
        ip.register_magics(registered)
        return registered

    magics = register()
    magics.register = register  # a new kernel on the same FLOW_HOME
    yield magics
    magics.session.close()


def test_run_with_provider_goes_there_and_ids_route_back_without_it(magics, flow, built):
    on_local, _ = flow("run -- echo here")
    on_cloud, _ = flow("run --provider cloud -- echo there")
    assert on_local.task_id in built["local"].tasks
    assert on_cloud.task_id in built["cloud"].tasks and on_cloud.task_id not in built["local"].tasks

    assert flow(f"logs {on_cloud.task_id}")[1] == f"log of {on_cloud.task_id} on cloud\n"
    assert flow(f"logs {on_local.task_id}")[1] == f"log of {on_local.task_id} on local\n"
    assert "provider: cloud" in flow(f"status {on_cloud.task_id}")[1]

    flow(f"cancel {on_cloud.task_id}")
    assert built["cloud"].cancelled == [on_cloud.task_id]
    assert built["local"].cancelled == []


def test_cell_magic_takes_provider_and_records_it(ip, magics, built):
    ip.run_cell_magic("flow", "run --provider cloud", "print('cell')\n")
    (task_id,) = built["cloud"].tasks
    record = magics.session.tasks.find(task_id)
    assert record is not None and record.provider == "cloud"
    assert "local" not in built  # the default provider was never needed


def test_a_new_kernel_routes_ids_through_the_notebook_records(magics, flow, built):
    task, _ = flow("run --provider cloud -- echo there")
    magics.session.close()
    fresh = magics.register()
    try:
        out = flow(f"logs {task.task_id}")[1]
        assert out == f"log of {task.task_id} on cloud\n"
        assert fresh.session.owner_name(task.task_id) == "cloud"
    finally:
        fresh.session.close()


def test_list_shows_every_configured_provider_side_by_side(magics, flow, monkeypatch):
    monkeypatch.setenv("FLOW_PROVIDERS", "cloud")
    here, _ = flow("run --name here -- echo a")
    there, _ = flow("run --provider cloud --name there -- echo b")
    header, *rows = flow("list")[1].splitlines()
    assert header.split()[:3] == ["ID", "PROVIDER", "NAME"]
    seen = {row.split()[0]: row.split()[1:3] for row in rows}
    assert seen == {here.task_id: ["local", "here"], there.task_id: ["cloud", "there"]}

    only = flow("list --provider cloud")[1].splitlines()[1:]
    assert [row.split()[0] for row in only] == [there.task_id]


def test_a_listed_task_of_another_kernel_routes_to_the_provider_it_was_listed_from(
    magics, flow, built, monkeypatch
):
    monkeypatch.setenv("FLOW_PROVIDERS", "cloud")
    flow("list")  # builds both providers
    foreign = built["cloud"].submit_task("", TaskConfig(command="true"))  # another kernel's
    assert foreign.task_id in flow("list")[1]
    assert flow(f"logs {foreign.task_id}")[1] == f"log of {foreign.task_id} on cloud\n"


def test_a_failing_provider_is_one_line_and_hides_no_other(magics, flow, monkeypatch):
    monkeypatch.setenv("FLOW_PROVIDERS", "keyless, cloud")
    task, _ = flow("run -- echo a")
    lines = flow("list")[1].splitlines()
    assert lines[1].split()[:2] == [task.task_id, "local"]
    assert lines[2:] == ["keyless: cannot list tasks: no Mithril API key (run %flow setup)"]


def test_a_provider_whose_api_fails_is_one_line_in_the_dashboard_text(
    ip, flow, tmp_path, monkeypatch
):
    providers = {"local": NamedFake("local"), "down": Broken("down")}
    registry = ProviderRegistry(
        {"local": lambda config: providers["local"], "down": lambda config: providers["down"]}
    )
    monkeypatch.setenv("FLOW_PROVIDERS", "down")
    registered = FlowMagics(
        ip, provider_factory=registry.create, tasks=NotebookTasks(tmp_path / "t.json")
    )
    ip.register_magics(registered)
    task, _ = flow("run -- echo a")
    lines = flow("dashboard --text")[1].splitlines()
    assert lines[0].split()[:2] == ["ID", "PROVIDER"]
    assert lines[1].split()[:2] == [task.task_id, "local"]
    assert lines[2] == "down: cannot list tasks: the API did not answer (connection refused)"


def test_every_provider_failing_is_one_error_line(magics, flow, monkeypatch):
    monkeypatch.setenv("FLOW_PROVIDER", "keyless")
    with pytest.raises(UsageError, match=r"^no Mithril API key \(run %flow setup\)$"):
        flow("list")


# The smallest valid line of every subcommand that reaches a provider. A new
# subcommand gets --provider from make_parser; it must be listed here, and so show
# that it honours the option rather than ignoring it.
MINIMAL_LINES = {
    "attach": "attach some-task",
    "cancel": "cancel some-task",
    "dashboard": "dashboard --text",
    "instances": "instances --text",
    "list": "list",
    "logs": "logs some-task",
    "pause": "pause some-task",
    "reservation": "reservation history res-1",
    "reservations": "reservations",
    "reserve": "reserve --gpu a100 --duration 1h",
    "resume": "resume some-task",
    "run": "run -- echo",
    "ssh": "ssh some-task",
    "status": "status some-task",
    "sync": "sync some-task",
    "tasks": "tasks",
    "tunnel": "tunnel some-task 8888",
    "volumes": "volumes",
    "wait": "wait some-task",
}
NO_PROVIDER_OPTION = {"help", "use", "config", "setup"}


def test_every_subcommand_is_either_listed_here_or_refuses_provider():
    assert set(COMMANDS) == set(MINIMAL_LINES) | NO_PROVIDER_OPTION


@pytest.mark.parametrize("line", [*MINIMAL_LINES.values(), "tasks --notebook"])
def test_an_unknown_provider_is_one_line_naming_the_registered_ones(magics, flow, line):
    name, _, rest = line.partition(" ")
    with pytest.raises(UsageError) as caught:
        flow(f"{name} --provider nope {rest}")
    assert str(caught.value) == "unknown provider 'nope' (choose one of: cloud, keyless, local)"


def test_cell_magic_with_an_unknown_provider_submits_nothing(ip, magics, built):
    with pytest.raises(UsageError, match=r"^unknown provider 'nope' \(choose one of: "):
        ip.run_cell_magic("flow", "run --provider nope", "print(1)\n")
    assert all(not provider.tasks for provider in built.values())


def test_explicit_provider_wins_over_the_recorded_one(magics, flow, built):
    task, _ = flow("run --provider cloud -- echo there")
    with pytest.raises(UsageError, match=f"no task '{task.task_id}'"):
        flow(f"logs {task.task_id} --provider local")


def test_every_subcommand_that_reaches_a_provider_takes_provider():
    for name, module in COMMANDS.items():
        options = {
            option for action in module.build_parser()._actions for option in action.option_strings
        }
        assert ("--provider" in options) is (name not in NO_PROVIDER_OPTION), name


def test_options_are_refused_where_they_cannot_be_honoured(magics, flow):
    with pytest.raises(UsageError, match="unrecognized arguments: --provider"):
        flow("use cloud --provider local")


def test_wait_routes_to_the_tasks_provider(magics, flow, built):
    task, _ = flow("run --provider cloud -- echo there")
    built["cloud"].end(task.task_id, TaskStatus.COMPLETED, 0)
    assert flow(f"wait {task.task_id}")[1].startswith(f"task {task.task_id} completed")


def test_attach_reaches_the_tasks_own_provider(magics, flow, built):
    task, _ = flow("run --provider cloud -- echo there")
    built["cloud"].end(task.task_id, TaskStatus.COMPLETED, 0)
    out = flow(f"attach {task.task_id} --wait")[1]
    assert out.splitlines()[1:4] == ["one", "two", "three"], out
    assert built["cloud"].stream_starts == [0]
    assert "local" not in built  # nothing was asked of the default provider


def test_a_new_kernel_still_lists_the_providers_this_notebook_used(magics, flow):
    task, _ = flow("run --provider cloud -- echo there")
    magics.session.close()
    fresh = magics.register()
    try:
        rows = flow("list")[1].splitlines()[1:]
        assert [row.split()[:2] for row in rows] == [[task.task_id, "cloud"]]
    finally:
        fresh.session.close()


def test_the_providers_setting_is_saved_and_an_unknown_name_in_it_is_one_line(magics, flow):
    out = flow("config providers=cloud,nope")[1]
    assert "providers: cloud, nope" in out
    task, _ = flow("run --provider cloud -- echo there")
    lines = flow("list")[1].splitlines()
    assert lines[1].split()[:2] == [task.task_id, "cloud"]
    assert lines[2:] == [
        "nope: cannot list tasks: unknown provider 'nope' (choose one of: cloud, keyless, local)"
    ]


@pytest.mark.parametrize(
    "line", ['list --provider ""', "list --provider", 'run --provider " " -- x']
)
def test_an_empty_or_missing_provider_name_is_refused_in_one_line(magics, flow, built, line):
    with pytest.raises(UsageError, match=r"--provider"):
        flow(line)
    assert not built


def test_provider_names_are_read_like_the_registry_reads_them(magics, flow, built):
    task, _ = flow("run --provider ' Cloud ' -- echo there")
    assert task.task_id in built["cloud"].tasks

"""%flow use: switch providers; a failed switch keeps the current one."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from flow_notebook.core.errors import UnknownProviderError
from flow_notebook.notebook.magics import FlowMagics


def test_use_switches_the_default_and_the_old_tasks_stay_with_their_provider(ip, flow, fake_class):
    providers = {"one": fake_class(), "two": fake_class()}

    def factory(name=None):
        if name not in (None, *providers):
            raise UnknownProviderError(f"unknown provider {name!r}")
        return providers[name or "one"]

    ip.register_magics(FlowMagics(ip, provider_factory=factory))
    flow("run -- echo on one")
    on_one, _ = flow("run -- echo again on one")  # task-2: the fakes number tasks alike
    assert flow("use two")[1] == "using provider two\n"
    flow("run -- echo on two")
    assert len(providers["two"].tasks) == 1
    assert len(providers["one"].tasks) == 2
    # The first provider stays open: its task is still reached through it.
    assert not providers["one"].closed
    flow(f"cancel {on_one.task_id}")
    assert providers["one"].cancelled == [on_one.task_id]
    assert providers["two"].cancelled == []
    with pytest.raises(UsageError, match="^unknown provider 'nope'$"):
        flow("use nope")
    flow("run -- echo still two")
    assert len(providers["two"].tasks) == 2


def test_use_unknown_provider_through_the_registry_is_one_line(ip, flow):
    ip.register_magics(FlowMagics(ip))
    with pytest.raises(UsageError, match=r"^unknown provider 'bogus' \(choose one of: "):
        flow("use bogus")

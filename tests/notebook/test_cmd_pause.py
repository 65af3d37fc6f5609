"""%flow pause: through IPausable, idempotent; one line when the provider cannot."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from .widgets.conftest import FullFakeProvider, WidgetFakeProvider, make_task


def test_pause_twice_says_already_paused(use_provider, flow):
    use_provider(FullFakeProvider([make_task()]))
    assert flow("pause task-1")[1] == "task task-1 paused\n"
    assert flow("pause task-1")[1] == "task task-1 was already paused\n"


def test_provider_without_pause_is_one_line(use_provider, flow):
    use_provider(WidgetFakeProvider([make_task()]))
    with pytest.raises(UsageError, match="^provider fake cannot pause tasks$"):
        flow("pause task-1")


def test_pause_needs_a_task(use_provider, flow):
    use_provider(FullFakeProvider())
    with pytest.raises(UsageError, match="required: TASK"):
        flow("pause")

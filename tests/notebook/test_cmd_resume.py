"""%flow resume: through IPausable, idempotent; one line when the provider cannot."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from .widgets.conftest import FullFakeProvider, WidgetFakeProvider, make_task


def test_resume_a_paused_task_then_again(use_provider, flow):
    provider = FullFakeProvider([make_task()])
    use_provider(provider)
    flow("pause task-1")
    assert flow("resume task-1")[1] == "task task-1 resumed\n"
    assert provider.paused == set()
    assert flow("resume task-1")[1] == "task task-1 was not paused\n"


def test_provider_without_resume_is_one_line(use_provider, flow):
    use_provider(WidgetFakeProvider([make_task()]))
    with pytest.raises(UsageError, match="^provider fake cannot resume tasks$"):
        flow("resume task-1")

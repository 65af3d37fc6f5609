"""%flow list: an aligned table, newest first, filtered and limited."""

from __future__ import annotations


def test_list_prints_an_aligned_table_newest_first(use_fake, flow):
    use_fake()
    first, _ = flow("run --name short -- echo a")
    second, _ = flow("run --name a-longer-name -g h100 -- echo b")
    _, out = flow("list")
    header, row2, row1 = out.splitlines()
    assert header.split() == [
        "ID",
        "PROVIDER",
        "NAME",
        "STATUS",
        "INSTANCE",
        "CREATED",
        "RUNTIME",
    ]
    assert row2.split()[:5] == [second.task_id, "local", "a-longer-name", "running", "fake-h100"]
    assert row1.split()[:5] == [first.task_id, "local", "short", "running", "cpu"]
    status_column = header.index("STATUS")
    assert row1[status_column:].startswith("running") and row2[status_column:].startswith("running")


def test_list_filters_by_status_and_limits(use_fake, flow):
    use_fake()
    done, _ = flow("run --follow -- echo a")
    flow("run -- echo b")
    flow("run -- echo c")
    _, out = flow("list --status completed")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [done.task_id]
    _, out = flow("list --limit 1")
    assert len(out.splitlines()) == 2


def test_list_without_tasks_says_so(use_fake, flow):
    use_fake()
    assert flow("list")[1] == "no tasks\n"

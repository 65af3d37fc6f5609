"""The copy of a followed log under FLOW_HOME: whole from line 0, one writer, private."""

from __future__ import annotations

import stat

from flow_notebook.providers.mithril.domain.followed_copy import FollowedCopy, read_lines


def test_lines_read_are_copied_and_shown_from_the_start_asked(tmp_path):
    path = tmp_path / "task" / "stdout.followed"
    copy = FollowedCopy.claim(path)
    assert copy is not None and copy.lines == 0

    shown = list(copy.tee(iter(["a", "b", "c", "d"]), read_from=0, show_from=2))
    copy.close()

    assert shown == ["c", "d"]
    assert read_lines(path) == ["a", "b", "c", "d"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_one_follow_writes_a_copy_at_a_time(tmp_path):
    path = tmp_path / "stdout.followed"
    first = FollowedCopy.claim(path)
    assert first is not None
    assert FollowedCopy.claim(path) is None
    first.close()
    assert FollowedCopy.claim(path) is not None


def test_a_later_follow_continues_the_copy_without_gap_or_repeat(tmp_path):
    path = tmp_path / "stdout.followed"
    first = FollowedCopy.claim(path)
    list(first.tee(iter(["0", "1"]), read_from=0, show_from=0))
    first.close()
    path.write_bytes(path.read_bytes() + b"cut sho")  # a write cut short by a crash

    again = FollowedCopy.claim(path)
    assert again.lines == 2
    # A follow resuming at line 4 reads from line 2 (the copy's end) and shows from 4.
    shown = list(again.tee(iter(["2", "3", "4", "5"]), read_from=2, show_from=4))
    # A line already held, or one after a gap, is not copied again.
    list(again.tee(iter(["1", "x"]), read_from=1, show_from=9))
    list(again.tee(iter(["9"]), read_from=9, show_from=9))
    again.close()

    assert shown == ["4", "5"]
    assert read_lines(path) == ["0", "1", "2", "3", "4", "5"]


def test_no_copy_means_none(tmp_path):
    assert read_lines(tmp_path / "missing.followed") is None

"""The progress bar: (done, total) callbacks, text line at the end, widget values."""

from __future__ import annotations

import threading

from IPython.utils.capture import capture_output

from flow_notebook.notebook.widgets.progress import TextProgress, WidgetProgress, format_bytes


def test_format_bytes():
    assert [format_bytes(n) for n in (0, 1023, 1536, 5 * 1024**2, 3 * 1024**3)] == [
        "0 B",
        "1023 B",
        "1.5 KB",
        "5.0 MB",
        "3.0 GB",
    ]


def test_text_progress_prints_only_when_done():
    progress = TextProgress("sync")
    with capture_output() as captured:
        progress(512, 1024)
        assert captured.stdout == ""
        progress.finish()
    assert captured.stdout == "sync: 512 B of 1.0 KB (50%) done\n"


def test_widget_bar_follows_callbacks_from_threads():
    progress = WidgetProgress("upload to vol-1")
    threads = [threading.Thread(target=progress, args=(n, 100)) for n in (10, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    progress(50, 100)
    assert progress.bar.value == 500
    assert progress.caption.value == "upload to vol-1: 50 B of 100 B (50%)"
    progress.finish()
    assert progress.bar.bar_style == "success"


def test_failure_turns_the_bar_red_and_says_why():
    progress = WidgetProgress("upload")
    progress(1, 4)
    progress.finish(error="disk full")
    assert progress.bar.bar_style == "danger"
    assert progress.caption.value.endswith("failed after 1 B of 4 B (25%): disk full")


def test_zero_total_counts_as_complete():
    assert TextProgress("empty").fraction == 1.0

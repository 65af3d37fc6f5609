"""The text model of a view: lines, carriage returns, caps, ANSI."""

from __future__ import annotations

from flow_notebook.core.provider_interfaces import LogChunk
from flow_notebook.notebook.transcript import Transcript, strip_ansi


def _out(text: str) -> LogChunk:
    return LogChunk("stdout", text)


def test_lines_split_across_chunks_are_joined():
    transcript = Transcript()
    transcript.add([_out("hel"), _out("lo\nwor"), _out("ld\n")])
    assert transcript.lines() == [("stdout", "hello"), ("stdout", "world")]
    assert transcript.open_lines() == []


def test_carriage_return_rewrites_the_line_in_place():
    transcript = Transcript()
    transcript.add([_out("\r 10%|#   |"), _out("\r 20%|##  |")])
    assert transcript.open_lines() == [("stdout", " 20%|##  |")]
    transcript.add([_out("\r100%|####|\n")])
    assert transcript.lines() == [("stdout", "100%|####|")]


def test_crlf_ends_a_line_once():
    transcript = Transcript()
    transcript.add([_out("a\r\nb\r\n")])
    assert transcript.texts() == ["a", "b"]


def test_stdout_and_stderr_keep_their_own_unfinished_line():
    transcript = Transcript()
    transcript.add([_out("out-"), LogChunk("stderr", "err\n"), _out("done\n")])
    assert transcript.lines() == [("stderr", "err"), ("stdout", "out-done")]


def test_old_pages_are_dropped_and_counted_within_the_byte_cap():
    transcript = Transcript(keep_bytes=4096, keep_lines=100_000)
    transcript.add([_out("".join(f"{i:05d} {'x' * 93}\n" for i in range(1000)))])
    kept = transcript.texts()
    assert transcript.dropped + len(kept) == 1000
    assert sum(len(line) + 1 for line in kept) <= 4096
    assert kept[-1].startswith("00999")
    assert kept[0] == f"{transcript.dropped:05d} " + "x" * 93


def test_the_line_cap_applies_too():
    transcript = Transcript(keep_bytes=1 << 20, keep_lines=100)
    transcript.add([_out("x\n" * 1000)])
    assert len(transcript.lines()) <= 100
    assert transcript.dropped + len(transcript.lines()) == 1000


def test_one_giant_line_is_cut_with_a_note():
    transcript = Transcript(keep_bytes=2048)
    for _ in range(100):
        transcript.add([_out("y" * 1000)])
    transcript.add([_out("\n")])
    (line,) = transcript.texts()
    assert line.startswith("y" * 2048)
    assert line.endswith(f"... [{100_000 - 2048} more characters not shown]")


def test_finish_completes_the_unfinished_lines():
    transcript = Transcript()
    transcript.add([_out("partial")])
    transcript.finish()
    assert transcript.lines() == [("stdout", "partial")]


def test_strip_ansi_removes_colours_and_cursor_codes():
    assert strip_ansi("\x1b[32mgreen\x1b[0m \x1b[2K\x1b[1Gdone") == "green done"

"""ANSI colours in the static form of a view: styled spans, other escapes dropped."""

from __future__ import annotations

from flow_notebook.notebook.ansi_html import ansi_to_html


def test_green_text_becomes_a_green_span_and_reset_ends_it():
    assert ansi_to_html("\x1b[32mok\x1b[0m rest") == '<span style="color:#00a250">ok</span> rest'


def test_bold_bright_and_background_combine():
    html = ansi_to_html("\x1b[1;91;44mwarn\x1b[22m still red")
    assert html.startswith('<span style="font-weight:bold;color:#b22b31;background-color:#208ffb">')
    assert html.endswith('<span style="color:#b22b31;background-color:#208ffb"> still red</span>')


def test_256_and_24_bit_colours():
    assert 'color:#ff0000"' in ansi_to_html("\x1b[38;2;255;0;0mx")
    assert 'color:#87ff00"' in ansi_to_html("\x1b[38;5;118mx")


def test_text_is_escaped_and_cursor_moves_dropped():
    assert ansi_to_html("<b>\x1b[2K\x1b[1Ga&b") == "&lt;b&gt;a&amp;b"

"""ANSI colours to HTML spans, for the static form of a view (saved notebooks, no kernel).

Handles the SGR codes programs print for colour: reset, bold, italic, underline,
the 8 colours and their bright forms (foreground and background), 256-colour and
24-bit colours. Every other escape sequence is dropped. Colours are JupyterLab's
ANSI palette, readable on light and dark themes.
"""

from __future__ import annotations

import html
import re

from flow_notebook.notebook.transcript import strip_ansi

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_PALETTE = (
    "#3e424d", "#e75c58", "#00a250", "#ddb62b", "#208ffb", "#d160c4", "#60c6c8", "#c5c1b4",
    "#282c36", "#b22b31", "#007427", "#b27d12", "#0065ca", "#a03196", "#258f8f", "#a1a6b2",
)  # fmt: skip
_FLAGS = {1: "font-weight:bold", 3: "font-style:italic", 4: "text-decoration:underline"}
_UNSET = {22: 1, 23: 3, 24: 4}


def ansi_to_html(text: str) -> str:
    """Returns ``text`` HTML-escaped, its SGR colours as styled spans, other escapes gone."""
    state = _State()
    out: list[str] = []
    position = 0
    for match in _SGR.finditer(text):
        out.append(state.wrap(strip_ansi(text[position : match.start()])))
        state.apply([int(code) if code else 0 for code in match.group(1).split(";")])
        position = match.end()
    out.append(state.wrap(strip_ansi(text[position:])))
    return "".join(out)


class _State:
    """The current colours and flags while reading SGR codes."""

    def __init__(self) -> None:
        self.fg: str | None = None
        self.bg: str | None = None
        self.flags: set[int] = set()

    def wrap(self, text: str) -> str:
        escaped = html.escape(text)
        styles = [_FLAGS[flag] for flag in sorted(self.flags)]
        styles += [f"color:{self.fg}"] if self.fg else []
        styles += [f"background-color:{self.bg}"] if self.bg else []
        if not escaped or not styles:
            return escaped
        return f'<span style="{";".join(styles)}">{escaped}</span>'

    def apply(self, codes: list[int]) -> None:
        index = 0
        while index < len(codes):
            code = codes[index]
            if code in (38, 48) and index + 1 < len(codes):
                colour, used = _extended(codes[index + 1 :])
                if code == 38:
                    self.fg = colour
                else:
                    self.bg = colour
                index += 1 + used
                continue
            self._apply_one(code)
            index += 1

    def _apply_one(self, code: int) -> None:
        if code == 0:
            self.fg = self.bg = None
            self.flags.clear()
        elif code in _FLAGS:
            self.flags.add(code)
        elif code in _UNSET:
            self.flags.discard(_UNSET[code])
        elif 30 <= code <= 37 or 90 <= code <= 97:
            self.fg = _PALETTE[code - 30 if code < 90 else code - 82]
        elif 40 <= code <= 47 or 100 <= code <= 107:
            self.bg = _PALETTE[code - 40 if code < 100 else code - 92]
        elif code == 39:
            self.fg = None
        elif code == 49:
            self.bg = None


def _extended(codes: list[int]) -> tuple[str | None, int]:
    """Reads ``5;N`` (256 colours) or ``2;R;G;B``; returns the colour and codes used."""
    if codes[0] == 5 and len(codes) > 1:
        return _colour_256(codes[1]), 2
    if codes[0] == 2 and len(codes) > 3:
        red, green, blue = (max(0, min(255, c)) for c in codes[1:4])
        return f"#{red:02x}{green:02x}{blue:02x}", 4
    return None, 1


def _colour_256(number: int) -> str | None:
    if 0 <= number < 16:
        return _PALETTE[number]
    if 16 <= number < 232:
        number -= 16
        levels = [0 if n == 0 else 55 + 40 * n for n in (number // 36, number // 6 % 6, number % 6)]
        return "#" + "".join(f"{level:02x}" for level in levels)
    if 232 <= number < 256:
        grey = 8 + 10 * (number - 232)
        return f"#{grey:02x}{grey:02x}{grey:02x}"
    return None

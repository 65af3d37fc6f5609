r"""A task's output as a view keeps it: bounded pages of lines, and the line being written.

``Transcript`` turns raw log chunks into lines the way a terminal would: ``\\n`` ends
a line, ``\\r`` moves back to its start so the next text overwrites it (progress
bars), stdout and stderr each have their own unfinished line. It keeps at most
``keep_bytes`` and ``keep_lines`` of complete lines, in pages, dropping whole pages
from the front and counting what it dropped; a single line longer than the cap is
cut, with the number of characters not kept. Every chunk costs time linear in its
length, however long the line it continues.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from flow_notebook.core.provider_interfaces import LogChunk

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_BREAKS = re.compile(r"(\r\n|\r|\n)")
DEFAULT_KEEP_BYTES = 64 * 1024
DEFAULT_KEEP_LINES = 5000
PAGES = 8
"""Pages the kept lines are split into: dropping old output drops one page at a time."""


def strip_ansi(text: str) -> str:
    """Returns ``text`` without ANSI escape sequences (colours, cursor moves)."""
    return _ANSI.sub("", text)


@dataclass
class Page:
    """Consecutive complete lines; only the last page of a transcript still grows.

    Attributes:
        number: Position of the page in the transcript (0 for the first ever made).
        lines: ``(log_type, text)`` pairs.
        size: Characters held, counting one newline per line.
    """

    number: int
    lines: list[tuple[str, str]] = field(default_factory=list)
    size: int = 0


class _OpenLine:
    r"""The unfinished line of one log: appended to in parts, overwritten after ``\\r``."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._length = 0
        self._cursor: int | None = None  # None: at the end of the line.
        self.cut = 0

    @property
    def empty(self) -> bool:
        return not self._length and not self.cut

    def text(self) -> str:
        line = "".join(self._parts)
        self._parts = [line] if line else []
        return line

    def write(self, text: str) -> None:
        if self._cursor is not None:
            line = self.text()
            end = self._cursor + len(text)
            line = line[: self._cursor] + text + line[end:]
            self._cursor = end if end < len(line) else None
            self._parts, self._length = [line], len(line)
            text = ""
            if self._length > self._limit:
                self.cut += self._length - self._limit
                self._parts, self._length = [line[: self._limit]], self._limit
            return
        room = self._limit - self._length
        if len(text) > room:
            self.cut += len(text) - max(0, room)
            text = text[: max(0, room)]
        if text:
            self._parts.append(text)
            self._length += len(text)

    def return_to_start(self) -> None:
        self._cursor = 0 if self._length else None

    def finish(self) -> str:
        line = self.text()
        if self.cut:
            line += f" ... [{self.cut} more characters not shown]"
        self._parts, self._length, self._cursor, self.cut = [], 0, None, 0
        return line


class Transcript:
    """Complete lines in pages (capped) plus each log's unfinished line.

    Args:
        keep_bytes: Characters of complete lines kept (older pages are dropped).
        keep_lines: Complete lines kept.
        page_lines: Lines that close a page (default: an eighth of ``keep_lines``).
        page_bytes: Characters that close a page (default: an eighth of ``keep_bytes``).
    """

    def __init__(
        self,
        keep_bytes: int = DEFAULT_KEEP_BYTES,
        keep_lines: int = DEFAULT_KEEP_LINES,
        *,
        page_lines: int | None = None,
        page_bytes: int | None = None,
    ) -> None:
        self.keep_bytes = max(256, keep_bytes)
        self.keep_lines = max(10, keep_lines)
        self._page_bytes = page_bytes or max(256, self.keep_bytes // PAGES)
        self._page_lines = page_lines or max(2, self.keep_lines // PAGES)
        self._numbers = itertools.count()
        self.pages: deque[Page] = deque([Page(next(self._numbers))])
        self._open: dict[str, _OpenLine] = {}
        self._size = 0
        self._count = 0
        self.dropped = 0
        self.total = 0

    def add(self, chunks: Iterable[LogChunk]) -> None:
        """Adds output chunks in order."""
        for chunk in chunks:
            self._add(chunk.log_type, chunk.text)
        self._trim()

    def open_lines(self) -> list[tuple[str, str]]:
        """Returns the unfinished line of each log that has one, as ``(log_type, text)``."""
        return [(kind, line.text()) for kind, line in self._open.items() if not line.empty]

    def finish(self) -> None:
        """Ends the unfinished lines (the stream ended), so they count as complete."""
        for kind, line in self._open.items():
            if not line.empty:
                self._complete(kind, line.finish())
        self._trim()

    def lines(self) -> list[tuple[str, str]]:
        """Returns every kept complete line, oldest first."""
        return [line for page in self.pages for line in page.lines]

    def texts(self) -> list[str]:
        """Returns the kept complete lines' texts, then the unfinished ones."""
        return [text for _, text in [*self.lines(), *self.open_lines()]]

    def _add(self, kind: str, text: str) -> None:
        line = self._open.get(kind)
        if line is None:
            line = self._open[kind] = _OpenLine(self.keep_bytes)
        for piece in _BREAKS.split(text):
            if piece == "\r":
                line.return_to_start()
            elif piece in ("\n", "\r\n"):
                self._complete(kind, line.finish())
            elif piece:
                line.write(piece)

    def _complete(self, kind: str, text: str) -> None:
        page = self.pages[-1]
        if page.lines and (page.size >= self._page_bytes or len(page.lines) >= self._page_lines):
            page = Page(next(self._numbers))
            self.pages.append(page)
        page.lines.append((kind, text))
        page.size += len(text) + 1
        self._size += len(text) + 1
        self._count += 1
        self.total += 1

    def _trim(self) -> None:
        while len(self.pages) > 1 and (
            self._size > self.keep_bytes or self._count > self.keep_lines
        ):
            page = self.pages.popleft()
            self._size -= page.size
            self._count -= len(page.lines)
            self.dropped += len(page.lines)
        if len(self.pages) == 1 and self._size > self.keep_bytes:
            page = self.pages[0]
            while len(page.lines) > 1 and self._size > self.keep_bytes:
                _, text = page.lines.pop(0)
                page.size -= len(text) + 1
                self._size -= len(text) + 1
                self._count -= 1
                self.dropped += 1

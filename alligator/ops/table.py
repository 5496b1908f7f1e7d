"""Aligned columns for a terminal, in colour only where colour is wanted.

Every cell goes through ``printable``: a task id, a callable or an error
comes from a message, and a CR or an ESC in it must not rewrite the
operator's screen. Widths count what a terminal shows (a wide CJK
character takes two columns, a combining mark none), so columns stay
aligned whatever the messages hold.

Example:
    >>> print(render(["NAME", "COUNT"], [["emails", Cell("3", RED)]], right={1}))
    NAME    COUNT
    emails      3
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TextIO

from .._text import printable

#: ANSI SGR codes; "" is plain.
BOLD = "1"
DIM = "2"
RED = "31"
YELLOW = "33"
GREEN = "32"
#: Space between columns.
GAP = "  "


@dataclass(frozen=True)
class Cell:
    """A cell's text and its colour (an SGR code, "" for none)."""

    text: str
    style: str = ""


def wants_colour(stream: TextIO) -> bool:
    """Colour on a terminal only, and never where ``NO_COLOR`` is set
    (https://no-color.org) or the terminal is ``dumb``."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None or not isatty():
        return False
    return "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal."""
    columns = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        columns += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return columns


def render(
    header: Sequence[str],
    rows: Sequence[Sequence[str | Cell]],
    *,
    colour: bool = False,
    right: Collection[int] = (),
) -> str:
    """The rows under the header, columns aligned, the last one unpadded.

    Args:
        header: column titles (bold in colour).
        rows: cells, each a string or a ``Cell`` with a colour.
        colour: use the cells' colours (``wants_colour(stream)``).
        right: indexes of the columns to align right (numbers).
    """
    table = [[Cell(title, BOLD) for title in header]]
    table += [[_cell(cell) for cell in row] for row in rows]
    widths = [max(width(row[i].text) for row in table) for i in range(len(header))]
    lines = []
    for row in table:
        parts = []
        for i, cell in enumerate(row):
            last = i == len(row) - 1
            pad = " " * (widths[i] - width(cell.text))
            text = cell.text
            if cell.style and colour:
                text = f"\x1b[{cell.style}m{text}\x1b[0m"
            if i in right:
                parts.append(pad + text)
            else:
                parts.append(text if last else text + pad)
        lines.append(GAP.join(parts).rstrip())
    return "\n".join(lines)


def _cell(value: str | Cell) -> Cell:
    if isinstance(value, Cell):
        return Cell(printable(value.text), value.style)
    return Cell(printable(value))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` columns, with an ellipsis when cut."""
    if width(text) <= limit:
        return text
    kept, used = [], 0
    for char in text:
        used += width(char)
        if used > limit - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"

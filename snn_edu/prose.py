"""Printed sentences that wrap between words: JupyterLab breaks a long output line anywhere,
even mid-word ("t/he"), so the notebooks print their longer sentences through `say`."""
from __future__ import annotations

import textwrap

WIDTH = 100  # characters: fits a notebook's output area at 1,280 px with the file browser open


def wrap(text: str, bullet: str = "", width: int = WIDTH) -> str:
    """`text` wrapped to `width` between words, each of its own lines on its own; a bullet hangs."""
    lines = str(text).splitlines() or [""]
    first, rest = bullet, " " * len(bullet)
    return "\n".join(textwrap.fill(line, width, initial_indent=first if i == 0 else rest, subsequent_indent=rest,
                                   break_long_words=False, break_on_hyphens=False) or first.rstrip()
                     for i, line in enumerate(lines))


def say(*parts, bullet: str = "", width: int = WIDTH) -> None:
    """print(*parts), wrapped between words (see `wrap`)."""
    print(wrap(" ".join(str(p) for p in parts), bullet, width))

"""About the maths: the project's theory notes (docs/theory.md), rendered.

The page shows docs/theory.md up to its "For developers" section: ``## `` headings become headers,
``### `` headings subheaders (the theorems' sections are expanders), display maths between lines
holding only ``$$`` is drawn with ``st.latex``, everything else with ``st.markdown`` (whose KaTeX
renders the inline ``$…$`` maths). The file is read relative to the repository, like pages/ itself.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from ui.session import leave_legacy_pages_mode
from ui.text import escaped

log = logging.getLogger("adx.about")
leave_legacy_pages_mode()  # a first request on /explorer must still go through app.py

THEORY = Path(__file__).resolve().parents[1] / "docs" / "theory.md"
TITLE = "About the maths"
LAST_SECTION = "For developers"  # this section and what follows are for the repository's readers
FOLDED_SECTION = "The theorems the app checks"  # its subsections are drawn as expanders


@dataclass(frozen=True)
class Block:
    """One piece of the notes: kind "h1", "h2", "h3", "markdown" or "latex", and its text."""

    kind: str
    text: str


def parse(text: str) -> list[Block]:
    """The notes as blocks, stopping at the "For developers" section."""
    blocks: list[Block] = []
    prose: list[str] = []
    maths: list[str] | None = None

    def flush() -> None:
        body = "\n".join(prose).strip()
        if body:
            blocks.append(Block("markdown", body))
        prose.clear()

    for line in text.splitlines():
        if maths is not None:
            if line.strip() == "$$":
                blocks.append(Block("latex", "\n".join(maths).strip()))
                maths = None
            else:
                maths.append(line)
            continue
        heading = re.match(r"^(#{1,3}) (.*)$", line)
        if line.strip() == "$$":
            flush()
            maths = []
        elif heading:
            flush()
            if heading.group(2).strip() == LAST_SECTION:
                break
            blocks.append(Block(f"h{len(heading.group(1))}", heading.group(2).strip()))
        else:
            prose.append(line)
    flush()
    return blocks


def draw_block(block: Block) -> None:
    if block.kind == "h2":
        st.header(block.text, divider="gray")
    elif block.kind == "h3":
        st.subheader(block.text)
    elif block.kind == "latex":
        st.latex(block.text)
    else:
        st.markdown(block.text)


def render(blocks: list[Block]) -> None:
    """Draw the blocks; the subsections of the theorems' section go into (closed) expanders."""
    section = ""
    box = None
    for block in blocks:
        if block.kind == "h1":
            continue  # the page has its own title
        if block.kind == "h2":
            section, box = block.text, None
        if block.kind == "h3" and section == FOLDED_SECTION:
            box = st.expander(block.text, expanded=False)
            continue
        if box is not None and block.kind != "h2":
            with box:
                draw_block(block)
        else:
            draw_block(block)


def main() -> None:
    st.title(TITLE)
    try:
        text = THEORY.read_text(encoding="utf-8")
    except OSError as exc:
        st.error(
            f"The theory notes (docs/theory.md) are not part of this installation ({exc.strerror}). "
            "Run the app from a checkout of the repository.",
            icon=":material/menu_book:",
        )
        return
    render(parse(text))


try:
    main()
except Exception as exc:  # never a traceback on the page
    log.exception("about page failed")
    st.error(f"This page could not be drawn ({type(exc).__name__}: {escaped(exc)}).")

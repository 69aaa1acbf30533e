"""What a reader sees of a Streamlit markdown string: CommonMark-rendered text, tags dropped.

Messages that quote user values escape them (ui/text.py), so their markdown source is full of
backslashes and invisible word joiners; tests compare what is read, not the source.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark")


def as_read(markdown: str) -> str:
    """The text of ``markdown`` as rendered: no tags, entities decoded, no word joiners."""
    rendered = re.sub(r"<[^>]+>", "", _MD.render(markdown))
    return html.unescape(rendered).replace("\u2060", "").strip()

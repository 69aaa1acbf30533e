"""Showing text that came from a user (a link, an upload, a text box) as literal text, never markup.

Streamlit renders Markdown in messages, captions, titles and labels: an image ``![](http://…)`` in a
value echoed back would make the browser fetch it, a ``[link](javascript:…)`` would be shown in the
app's own voice. Plotly renders a small HTML subset (``<a href>``, ``<b>``) in titles and hover text.
Every value from outside goes through one of these before it is displayed:

* :func:`literal` — a Markdown code span (rendered verbatim: no links, images, HTML, LaTeX,
  ``:colour[…]`` directives or emoji shortcodes), cut to a readable length;
* :func:`escaped` — prose that may contain such values (an error message): every Markdown
  punctuation character backslash-escaped, so it reads as written and renders as plain text;
* :func:`plotly_text` — for plotly strings: HTML-escaped and cut;
* :func:`clip` — the cut alone, for contexts that are already literal (``st.code``, ``st.text``,
  file names, JSON).
"""

from __future__ import annotations

import html
import re
from typing import Any

ECHO_CHARS = 80
"""How many characters of a user's value are echoed back in a message."""

_BACKTICKS = re.compile(r"`+")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def clip(value: Any, limit: int = ECHO_CHARS) -> str:
    """``str(value)`` on one line, control characters removed, cut to ``limit`` characters
    with a note of how long it was."""
    text = _CONTROL.sub("", str(value).replace("\r", " ").replace("\n", " ").replace("\t", " "))
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def literal(value: Any, limit: int = ECHO_CHARS) -> str:
    """A Markdown code span showing ``value`` verbatim (after :func:`clip`).

    The fence is one backtick longer than the longest run of backticks inside, and padded with a
    space when the text starts or ends with a backtick, or with a space on both sides (CommonMark
    §6.1 strips one such pair), so nothing can close the span early and the text shows unchanged.
    """
    text = clip(value, limit)
    if not text:
        return "*(empty)*"
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    edge_tick = text.startswith("`") or text.endswith("`")
    both_spaces = text.startswith(" ") and text.endswith(" ") and bool(text.strip())
    pad = " " if edge_tick or both_spaces else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_WORD_JOINER = "\u2060"
_AUTOLINK_PARTS = re.compile(r"(?i):/|www\.|@.")
_MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>$:~&=\"'^%@/;?,])")


def escaped(value: Any, limit: int = 400) -> str:
    """``value`` as Markdown that renders as exactly its text: every ASCII punctuation character
    that Markdown, Streamlit's directives (``:red[…]``, ``:material/…:``, emoji shortcodes) or its
    LaTeX (``$…$``) could read is backslash-escaped (CommonMark §2.4), and line breaks become
    spaces, so no link, image, HTML, heading, list, maths or colour can be made from it.

    Escapes cannot stop GitHub's autolink literals (``http://…``, ``www.…``, ``a@b.c``), which
    Streamlit's renderer finds in the text after the escapes are resolved: an invisible WORD JOINER
    (U+2060) inside ``://``, after ``www`` and after ``@`` breaks those patterns."""
    text = _AUTOLINK_PARTS.sub(lambda m: m.group(0)[:-1] + _WORD_JOINER + m.group(0)[-1], clip(value, limit))
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def plotly_text(value: Any, limit: int = ECHO_CHARS) -> str:
    """``value`` for a plotly title, label or hover text: cut, with ``<``, ``>``, ``&`` and
    quotes escaped so plotly's HTML subset (links, tags) cannot be injected."""
    return html.escape(clip(value, limit), quote=True)

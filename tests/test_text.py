"""User-supplied text is shown verbatim: a CommonMark parser sees one code span with the text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ui.text import ECHO_CHARS, clip, literal, plotly_text

MD = MarkdownIt("commonmark")
ATTACKS = [
    "![x](http://127.0.0.1:8999/qk.png)[clickme](javascript:alert(4))",
    "a`b``c ![y](http://127.0.0.1:8999/y.png)",
    "`![w](http://127.0.0.1:8999/w.png)`",
    "<img src=http://127.0.0.1:8999/z.png onerror=alert(1)>",
    ":red[RED] $x^2$ **bold** :material/home:",
    " spaced ",
]


def _inline(markdown: str) -> list[tuple[str, str]]:
    return [(t.type, t.content) for t in MD.parseInline(markdown)[0].children]


def test_every_attack_is_one_code_span_with_the_text():
    for attack in ATTACKS:
        assert _inline(literal(attack)) == [("code_inline", attack)], attack


@given(st.text(min_size=1, max_size=200).filter(lambda s: clip(s, 500).strip()))
def test_any_text_is_one_code_span(text):
    shown = clip(text, 500)
    tokens = _inline(f"value {literal(text, 500)} refused")
    assert tokens[1] == ("code_inline", shown)
    assert [t for t, _ in tokens] == ["text", "code_inline", "text"]


def test_long_values_are_cut_and_say_how_long_they_were():
    shown = clip("9" * 100_000)
    assert len(shown) < ECHO_CHARS + 30
    assert shown.endswith("(100,000 characters)")
    assert "\n" not in clip("a\nb\rc\u2028d")


def test_empty_value_is_named():
    assert literal("") == "*(empty)*"


def test_plotly_text_escapes_its_html_subset():
    assert plotly_text('<a href="javascript:alert(1)">x</a>') == (
        "&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;"
    )

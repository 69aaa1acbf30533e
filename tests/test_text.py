"""User-supplied text is shown verbatim: a CommonMark parser sees one code span with the text."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from ui.text import ECHO_CHARS, clip, escaped, literal, plotly_text

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


@given(st.text(min_size=1, max_size=300))
def test_escaped_prose_is_plain_text_that_reads_as_written(text):
    """Only text tokens (no link, image, HTML, emphasis, code) and, once the invisible word
    joiners are dropped, exactly the clipped text."""
    tokens = MD.parseInline(escaped(text, 1000))[0].children
    assert {t.type for t in tokens} <= {"text"}, [t.type for t in tokens]
    assert "".join(t.content for t in tokens).replace("\u2060", "") == clip(text, 1000)


def test_escaped_breaks_autolink_literals_and_streamlit_directives():
    for attack in [*ATTACKS, "see www.example.com or mail a@b.co", "HTTPS://x.y"]:
        shown = escaped(attack)
        assert "://" not in shown.replace("\\", "") and "www." not in shown.lower().replace("\\", "")
        assert "@" not in shown or "@\u2060" in shown
        for dangerous in ("$", ":", "[", "]", "(", ")", "<", ">", "`", "*", "_", "~"):
            assert all(shown[i - 1] == "\\" for i, c in enumerate(shown) if c == dangerous), dangerous

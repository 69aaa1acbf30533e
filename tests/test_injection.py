"""Nothing from a link is rendered as markup, and nothing from a link is echoed whole (issue 13 §1, §2).

A table of hostile values × every URL parameter a page reads × every page (AppTest, no browser):
no exception; in every Markdown-bearing element (errors, warnings, infos, successes, captions,
markdown, titles, headers, toasts, expander labels) parsed as CommonMark, no image, no link to the
payload's hosts and no raw HTML from the payload, and outside code spans no Streamlit directive,
maths or autolink literal from it; no element echoes more than a few hundred characters of it.
The real-browser counterpart (requests, DOM, dialogs) is tests/e2e/test_injection_browser.py.

The parameter lists are derived from the code: the explorer's :data:`ui.controls.URL_PARAMS` and
:data:`ui.controls.SCENARIO_WIDGETS`, the Theorem lab's Scenario fields and its theorem key, the
presenter's deck and slide constants; :func:`test_every_parameter_a_page_reads_is_in_the_table`
fails when a page starts reading a parameter the table does not cover.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from dynamics import Scenario
from ui import controls
from ui import lesson as lesson_link

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGES = ROOT / "pages"
TIMEOUT = 120

IMAGE_LINK = "![x](http://127.0.0.1:8999/qk.png)[clickme](javascript:alert(4))"
PAYLOADS = {
    "image-link": IMAGE_LINK,
    "img-onerror": "<img src=http://127.0.0.1:8999/i.png onerror=alert(1)>",
    "directives": ":red[RED] $x^2$ :material/home:",
    "link": "[a](https://evil.example)",
    "autolink": "www.evil.example",
    "backticks": "a`b``c ![y](http://127.0.0.1:8999/y.png)",
    "huge": "1" * 100_000,
}
#: Parameters that get the 100,000-character payload together (Streamlit ignores a whole query
#: string over 524,288 characters, so not all of them at once).
HUGE_PARAMS = ("beta", "hide", "lesson", "tokens")
#: The most hostile payload, put in one link per parameter.
WORST = IMAGE_LINK + " <img src=http://127.0.0.1:8999/w.png onerror=alert(2)> :red[RED] www.evil.example"
#: Outside a code span, none of these may appear in an element's Markdown source unescaped.
UNESCAPED = re.compile(
    r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\(|(?<!\\)<img|(?<!\\):red|(?<!\\)\$x|(?<!\\):material/home"
    r"|://|www\.evil|evil\.example(?!\u2060)"
)
ECHO_LIMIT = 400  # characters of one payload an element may repeat
MD = MarkdownIt("commonmark")


# ------------------------------------------------------------------------------------ parameters
def _constants(path: Path) -> dict[str, str]:
    """Module-level ``NAME = "text"`` (and ``A, B = "a", "b"``) assignments of a source file."""
    out: dict[str, str] = {}
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant):
                out[target.id] = node.value.value
            elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                for name, value in zip(target.elts, node.value.elts, strict=False):
                    if isinstance(name, ast.Name) and isinstance(value, ast.Constant):
                        out[name.id] = value.value
    return {k: v for k, v in out.items() if isinstance(v, str)}


_READ = re.compile(r"query_params(?:\.get(?:_all)?\(|\[)\s*([A-Za-z_][\w.]*|\"[^\"]+\")")
_MODULES = {"lesson_link": ROOT / "ui" / "lesson.py", "token_link": ROOT / "ui" / "token_link.py"}


def params_read_by(path: Path) -> set[str]:
    """The parameter names a source file reads with ``st.query_params.get(X)`` / ``[X]``."""
    own = _constants(path)
    names = set()
    for ref in _READ.findall(path.read_text()):
        if ref.startswith('"'):
            names.add(ref.strip('"'))
        elif "." in ref:
            module, name = ref.split(".", 1)
            if module in _MODULES:
                names.add(_constants(_MODULES[module])[name])
        elif ref in own:
            names.add(own[ref])
    return names


LINK_PARAMS = sorted(controls.URL_PARAMS)  # read on every page by app.py / ui.lesson, and the explorer
EXPLORER_PARAMS = sorted(set(controls.URL_PARAMS) | controls.SCENARIO_WIDGETS)
LAB_PARAMS = sorted(
    {f.name for f in dataclasses.fields(Scenario)}
    | params_read_by(PAGES / "theorem_lab.py")
    | set(LINK_PARAMS)
)
PRESENTER_PARAMS = sorted(params_read_by(PAGES / "presenter.py") | set(LINK_PARAMS))


def test_every_parameter_a_page_reads_is_in_the_table() -> None:
    covered = set(EXPLORER_PARAMS) | set(LAB_PARAMS) | set(PRESENTER_PARAMS)
    read = set()
    for path in [*PAGES.glob("*.py"), *(ROOT / "ui").glob("*.py")]:
        read |= params_read_by(path)
    assert read, "the scan found no parameter reads: update _READ"
    assert read <= covered, sorted(read - covered)
    assert {"theorem", "slides", "slide", "beta", "qk", "hide", "tokens"} <= covered


# ------------------------------------------------------------------------------------ checks
def _texts(at: AppTest) -> list[str]:
    """The Markdown source of every element that Streamlit renders as Markdown."""
    out: list[str] = []
    for kind in ("error", "warning", "info", "success", "caption", "markdown", "title", "header",
                 "subheader", "toast", "latex"):  # fmt: skip
        out += [str(e.value) for e in at.get(kind)]
    out += [str(e.label) for e in at.get("expander")]
    return out


def _outside_code(markdown: str) -> str:
    """``markdown`` with the contents of its code spans blanked out."""
    text = markdown
    for block in MD.parse(markdown):
        for token in block.children or ():
            if token.type == "code_inline" and token.content:
                text = text.replace(token.content, " ", 1)
    return text


def assert_inert(at: AppTest, payload: str, where: str) -> None:
    assert not at.exception, (where, [e.value for e in at.exception])
    for source in _texts(at):
        tokens = [t for block in MD.parse(source) for t in [block, *(block.children or ())]]
        for token in tokens:
            href = str(token.attrGet("href") or token.attrGet("src") or "")
            assert token.type != "image", (where, source[:300])
            assert not re.search(r"8999|evil\.example|javascript:", href, re.I), (where, source[:300])
            if token.type in ("html_inline", "html_block"):
                assert not re.search(r"8999|onerror|<img", token.content, re.I), (where, source[:300])
        if any(part in source for part in ("8999", "evil", "RED", "x^2", "home:")):
            bad = UNESCAPED.search(_outside_code(source))
            assert bad is None, (where, bad and bad.group(0), source[:400])
        longest = max((len(run) for run in re.findall(r"1{50,}", source)), default=0)
        assert longest <= ECHO_LIMIT, (where, longest)
        if payload in source:
            assert len(payload) <= ECHO_LIMIT, where


def _run(page: str, query: dict[str, str], state: dict[str, Any] | None = None) -> AppTest:
    at = AppTest.from_file(page, default_timeout=TIMEOUT)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    return at


# ------------------------------------------------------------------------------------ explorer
@pytest.mark.parametrize("name", list(PAYLOADS))
def test_the_explorer_shows_every_link_value_as_text(name: str) -> None:
    payload = PAYLOADS[name]
    at = _run(APP, dict.fromkeys(HUGE_PARAMS if name == "huge" else EXPLORER_PARAMS, payload))
    assert_inert(at, payload, f"explorer, every parameter = {name}")
    message = " ".join(e.value for e in at.error if "This link had values" in e.value)
    assert message, [e.value for e in at.error]
    assert at.get("plotly_chart"), "the lesson's view is kept"
    if name == "huge":  # dropped before parsing, with its length and the cap
        for param in HUGE_PARAMS:
            assert f"`{param}`: 100,000 characters" in message, message
        assert "(2,000) — ignored" in message


def test_the_explorer_names_each_hostile_parameter_in_a_code_span() -> None:
    """One link per parameter (the conditional widgets — qk_eigs needs qk=spd, v_eigs d > 4 or the
    link form, v_eig4 d = 4, pole/margin/cap_angle an init — are read in their context)."""
    context = {"qk_eigs": {"qk": "spd"}, "qk_omega": {"qk_amp": "1"}, "pole": {"init": "cap"},
               "cap_angle": {"init": "cap"}, "margin": {"init": "hemisphere"},
               "v_eig4": {"d": "4"}}  # fmt: skip
    for param in EXPLORER_PARAMS:
        if param in ("embed", "autoplay"):  # flags: anything but true is false, never echoed
            continue
        at = _run(APP, {**context.get(param, {}), param: WORST})
        assert_inert(at, WORST, f"explorer {param}=WORST")
        messages = [e.value for e in [*at.error, *at.warning]]
        shown = [
            t.content
            for v in messages
            for b in MD.parse(v)
            for t in b.children or ()
            if t.type == "code_inline"
        ]
        # named in a code span (the text fields name the first unusable part of their text);
        # the player's camera and the heatmap's head fall back silently
        assert any("![x](" in s for s in shown) or param in ("cam", "head"), (param, messages)


# ------------------------------------------------------------------------------------ other pages
def test_the_theorem_lab_shows_link_values_as_text() -> None:
    page = str(PAGES / "theorem_lab.py")
    for name, payload in PAYLOADS.items():
        at = _run(page, dict.fromkeys(HUGE_PARAMS if name == "huge" else LAB_PARAMS, payload))
        assert_inert(at, payload, f"theorem lab, every parameter = {name}")
    for param in LAB_PARAMS:
        at = _run(page, {param: WORST})
        assert_inert(at, WORST, f"theorem lab {param}=WORST")
    huge = _run(page, {"beta": PAYLOADS["huge"], "theorem": PAYLOADS["huge"]})
    warned = " ".join(w.value for w in huge.warning)
    assert "`beta`: 100,000 characters" in warned and "`theorem`: 100,000 characters" in warned


def test_the_presenter_shows_link_values_as_text() -> None:
    page = str(PAGES / "presenter.py")
    for name, payload in PAYLOADS.items():
        at = _run(page, dict.fromkeys(HUGE_PARAMS if name == "huge" else PRESENTER_PARAMS, payload))
        assert_inert(at, payload, f"presenter, every parameter = {name}")
        assert at.get("title"), "a slide is shown"
    deck = _run(page, {"slides": f"consensus,{WORST}"})
    assert_inert(deck, WORST, "presenter slides")
    assert any("Unknown lessons" in w.value and "`" in w.value for w in deck.warning)


#: Pages that read no parameter of their own: a link full of payloads must leave them inert.
#: Session values keep their runs small (as their own tests do).
QUIET_PAGES = {
    "about.py": {},
    "compare.py": {"cmp_n": 8, "cmp_T": 2.0},
    "euclidean.py": {},
    "phase_diagram.py": {},
    "mean_field.py": {},
    "deep.py": {"deep_n": 48, "deep_d": 64, "deep_heads": 2, "deep_T": 6.0, "deep_frames": 13},
}


@pytest.mark.parametrize("page", list(QUIET_PAGES))
def test_pages_without_link_parameters_stay_inert(page: str) -> None:
    query = {**dict.fromkeys(LINK_PARAMS, WORST), "beta": PAYLOADS["huge"]}
    at = _run(str(PAGES / page), query, QUIET_PAGES[page])
    assert_inert(at, WORST, f"{page}, every link parameter hostile")


# ------------------------------------------------------------------------------------ caps
def test_the_cap_reads_lengths_only_and_names_length_and_limit() -> None:
    params = {"beta": "1" * 100_000, "v_eigs": "1," * 3_000, "x0": "[" * 10_000, "n": "12"}
    assert lesson_link.oversized(params) == {"beta": 100_000}  # spectra and matrices may be longer
    assert lesson_link.oversized({"v_eigs": "1," * 5_000}) == {"v_eigs": 10_000}
    message = lesson_link.too_long("beta", 100_000)
    assert message.startswith("`beta`: 100,000 characters") and "(2,000) — ignored" in message
    tokens_cap = 1 + 128 * 4  # ui.token_link: the codec's own cap lies under the general one
    assert tokens_cap < lesson_link.param_cap("tokens")

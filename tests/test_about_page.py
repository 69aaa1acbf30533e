"""The About page (pages/about.py) renders the project's theory notes, docs/theory.md.

Checked through AppTest, the page running on its own: every section of the notes (up to "For
developers") is on the page, every display formula is an ``st.latex`` element, every theorem has
its expander, and what a student reads has no raw TeX outside ``$…$``, no internal ids, no
"UNCONFIRMED" and no machine path. Plus the notes themselves: each registered theorem has its
section with an arXiv source.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dynamics.theorems import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "about.py")
NOTES = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
SHOWN = NOTES.split("\n## For developers", 1)[0]
INTERNAL_ID = re.compile(r"\b(ast|glpr|open)-[a-z0-9]+(-[a-z0-9]+)*")
INLINE_MATHS = re.compile(r"\$[^$]+\$")


@pytest.fixture(scope="module")
def about() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_every_section_of_the_notes_is_on_the_page(about: AppTest) -> None:
    assert about.title[0].value == "About the maths"
    assert not about.error
    headers = [h.value for h in about.header]
    sections = re.findall(r"^## (.*)$", SHOWN, flags=re.M)
    assert headers == sections
    assert "For developers" not in headers
    assert len(about.get("latex")) == SHOWN.count("\n$$\n") // 2
    theorems = re.search(r"^## The theorems the app checks$(.*?)^## ", SHOWN, flags=re.M | re.S)
    assert theorems is not None
    expected = re.findall(r"^### (.*)$", theorems.group(1), flags=re.M)
    assert [e.label for e in about.expander] == expected


def test_what_a_student_reads_is_clean(about: AppTest) -> None:
    shown = (
        [m.value for m in about.markdown]
        + [h.value for h in about.header]
        + [e.label for e in about.expander]
    )
    text = "\n".join(shown)
    assert "UNCONFIRMED" not in text
    assert not INTERNAL_ID.search(text), INTERNAL_ID.search(text)
    assert "/wor" + "k/" not in text
    for md in about.markdown:
        assert md.value.count("$") % 2 == 0, md.value[:200]  # every inline formula is closed
        prose = INLINE_MATHS.sub("", md.value)
        assert not re.search(r"\\[a-zA-Z]+|\^\{|_\{", prose), prose[:200]  # no TeX outside $…$
        assert "`" not in prose, prose[:200]  # maths is never shown as code
    for formula in about.get("latex"):  # st.latex shows its body between $$ … $$
        assert "$" not in formula.value.strip().removeprefix("$$").removesuffix("$$")


def test_the_notes_cover_every_registered_theorem_and_its_finding() -> None:
    headings = re.findall(r"^### (.*)$", NOTES, flags=re.M)
    for th in REGISTRY:
        assert f"`{th.id}`" in NOTES.split("\n## For developers", 1)[1], th.id  # the id table
        cite = th.cite.split(",")[-1].strip()  # "Thm 4.1", "Lemma 6.4", "§3", …
        assert any(cite in h for h in headings), (th.id, cite)
    assert "positive" in NOTES.split("### Abella et al., Thm D", 1)[1].split("###", 1)[0]
    for arxiv in ("2412.02682", "2312.10794", "2305.05465", "2501.18322"):
        assert f"arXiv:{arxiv}" in NOTES

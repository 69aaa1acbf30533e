"""Rebuild the page after the browser reconnects to a server process that has lost its session.

Behind the multi-replica proxy (deploy/), a replica that dies takes its sessions with it; the
browser's websocket reconnects through the proxy to another replica, which starts a fresh, empty
session. Streamlit's front end then sends nothing until the next interaction (it assumes the
server kept the session), and if that interaction is inside a fragment (the explorer's time
selector) the new replica drops it: "The fragment … does not exist anymore". The same happens after
a single server restarts.

``rerun_after_reconnect()`` mounts an invisible components-v2 element whose script watches the
app's connection state; when the connection comes back after a loss, it fires one trigger, i.e.
a full rerun that carries the page's URL and every widget's value: the replica that answers
rebuilds the same view (β, seed, lesson, camera, time… are in the URL and the widget states).
A reconnect to a server that still had the session costs one extra rerun.
"""

from __future__ import annotations

import functools
from typing import Any

COMPONENT_NAME = "adx_rerun_after_reconnect"
KEY = "adx_reconnect"

# One watcher per page (the module runs again on every rerun that changes the element): it keeps
# the latest trigger function and observes stApp's connection-state attribute.
_JS = """
export default function (component) {
  const w = window;
  if (w.__adxReconnect) { w.__adxReconnect.trigger = component.setTriggerValue; return; }
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return;
  const watch = { trigger: component.setTriggerValue, lost: false, reruns: 0 };
  w.__adxReconnect = watch;
  new MutationObserver(() => {
    const state = app.getAttribute('data-test-connection-state');
    if (state !== 'CONNECTED') { watch.lost = true; return; }
    if (!watch.lost) return;
    watch.lost = false;
    watch.reruns += 1;
    watch.trigger('reconnected', watch.reruns);
  }).observe(app, { attributes: true, attributeFilter: ['data-test-connection-state'] });
}
"""
# The element's own block takes no room on the page.
_CSS = f".st-key-{KEY}_box {{ display: none; }}"


@functools.cache
def _component() -> Any:
    import streamlit as st

    return st.components.v2.component(
        COMPONENT_NAME, html="<span></span>", css=_CSS, js=_JS, isolate_styles=False
    )


def _ignore() -> None:
    """The trigger's only job is the rerun itself."""


def rerun_after_reconnect() -> None:
    """Mount the reconnect watcher (once per script run, from app.py; AppTest: an unknown element)."""
    import streamlit as st

    with st.container(key=f"{KEY}_box"):
        _component()(data={}, key=KEY, height=0, on_reconnected_change=_ignore)

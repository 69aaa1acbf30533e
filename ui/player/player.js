// Attention Dynamics Explorer: in-browser 3D trajectory player (st.components.v2 module).
//
// Streamlit calls the default export on mount AND on every rerun that changes `data`, with the
// same parentElement. All state therefore lives on one Player object stored on that element:
// one plot <div> that only ever gets Plotly.react / restyle / relayout (constant uirevision), so
// the user's camera survives data-changing reruns. The whole trajectory arrives once (base64
// float32) and is played here.
//
// Ownership: the browser owns the current frame, the camera, the chosen view and the trails
// switch. Python's `start` ({id, frame, autoplay}) is applied on the first drawing and then only
// when its id changes (a lesson switch, Reset, a link opened): a rerun can never move a mounted
// player back to a stale frame. Python hears back (setStateValue) the frame (on stop, step, scrub
// and, throttled, while playing), the camera, the view, the trails switch and hand-placed tokens.

const PAYLOAD_VERSION = 2;
const UIREVISION = "adx-keep";
const SPEEDS = [0.25, 0.5, 1, 2, 4];
const SURFACE_COLOR = "#8c8c8c";
const EDIT_COLOR = "#D55E00";
const PICK_RADIUS_PX = 14;
// Inline SVG icons (glyphs such as ⏮ are missing from many fonts).
const ICON_PATHS = {
  start: "M4 3h2v10H4zM13 3v10L6.5 8z",
  back: "M3 3h2v10H3zM13 3v10L6 8z",
  play: "M4 2.5v11L13 8z",
  pause: "M4 3h3v10H4zM9 3h3v10H9z",
  fwd: "M11 3h2v10h-2zM3 3v10l7-5z",
  edit: "M2 11.5V14h2.5l7.4-7.4-2.5-2.5zM13.7 4.8a.7.7 0 0 0 0-1L12.2 2.3a.7.7 0 0 0-1 0l-1.1 1.1 2.5 2.5z",
  undo: "M6 4V1L1 5.5 6 10V7c3.3 0 5.6 1 7 4-.5-4-2.8-7-7-7z",
  help: "M7 12h2v2H7zM8 2C5.8 2 4.5 3.4 4.5 5.3h2c0-.9.5-1.5 1.5-1.5s1.5.6 1.5 1.3c0 1.5-2.5 1.5-2.5 4.4h2c0-2 2.5-2.3 2.5-4.5C11.5 3.3 10.1 2 8 2z",
};
function icon(name) {
  return (
    '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">' +
    `<path fill="currentColor" d="${ICON_PATHS[name]}"/></svg>`
  );
}

const REG = (window.__adxPlayerRegistry ||= { players: new Set(), active: null, keyHooked: false });

class PlayerError extends Error {}

// ------------------------------------------------------------------------------------- plotly.js
// One copy of plotly.js per page: Streamlit's own plotly chunk (its st.plotly_chart code) sets
// window.Plotly when it is evaluated, and a module URL is fetched and evaluated once per document,
// so importing the very URL Streamlit uses shares one parse with every st.plotly_chart on the page.
// The hashed chunk is served with "immutable" cache headers. Fallback: the wheel's plotly.min.js.
function streamlitBase() {
  const main = document.querySelector('script[type="module"][src*="/static/js/index."]');
  return main ? main.src : document.baseURI;
}

// URLs relative to the app's root (where Streamlit serves static/js/ and app/static/), found from
// Streamlit's own entry script, so that a page path or a reverse proxy's prefix changes nothing.
function absolute(url) {
  return new URL(url, streamlitBase().replace(/static\/js\/[^/]*$/, "")).href;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = src;
    s.async = true;
    s.onload = () => (window.Plotly ? resolve(window.Plotly) : reject(new Error("window.Plotly is missing")));
    s.onerror = () => {
      s.remove();
      reject(new Error(`could not load ${src}`));
    };
    document.head.appendChild(s);
  });
}

function plotlyReady() {
  return window.Plotly && typeof window.Plotly.react === "function" ? window.Plotly : null;
}

function loadPlotly(sources) {
  if (plotlyReady()) return Promise.resolve(window.Plotly);
  if (!window.__adxPlotlyPromise) {
    performance.mark("adx:plotly-request");
    window.__adxPlotlyPromise = (async () => {
      if (sources && sources.module) {
        try {
          await import(/* @vite-ignore */ absolute(sources.module));
          if (plotlyReady()) return window.Plotly;
        } catch (err) {
          console.warn(`adx player: Streamlit's plotly chunk failed (${err && err.message}); loading plotly.min.js`);
        }
      }
      if (plotlyReady()) return window.Plotly;
      return loadScript(absolute((sources && sources.script) || "./app/static/plotly.min.js"));
    })()
      .then((p) => {
        performance.mark("adx:plotly-ready");
        return p;
      })
      .catch((err) => {
        window.__adxPlotlyPromise = null; // let a later rerun retry
        throw err;
      });
  }
  return window.__adxPlotlyPromise;
}

// ------------------------------------------------------------------------------------- decoding
function b64bytes(s) {
  if (typeof s !== "string") throw new PlayerError("missing array data");
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function f32(s, expected, what) {
  const b = b64bytes(s);
  if (b.length % 4 !== 0) throw new PlayerError(`${what}: not float32 data`);
  const a = new Float32Array(b.buffer, 0, b.length / 4);
  if (expected !== undefined && a.length !== expected) {
    throw new PlayerError(`${what}: expected ${expected} numbers, got ${a.length}`);
  }
  return a;
}

function decode(d) {
  const K = d.K | 0;
  const n = d.n | 0;
  if (K <= 0 || n <= 0) throw new PlayerError("No trajectory to show (0 frames or 0 tokens).");
  const t = f32(d.t, K, "time");
  const x = f32(d.x, K * n * 3, "positions (d mismatch? expected K × n × 3)");
  let c = null;
  if (d.c) {
    const b = b64bytes(d.c);
    const wide = d.c_dtype === "<i4";
    if (b.length !== K * n * (wide ? 4 : 2)) throw new PlayerError(`clusters: expected ${K * n} labels`);
    c = wide ? new Int32Array(b.buffer, 0, K * n) : new Int16Array(b.buffer, 0, K * n);
  }
  const s = d.surface || {};
  const rows = s.rows | 0;
  const cols = s.cols | 0;
  const surface = {
    kind: s.kind,
    rows,
    cols,
    x: f32(s.x, rows * cols, "surface"),
    y: f32(s.y, rows * cols, "surface"),
    z: f32(s.z, rows * cols, "surface"),
  };
  const palette = Array.isArray(d.palette) && d.palette.length ? d.palette : ["#999999"];
  const frames = Array.isArray(d.frames) && d.frames.length === K ? d.frames : null;
  return { K, n, t, x, c, surface, palette, frames, flat: !!d.flat };
}

function roundCamera(cam) {
  const out = {};
  for (const part of ["eye", "up", "center"]) {
    const v = cam && cam[part];
    if (!v) continue;
    out[part] = {};
    for (const k of ["x", "y", "z"]) out[part][k] = Math.round((+v[k] || 0) * 1e4) / 1e4;
  }
  return out.eye ? out : null;
}

function el(tag, cls, attrs = {}) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function cssVar(node, name, fallback) {
  const v = getComputedStyle(node).getPropertyValue(name).trim();
  return v || fallback;
}

// ------------------------------------------------------------------------------------- 4×4 maths
// Column-major 4×4 matrices as gl-matrix (and plotly's gl-plot3d) store them.
function mat4mul(a, b) {
  const o = new Float64Array(16);
  for (let c = 0; c < 4; c++) {
    for (let r = 0; r < 4; r++) {
      let s = 0;
      for (let k = 0; k < 4; k++) s += a[k * 4 + r] * b[c * 4 + k];
      o[c * 4 + r] = s;
    }
  }
  return o;
}

function mat4invert(m) {
  const inv = new Float64Array(16);
  inv[0] = m[5] * m[10] * m[15] - m[5] * m[11] * m[14] - m[9] * m[6] * m[15] + m[9] * m[7] * m[14] + m[13] * m[6] * m[11] - m[13] * m[7] * m[10];
  inv[4] = -m[4] * m[10] * m[15] + m[4] * m[11] * m[14] + m[8] * m[6] * m[15] - m[8] * m[7] * m[14] - m[12] * m[6] * m[11] + m[12] * m[7] * m[10];
  inv[8] = m[4] * m[9] * m[15] - m[4] * m[11] * m[13] - m[8] * m[5] * m[15] + m[8] * m[7] * m[13] + m[12] * m[5] * m[11] - m[12] * m[7] * m[9];
  inv[12] = -m[4] * m[9] * m[14] + m[4] * m[10] * m[13] + m[8] * m[5] * m[14] - m[8] * m[6] * m[13] - m[12] * m[5] * m[10] + m[12] * m[6] * m[9];
  inv[1] = -m[1] * m[10] * m[15] + m[1] * m[11] * m[14] + m[9] * m[2] * m[15] - m[9] * m[3] * m[14] - m[13] * m[2] * m[11] + m[13] * m[3] * m[10];
  inv[5] = m[0] * m[10] * m[15] - m[0] * m[11] * m[14] - m[8] * m[2] * m[15] + m[8] * m[3] * m[14] + m[12] * m[2] * m[11] - m[12] * m[3] * m[10];
  inv[9] = -m[0] * m[9] * m[15] + m[0] * m[11] * m[13] + m[8] * m[1] * m[15] - m[8] * m[3] * m[13] - m[12] * m[1] * m[11] + m[12] * m[3] * m[9];
  inv[13] = m[0] * m[9] * m[14] - m[0] * m[10] * m[13] - m[8] * m[1] * m[14] + m[8] * m[2] * m[13] + m[12] * m[1] * m[10] - m[12] * m[2] * m[9];
  inv[2] = m[1] * m[6] * m[15] - m[1] * m[7] * m[14] - m[5] * m[2] * m[15] + m[5] * m[3] * m[14] + m[13] * m[2] * m[7] - m[13] * m[3] * m[6];
  inv[6] = -m[0] * m[6] * m[15] + m[0] * m[7] * m[14] + m[4] * m[2] * m[15] - m[4] * m[3] * m[14] - m[12] * m[2] * m[7] + m[12] * m[3] * m[6];
  inv[10] = m[0] * m[5] * m[15] - m[0] * m[7] * m[13] - m[4] * m[1] * m[15] + m[4] * m[3] * m[13] + m[12] * m[1] * m[7] - m[12] * m[3] * m[5];
  inv[14] = -m[0] * m[5] * m[14] + m[0] * m[6] * m[13] + m[4] * m[1] * m[14] - m[4] * m[2] * m[13] - m[12] * m[1] * m[6] + m[12] * m[2] * m[5];
  inv[3] = -m[1] * m[6] * m[11] + m[1] * m[7] * m[10] + m[5] * m[2] * m[11] - m[5] * m[3] * m[10] - m[9] * m[2] * m[7] + m[9] * m[3] * m[6];
  inv[7] = m[0] * m[6] * m[11] - m[0] * m[7] * m[10] - m[4] * m[2] * m[11] + m[4] * m[3] * m[10] + m[8] * m[2] * m[7] - m[8] * m[3] * m[6];
  inv[11] = -m[0] * m[5] * m[11] + m[0] * m[7] * m[9] + m[4] * m[1] * m[11] - m[4] * m[3] * m[9] - m[8] * m[1] * m[7] + m[8] * m[3] * m[5];
  inv[15] = m[0] * m[5] * m[10] - m[0] * m[6] * m[9] - m[4] * m[1] * m[10] + m[4] * m[2] * m[9] + m[8] * m[1] * m[6] - m[8] * m[2] * m[5];
  const det = m[0] * inv[0] + m[1] * inv[4] + m[2] * inv[8] + m[3] * inv[12];
  if (!det) return null;
  for (let i = 0; i < 16; i++) inv[i] /= det;
  return inv;
}

function xform(m, v) {
  const o = [0, 0, 0, 0];
  for (let r = 0; r < 4; r++) o[r] = m[r] * v[0] + m[4 + r] * v[1] + m[8 + r] * v[2] + m[12 + r] * v[3];
  return o;
}

// x on the surface {xᵀPx = 1} (P = I: the unit sphere) along the ray o + s·u, nearest the eye;
// a ray that misses gets the surface point closest to it (dragging past the rim slides along it).
function hitSurface(o, u, P) {
  const Pv = (v) => (P ? [0, 1, 2].map((r) => P[r][0] * v[0] + P[r][1] * v[1] + P[r][2] * v[2]) : v);
  const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  const Pu = Pv(u);
  const Po = Pv(o);
  const a = dot(u, Pu);
  const b = 2 * dot(u, Po);
  const c = dot(o, Po) - 1;
  const disc = b * b - 4 * a * c;
  let s;
  let hit = true;
  if (disc >= 0) {
    const q = Math.sqrt(disc);
    s = (-b - q) / (2 * a);
    if (s < 0) s = (-b + q) / (2 * a);
  } else {
    hit = false;
    s = -b / (2 * a);
  }
  let p = [o[0] + s * u[0], o[1] + s * u[1], o[2] + s * u[2]];
  const norm = Math.sqrt(Math.max(dot(p, Pv(p)), 1e-12));
  p = p.map((v) => v / norm);
  return { point: p, hit };
}

// The keys a focused element uses itself (so the player must not take them).
function ownsKey(target, key) {
  if (!target || target === document.body || target === document.documentElement) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  if (tag === "INPUT") {
    const type = (target.type || "text").toLowerCase();
    if (["checkbox", "radio", "button", "submit", "reset", "file", "color"].includes(type)) {
      return key === " " && target.matches(":focus-visible");
    }
    return true; // text-like fields and native sliders
  }
  const role = target.getAttribute && target.getAttribute("role");
  if (["slider", "spinbutton", "textbox", "combobox", "listbox", "option", "menuitem", "searchbox"].includes(role)) {
    return true;
  }
  // Buttons, tabs, radios and switches keep their keys when reached with the keyboard; clicked with
  // the mouse they keep the focus, and the teacher's next Space or arrow means the player.
  if (tag === "BUTTON" || tag === "A" || ["button", "tab", "radio", "switch", "checkbox"].includes(role)) {
    return target.matches(":focus-visible");
  }
  return false;
}

const HELP = [
  ["Space", "play / pause"],
  ["← →", "one frame back / forward"],
  ["Home", "go to the start"],
  ["E", "edit tokens by hand (on / off)"],
  ["Ctrl+Z", "undo the last token edit"],
  ["?", "show / hide this list"],
  ["Esc", "close this list, leave the edit mode"],
];

// ------------------------------------------------------------------------------------- player
class Player {
  constructor(host) {
    this.host = host;
    this.root = el("div", "adx-player", {
      tabindex: "0",
      role: "group",
      "aria-label": "Trajectory player",
      "data-frame": "0",
      "data-source-frame": "0",
      "data-playing": "false",
      "data-ready": "false",
      "data-editing": "false",
    });
    this.stage = el("div", "adx-stage");
    this.plot = el("div", "adx-plot js-adx-plot");
    this.loading = el("div", "adx-loading", { role: "status" });
    this.loading.innerHTML = '<span class="adx-spinner" aria-hidden="true"></span><span>Loading the 3D view…</span>';
    this.viewBar = el("div", "adx-views", { role: "toolbar", "aria-label": "View" });
    this.hint = el("div", "adx-edit-hint", { role: "status" });
    this.hint.hidden = true;
    this.help = el("div", "adx-help", { role: "dialog", "aria-label": "Keyboard shortcuts" });
    this.help.hidden = true;
    this.help.innerHTML =
      "<strong>Keyboard</strong><dl>" +
      HELP.map(([k, v]) => `<dt><kbd>${k}</kbd></dt><dd>${v}</dd>`).join("") +
      "</dl>";
    this.stage.append(this.plot, this.loading, this.viewBar, this.hint, this.help);
    this.msg = el("div", "adx-msg", { role: "status" });
    this.msg.hidden = true;
    const bar = el("div", "adx-controls");
    const btn = (cls, label, name) => {
      const b = el("button", `adx-btn ${cls}`, { type: "button", "aria-label": label, title: label });
      b.innerHTML = icon(name);
      bar.appendChild(b);
      return b;
    };
    this.bStart = btn("adx-start", "Go to start (Home)", "start");
    this.bBack = btn("adx-back", "Step back (←)", "back");
    this.bPlay = btn("adx-play", "Play (Space)", "play");
    this.bFwd = btn("adx-fwd", "Step forward (→)", "fwd");
    this.scrub = el("input", "adx-scrub", { type: "range", min: "0", max: "0", step: "1", value: "0", "aria-label": "Time" });
    bar.appendChild(this.scrub);
    this.time = el("span", "adx-time", { "aria-live": "off" });
    this.time.textContent = "t = –";
    bar.appendChild(this.time);
    this.speedSel = el("select", "adx-speed", { "aria-label": "Playback speed", title: "Speed" });
    for (const s of SPEEDS) {
      const o = el("option", "", { value: String(s) });
      o.textContent = `${s}×`;
      if (s === 1) o.selected = true;
      this.speedSel.appendChild(o);
    }
    bar.appendChild(this.speedSel);
    this.bEdit = btn("adx-edit", "Edit tokens by hand (E)", "edit");
    this.bEdit.setAttribute("aria-pressed", "false");
    this.bUndo = btn("adx-undo", "Undo the last token edit (Ctrl+Z)", "undo");
    this.bUndo.hidden = true;
    this.bHelp = btn("adx-help-btn", "Keyboard shortcuts (?)", "help");
    this.noteEl = el("div", "adx-note");
    this.root.append(this.stage, this.msg, bar, this.noteEl);
    this.bar = bar;
    host.appendChild(this.root);

    this.traj = null;
    this.sig = null;
    this.opts = {};
    this.frame = 0;
    this.playing = false;
    this.speed = 1;
    this.drawn = false;
    this.presetId = undefined;
    this.startId = undefined;
    this.viewId = null;
    this.trailsOn = true;
    this.camera = null;
    this.flat = null;
    this.lastCamJson = null;
    this.lastFrameReported = null;
    this.lastReportAt = 0;
    this.rendering = false;
    this.pendingFrame = null;
    this.queue = null;
    this.busy = false;
    this.applying = false;
    this.raf = 0;
    this.lastStep = 0;
    this.fontColor = null;
    this.stats = { frames: 0, totalMs: 0, maxMs: 0, last: [] };
    this.setStateValue = null;
    this.destroyed = false;
    this.edit = null; // {pts: number[][], history: number[][][], drag: index|null, rev}
    this.editRev = 0;

    this.bStart.addEventListener("click", () => this.goStart());
    this.bBack.addEventListener("click", () => this.step(-1));
    this.bFwd.addEventListener("click", () => this.step(1));
    this.bPlay.addEventListener("click", () => this.toggle());
    this.bEdit.addEventListener("click", () => this.toggleEdit());
    this.bUndo.addEventListener("click", () => this.undo());
    this.bHelp.addEventListener("click", () => this.toggleHelp());
    this.scrub.addEventListener("input", () => {
      this.pause(false);
      if (this.editing()) this.stopEdit();
      this.seek(parseInt(this.scrub.value, 10) || 0);
      this.reportFrame(false);
    });
    this.scrub.addEventListener("change", () => this.reportFrame(true));
    this.speedSel.addEventListener("change", () => {
      this.speed = parseFloat(this.speedSel.value) || 1;
    });
    this.onKey = (e) => this.handleKey(e, true);
    this.root.addEventListener("keydown", this.onKey);
    this.onKeyUp = (e) => {
      if (e.key === " " && e.target instanceof HTMLButtonElement) e.preventDefault();
    };
    this.root.addEventListener("keyup", this.onKeyUp);
    this.onActivate = () => {
      REG.active = this;
    };
    this.root.addEventListener("pointerdown", this.onActivate);
    this.root.addEventListener("focusin", this.onActivate);
    // Token editing: capture-phase listeners on the stage, ahead of plotly's own.
    this.stage.addEventListener("pointerdown", (e) => this.editDown(e), true);
    this.stage.addEventListener("pointermove", (e) => this.editMove(e), true);
    this.stage.addEventListener("pointerup", (e) => this.editUp(e), true);
    this.stage.addEventListener("pointercancel", (e) => this.editUp(e), true);
    this.onWindowResize = () => this.fit();
    window.addEventListener("resize", this.onWindowResize);
    if (typeof ResizeObserver !== "undefined") {
      let pending = 0;
      this.resizeObs = new ResizeObserver(() => {
        cancelAnimationFrame(pending);
        pending = requestAnimationFrame(() => {
          this.fit();
          this.resizePlot();
        });
      });
      this.resizeObs.observe(this.root);
      // Content drawn above the player later in a run (a message, a caption) moves it down:
      // fit again when the page's main block changes size.
      const main = document.querySelector('[data-testid="stMainBlockContainer"]') || document.body;
      this.pageObs = new ResizeObserver(() => requestAnimationFrame(() => this.fit()));
      this.pageObs.observe(main);
    }
    REG.players.add(this);
    if (!REG.keyHooked) {
      REG.keyHooked = true;
      // Page-wide shortcuts: whenever the focus is not in a field or control that uses the key.
      document.addEventListener("keydown", (e) => {
        if (e.defaultPrevented) return;
        const alive = [...REG.players].filter((p) => p.root.isConnected && p.traj);
        if (!alive.length) return;
        const p = alive.includes(REG.active) ? REG.active : alive[0];
        if (p.root.contains(e.target)) return; // the player's own listener has it
        if (ownsKey(e.target, e.key)) return;
        p.handleKey(e, false);
      });
    }
    this.setControlsEnabled(false);
  }

  // ---------------------------------------------------------------- data updates
  update(data, setStateValue) {
    this.setStateValue = setStateValue;
    this.queue = data;
    if (!this.busy) this.drain();
  }

  async drain() {
    this.busy = true;
    try {
      while (this.queue !== null) {
        const d = this.queue;
        this.queue = null;
        try {
          await this.apply(d);
        } catch (err) {
          this.fail(err instanceof PlayerError ? err.message : `Player error: ${err && err.message}`);
        }
      }
    } finally {
      this.busy = false;
      this.applying = false;
    }
  }

  fail(message) {
    this.pause(false);
    this.traj = null;
    this.sig = null;
    this.showMessage(message);
  }

  showMessage(text) {
    this.msg.textContent = text;
    this.msg.hidden = false;
    this.stage.classList.add("adx-hidden");
    this.setControlsEnabled(false);
    this.time.textContent = "t = –";
  }

  hideMessage() {
    this.msg.hidden = true;
    this.stage.classList.remove("adx-hidden");
    this.setControlsEnabled(true);
  }

  setControlsEnabled(on) {
    for (const e of [this.bStart, this.bBack, this.bPlay, this.bFwd, this.scrub, this.speedSel, this.bHelp]) {
      e.disabled = !on;
    }
    const edit = this.opts.edit || {};
    this.bEdit.disabled = !on || !edit.enabled;
    this.bEdit.title = edit.enabled ? "Edit tokens by hand (E)" : edit.reason || "Editing is not available here";
  }

  plotHeight(d) {
    const base = Math.max(100, Math.min(2000, d.height | 0 || 560));
    const fit = d.fit;
    if (!fit || !this.root.isConnected) return base;
    // Fit the whole player (plot + bar + note) into the window below the plot's top edge.
    const top = this.stage.getBoundingClientRect().top + window.scrollY;
    const below = this.bar.offsetHeight + (this.noteEl.offsetHeight || 0) + (fit.gap | 0);
    const avail = window.innerHeight - top - below;
    return Math.round(Math.max(fit.min | 0 || 240, Math.min(fit.max | 0 || base, avail)));
  }

  fit() {
    if (!this.opts || !this.opts.version) return;
    const h = this.plotHeight(this.opts);
    if (Math.abs((parseFloat(this.plot.style.height) || 0) - h) < 2) return;
    this.plot.style.height = `${h}px`;
    this.loading.style.height = `${h}px`;
    this.resizePlot();
  }

  // A gl3d resize redraws the whole scene (costly in software WebGL): only when the plot's box
  // really changed since it was last drawn.
  resizePlot() {
    const shown = this.plot.isConnected && !this.stage.classList.contains("adx-hidden");
    if (!this.drawn || !window.Plotly || !shown) return;
    const size = `${this.plot.clientWidth}x${this.plot.clientHeight}`;
    if (size === this.drawnSize) return;
    this.drawnSize = size;
    try {
      Promise.resolve(window.Plotly.Plots.resize(this.plot)).catch(() => {});
    } catch {
      /* not drawn yet */
    }
  }

  async apply(d) {
    if (typeof d === "string") {
      try {
        d = JSON.parse(d);
      } catch {
        throw new PlayerError("Player received unreadable data.");
      }
    }
    if (!d || typeof d !== "object") throw new PlayerError("No trajectory to show.");
    if (d.version !== PAYLOAD_VERSION) throw new PlayerError("Player data version mismatch.");
    this.opts = d;
    const h = this.plotHeight(d);
    this.plot.style.height = `${h}px`;
    this.loading.style.height = `${h}px`;
    this.msg.style.minHeight = `${Math.min(h, 160)}px`;
    if (d.error) {
      this.loading.hidden = true;
      this.fail(String(d.error));
      return;
    }
    let Plotly;
    try {
      Plotly = await loadPlotly(d.plotly);
    } catch (err) {
      this.loading.hidden = true;
      throw new PlayerError(
        `The 3D view needs plotly.js, which could not be loaded (${err.message}). ` +
          "Enable [server] enableStaticServing and provide static/plotly.min.js.",
      );
    }
    this.noteEl.textContent = d.note || "";
    const font = cssVar(this.host, "--st-text-color", "#31333F");
    const first = !this.drawn;
    const start = d.start && typeof d.start === "object" ? d.start : null;
    const startChanged = start !== null && start.id !== this.startId;
    if (first) {
      this.trailsOn = d.trails !== false;
      this.viewId = d.view || null;
    }
    this.buildViews(d);

    if (d.sig !== this.sig || !this.traj) {
      const traj = decode(d);
      const prevT = this.traj ? this.traj.t[this.frame] : null;
      let frame;
      if (first || startChanged || prevT === null) {
        frame = start && Number.isInteger(start.frame) ? start.frame : 0;
      } else {
        frame = 0; // same time as before, on the new trajectory
        let best = Infinity;
        for (let i = 0; i < traj.K; i++) {
          const dist = Math.abs(traj.t[i] - prevT);
          if (dist < best) [best, frame] = [dist, i];
        }
      }
      if (startChanged) {
        this.startId = start.id;
        this.lastFrameReported = null;
      }
      if (this.editing() && !startChanged) frame = 0;
      else if (this.editing()) this.stopEdit(false);
      this.traj = traj;
      this.frame = Math.max(0, Math.min(traj.K - 1, frame));
      let camera;
      let flatSwitch = false;
      if (first) {
        const view = (d.views || []).find((v) => v.id === this.viewId && v.camera);
        camera = d.initial_camera || (d.preset && d.preset.camera) || (view && view.camera) || d.default_camera;
        this.presetId = d.preset ? d.preset.id : null;
      } else if (traj.flat !== this.flat) {
        camera = d.default_camera; // d = 2 <-> d = 3: top-down circle vs oblique sphere
        flatSwitch = true;
      } else {
        camera = this.currentCamera(d);
      }
      this.flat = traj.flat;
      this.hideMessage();
      this.applying = true; // frame restyles wait: the trace list may be about to change
      // d = 2 <-> 3 swaps projection and up vector; plotly's turntable controller can keep a
      // flipped "up" from the old view, so start that (rare) switch from a clean plot.
      if (flatSwitch) Plotly.purge(this.plot);
      this.fontColor = font;
      if (first) performance.mark("adx:react-start");
      if (this.editing() && this.edit.drag === null) this.edit.pts = this.framePoints(0);
      await Plotly.react(this.plot, this.figureData(this.frame), this.layout(d, camera, font), {
        displaylogo: false,
        // plotly defaults to 2× for WebGL; native resolution halves the cost on HiDPI-less screens.
        plotGlPixelRatio: Math.min(2, window.devicePixelRatio || 1),
        modeBarButtonsToRemove: ["toImage", "resetCameraLastSave3d"],
      });
      this.applying = false;
      if (first || flatSwitch) this.hookPlot();
      this.drawn = true;
      this.drawnSize = `${this.plot.clientWidth}x${this.plot.clientHeight}`;
      this.sig = d.sig;
      this.scrub.max = String(traj.K - 1);
      this.baseFps = Math.max(4, Math.min(30, traj.K / 10));
      this.updateReadout();
      if (first) {
        requestAnimationFrame(() => {
          performance.mark("adx:first-frame");
          this.loading.hidden = true;
          this.root.dataset.ready = "true";
        });
      }
      this.fit();
    } else {
      if (font !== this.fontColor) {
        this.fontColor = font;
        await Plotly.relayout(this.plot, { "font.color": font });
      }
      if (startChanged) {
        this.startId = start.id;
        this.lastFrameReported = null;
        if (this.editing()) this.stopEdit(false);
        this.pause(false);
        this.renderFrame(Number.isInteger(start.frame) ? start.frame : 0);
      }
    }
    if (startChanged && !first) this.reportFrame(true);
    this.setControlsEnabled(true);
    if (this.editing()) this.refreshEditUi();

    const presetId = d.preset ? d.preset.id : null;
    if (presetId !== this.presetId) {
      this.presetId = presetId;
      if (d.preset && this.drawn) await Plotly.relayout(this.plot, { "scene.camera": d.preset.camera });
    }
    if ((first || startChanged) && start && start.autoplay) this.play();
  }

  // ---------------------------------------------------------------- views and trails (owned here)
  buildViews(d) {
    const hidden = new Set(d.hide || []);
    const views = d.flat ? [] : d.views || [];
    const key = JSON.stringify([views.map((v) => [v.id, v.label, !!v.camera, v.reason]), hidden.has("view"), hidden.has("trails"), this.viewId, this.trailsOn]);
    if (key === this.viewKey) {
      this.viewCams = Object.fromEntries(views.map((v) => [v.id, v.camera]));
      return;
    }
    this.viewKey = key;
    this.viewCams = Object.fromEntries(views.map((v) => [v.id, v.camera]));
    this.viewBar.replaceChildren();
    if (!hidden.has("view")) {
      for (const v of views) {
        const b = el("button", "adx-view", { type: "button", "data-view": v.id, title: v.camera ? `View from ${v.label}` : v.reason || "" });
        b.textContent = v.label;
        b.disabled = !v.camera;
        b.setAttribute("aria-pressed", String(v.id === this.viewId));
        b.addEventListener("click", () => this.applyView(v.id));
        this.viewBar.appendChild(b);
      }
    }
    if (!hidden.has("trails")) {
      const b = el("button", "adx-view adx-trails", { type: "button", title: "Draw each token's path up to the current time" });
      b.textContent = "Trails";
      b.setAttribute("aria-pressed", String(this.trailsOn));
      b.addEventListener("click", () => this.setTrails(!this.trailsOn));
      this.viewBar.appendChild(b);
    }
    this.viewBar.hidden = this.viewBar.childElementCount === 0;
    this.bEdit.hidden = hidden.has("edit");
  }

  async applyView(id) {
    const cam = this.viewCams && this.viewCams[id];
    if (!cam || !this.drawn) return;
    this.viewId = id;
    this.viewKey = null;
    this.buildViews(this.opts);
    await window.Plotly.relayout(this.plot, { "scene.camera": cam });
    if (this.setStateValue) this.setStateValue("view", id);
  }

  async setTrails(on) {
    this.trailsOn = !!on;
    this.viewKey = null;
    this.buildViews(this.opts);
    if (this.drawn && this.traj) {
      const camera = this.currentCamera(this.opts);
      this.applying = true;
      try {
        await window.Plotly.react(this.plot, this.figureData(this.frame), this.layout(this.opts, camera, this.fontColor));
      } finally {
        this.applying = false;
      }
    }
    if (this.setStateValue) this.setStateValue("trails", this.trailsOn);
  }

  liveCamera() {
    try {
      return this.plot._fullLayout.scene._scene.getCamera();
    } catch {
      return null;
    }
  }

  // Every restyle makes plotly's gl3d scene re-apply layout.scene.camera (scene.setViewport), so
  // a rotation in progress during playback would snap back each frame. Copy the live camera into
  // the layout first. Uses scene._scene.getCamera(), internal but stable since plotly.js 1.x.
  syncCamera() {
    const live = this.liveCamera();
    if (live && this.plot.layout && this.plot.layout.scene) this.plot.layout.scene.camera = live;
  }

  currentCamera(d) {
    const live = this.liveCamera();
    const out = live ? { eye: live.eye, up: live.up, center: live.center } : null;
    return this.withProjection(out || this.camera || d.default_camera, d);
  }

  withProjection(cam, d) {
    const out = { ...cam };
    if (d.flat) out.projection = { type: "orthographic" };
    return out;
  }

  hookPlot() {
    this.plot.on("plotly_relayout", (ev) => {
      const cam = ev && ev["scene.camera"];
      if (cam) this.reportCamera(cam);
    });
  }

  reportCamera(cam) {
    const c = roundCamera(cam);
    if (!c) return;
    const s = JSON.stringify(c);
    this.camera = c;
    if (s === this.lastCamJson) return;
    this.lastCamJson = s;
    if (this.setStateValue) this.setStateValue("camera", c);
  }

  // The frame goes to Python (the URL's `frame`, the page's time) when it settles and, at most
  // every `report.playing_ms`, while playing or scrubbing.
  reportFrame(settled) {
    const rep = this.opts.report || {};
    if (!rep.frame || !this.traj || !this.setStateValue) return;
    const now = performance.now();
    if (!settled && now - this.lastReportAt < (rep.playing_ms || 500)) return;
    const src = this.sourceFrame();
    if (src === this.lastFrameReported) return;
    this.lastFrameReported = src;
    this.lastReportAt = now;
    // With the start id: Python ignores a frame reported for the previous start (a lesson ago).
    this.setStateValue("frame", { frame: src, start: this.startId === undefined ? null : this.startId });
  }

  sourceFrame() {
    return this.traj && this.traj.frames ? this.traj.frames[this.frame] : this.frame;
  }

  // ---------------------------------------------------------------- figure
  layout(d, camera, font) {
    const r = +d.range || 1.1;
    const axis = (name) => ({
      range: [-r, r],
      autorange: false,
      showspikes: false,
      zeroline: false,
      showticklabels: false,
      tickvals: [-1, 0, 1],
      title: { text: name },
    });
    return {
      uirevision: UIREVISION,
      showlegend: false,
      paper_bgcolor: "rgba(0,0,0,0)",
      font: { color: font, size: 14 },
      margin: { l: 0, r: 0, t: d.title ? 32 : 0, b: 0 },
      title: d.title ? { text: d.title, x: 0.01, xanchor: "left", font: { size: 15 } } : undefined,
      scene: {
        uirevision: UIREVISION,
        aspectmode: "cube",
        xaxis: axis("x"),
        yaxis: axis("y"),
        zaxis: { ...axis("z"), visible: !d.flat },
        camera,
        dragmode: this.editing() ? false : "turntable",
      },
    };
  }

  surfaceTrace() {
    const s = this.traj.surface;
    if (s.rows <= 1) {
      return {
        type: "scatter3d",
        mode: "lines",
        name: s.kind || "circle",
        x: s.x,
        y: s.y,
        z: s.z,
        line: { color: SURFACE_COLOR, width: 3 },
        hoverinfo: "skip",
      };
    }
    // mesh3d, not surface: plotly re-converts every trace of the scene on each restyle, and a
    // surface costs ~2x a mesh of the same grid (measured), so the sphere stays cheap per frame.
    const { rows: R, cols: C } = s;
    const i = [];
    const j = [];
    const k = [];
    for (let r = 0; r < R - 1; r++) {
      for (let c = 0; c < C - 1; c++) {
        const v = r * C + c;
        i.push(v, v + 1);
        j.push(v + C, v + C);
        k.push(v + 1, v + C + 1);
      }
    }
    return {
      type: "mesh3d",
      name: s.kind || "sphere",
      x: s.x,
      y: s.y,
      z: s.z,
      i,
      j,
      k,
      color: SURFACE_COLOR,
      opacity: 0.15,
      hoverinfo: "skip",
      lighting: { ambient: 0.9, diffuse: 0.3, specular: 0.05 },
    };
  }

  showTrails() {
    return this.trailsOn && !this.editing();
  }

  figureData(f) {
    const a = this.frameArrays(f);
    const data = [this.surfaceTrace()];
    // One trace per palette colour (NaN-separated tokens): constant-colour lines are much cheaper
    // for plotly to convert than a per-vertex colour array. Empty when trails are off.
    a.trails.forEach((g, q) => {
      data.push({
        type: "scatter3d",
        mode: "lines",
        name: "trails",
        x: g.x,
        y: g.y,
        z: g.z,
        line: { width: 2, color: this.traj.palette[q] },
        opacity: 0.55,
        connectgaps: false,
        hoverinfo: "skip",
      });
    });
    data.push({
      type: "scatter3d",
      mode: "markers",
      name: "tokens",
      x: a.mx,
      y: a.my,
      z: a.mz,
      marker: { size: 6, color: a.mcol, line: { width: 0 } },
      text: a.text,
      hovertemplate: "%{text}<extra></extra>",
    });
    return data;
  }

  framePoints(f) {
    const { n, x } = this.traj;
    const out = [];
    for (let i = 0; i < n; i++) {
      const b = (f * n + i) * 3;
      out.push([x[b], x[b + 1], x[b + 2]]);
    }
    return out;
  }

  frameArrays(f) {
    const { n, x, c, palette } = this.traj;
    const cycle = Math.max(1, palette.length - 1); // last entry = colour of unclustered tokens
    const slots = palette.length;
    if (this.editing()) {
      const pts = this.edit.pts;
      const m = pts.length;
      const mx = new Float32Array(m);
      const my = new Float32Array(m);
      const mz = new Float32Array(m);
      pts.forEach((p, i) => {
        mx[i] = p[0];
        my[i] = p[1];
        mz[i] = p[2];
      });
      const mcol = pts.map((_, i) => (i === this.edit.drag ? "#000000" : EDIT_COLOR));
      const text = pts.map((_, i) => `token ${i}`);
      const trails = Array.from({ length: slots }, () => ({ x: [], y: [], z: [] }));
      return { mx, my, mz, mcol, text, trails };
    }
    const mx = new Float32Array(n);
    const my = new Float32Array(n);
    const mz = new Float32Array(n);
    const mcol = new Array(n);
    const slot = new Uint16Array(n);
    const text = new Array(n);
    const counts = new Uint32Array(slots);
    const base = f * n * 3;
    for (let i = 0; i < n; i++) {
      mx[i] = x[base + 3 * i];
      my[i] = x[base + 3 * i + 1];
      mz[i] = x[base + 3 * i + 2];
      const label = c ? c[f * n + i] : -1;
      slot[i] = label >= 0 ? label % cycle : slots - 1;
      counts[slot[i]] += 1;
      mcol[i] = palette[slot[i]];
      text[i] = label >= 0 ? `token ${i}<br>cluster ${label}` : `token ${i}`;
    }
    if (!this.showTrails()) {
      return { mx, my, mz, mcol, text, trails: Array.from({ length: slots }, () => ({ x: [], y: [], z: [] })) };
    }
    const len = f + 2; // frames 0..f, then a NaN separator
    const groups = Array.from(counts, (m) => ({
      x: new Float32Array(m * len).fill(NaN),
      y: new Float32Array(m * len).fill(NaN),
      z: new Float32Array(m * len).fill(NaN),
      used: 0,
    }));
    for (let i = 0; i < n; i++) {
      const g = groups[slot[i]];
      const o = g.used * len;
      g.used += 1;
      for (let k = 0; k <= f; k++) {
        const src = (k * n + i) * 3;
        g.x[o + k] = x[src];
        g.y[o + k] = x[src + 1];
        g.z[o + k] = x[src + 2];
      }
    }
    return { mx, my, mz, mcol, text, trails: groups };
  }

  async renderFrame(f) {
    if (!this.traj) return;
    this.frame = Math.max(0, Math.min(this.traj.K - 1, f));
    this.updateReadout();
    if (this.applying) return; // the pending Plotly.react draws the data anyway
    if (this.rendering) {
      this.pendingFrame = this.frame;
      return;
    }
    this.rendering = true;
    try {
      let target = this.frame;
      for (;;) {
        const t0 = performance.now();
        const a = this.frameArrays(target);
        const g = a.trails;
        this.syncCamera();
        const idx = [...g.map((_, q) => q + 1), g.length + 1];
        const none = g.map(() => undefined);
        await window.Plotly.restyle(
          this.plot,
          {
            x: [...g.map((q) => q.x), a.mx],
            y: [...g.map((q) => q.y), a.my],
            z: [...g.map((q) => q.z), a.mz],
            "marker.color": [...none, a.mcol],
            text: [...none, a.text],
          },
          idx,
        );
        const ms = performance.now() - t0;
        const s = this.stats;
        s.frames += 1;
        s.totalMs += ms;
        s.maxMs = Math.max(s.maxMs, ms);
        s.last.push(ms);
        if (s.last.length > 50) s.last.shift();
        this.root.dataset.renderedFrame = String(target);
        if (this.pendingFrame === null || !this.traj || this.applying) break;
        target = this.pendingFrame;
        this.pendingFrame = null;
      }
    } catch (err) {
      this.fail(`Player error: ${err && err.message}`);
    } finally {
      this.rendering = false;
    }
  }

  updateReadout() {
    if (!this.traj) return;
    const t = this.traj.t[this.frame];
    this.time.textContent = `t = ${Number.isFinite(t) ? t.toFixed(2) : "–"}`;
    this.time.title = `frame ${this.frame + 1} of ${this.traj.K}`;
    this.scrub.value = String(this.frame);
    this.scrub.setAttribute("aria-valuetext", `t = ${Number.isFinite(t) ? t.toFixed(2) : "–"}`);
    this.root.dataset.frame = String(this.frame);
    this.root.dataset.sourceFrame = String(this.sourceFrame());
  }

  // ---------------------------------------------------------------- transport
  seek(f) {
    if (!this.traj) return;
    this.renderFrame(f);
  }

  step(delta) {
    if (!this.traj) return;
    this.pause(false);
    if (this.editing()) this.stopEdit();
    this.renderFrame(this.frame + delta);
    this.reportFrame(true);
  }

  goStart() {
    if (!this.traj) return;
    this.pause(false);
    if (this.editing()) this.stopEdit();
    this.renderFrame(0);
    this.reportFrame(true);
  }

  toggle() {
    if (this.playing) this.pause(true);
    else this.play();
  }

  play() {
    if (!this.traj || this.playing) return;
    if (this.editing()) this.stopEdit();
    if (this.frame >= this.traj.K - 1) this.renderFrame(0);
    this.playing = true;
    this.root.dataset.playing = "true";
    this.bPlay.innerHTML = icon("pause");
    this.bPlay.setAttribute("aria-label", "Pause (Space)");
    this.bPlay.title = "Pause (Space)";
    this.lastStep = performance.now();
    this.raf = requestAnimationFrame((ts) => this.tick(ts));
  }

  pause(report) {
    const was = this.playing;
    this.playing = false;
    cancelAnimationFrame(this.raf);
    this.root.dataset.playing = "false";
    this.bPlay.innerHTML = icon("play");
    this.bPlay.setAttribute("aria-label", "Play (Space)");
    this.bPlay.title = "Play (Space)";
    if (was && report) this.reportFrame(true);
  }

  tick(now) {
    if (!this.playing) return;
    if (!this.root.isConnected) {
      this.destroy();
      return;
    }
    const interval = 1000 / ((this.baseFps || 20) * this.speed);
    if (!this.rendering && now - this.lastStep >= interval) {
      if (this.frame >= this.traj.K - 1) {
        this.pause(true);
        return;
      }
      this.lastStep = now;
      this.renderFrame(this.frame + 1);
      this.reportFrame(false);
    }
    this.raf = requestAnimationFrame((ts) => this.tick(ts));
  }

  toggleHelp(show) {
    const on = show === undefined ? this.help.hidden : show;
    this.help.hidden = !on;
  }

  handleKey(e, inside) {
    if (e.defaultPrevented || e.altKey || e.metaKey || !this.traj) return;
    const tgt = e.target;
    if (inside && tgt === this.speedSel) return;
    if (inside && tgt === this.scrub && e.key !== " ") return; // native range keys → input event
    let handled = true;
    if (e.ctrlKey) {
      if ((e.key === "z" || e.key === "Z") && this.editing()) this.undo();
      else handled = false;
    } else if (e.key === " " || e.code === "Space") this.toggle();
    else if (e.key === "ArrowRight") this.step(1);
    else if (e.key === "ArrowLeft") this.step(-1);
    else if (e.key === "Home") this.goStart();
    else if (e.key === "?") this.toggleHelp();
    else if (e.key === "Escape" && (!this.help.hidden || this.editing())) {
      if (!this.help.hidden) this.toggleHelp(false);
      else this.stopEdit();
    } else if ((e.key === "e" || e.key === "E") && !this.bEdit.disabled) this.toggleEdit();
    else handled = false;
    if (handled) {
      e.preventDefault();
      if (inside) e.stopPropagation(); // keep Streamlit's own shortcuts out of the player
    }
  }

  // ---------------------------------------------------------------- tokens placed by hand
  editing() {
    return this.edit !== null;
  }

  toggleEdit() {
    if (this.editing()) this.stopEdit();
    else this.startEdit();
  }

  async startEdit() {
    const opt = this.opts.edit || {};
    if (!opt.enabled || !this.traj || this.editing()) return;
    this.pause(false);
    this.frame = 0;
    this.edit = { pts: this.framePoints(0), history: [], drag: null, moved: false };
    this.root.dataset.editing = "true";
    this.bEdit.setAttribute("aria-pressed", "true");
    this.refreshEditUi();
    await this.redrawAll();
    this.reportFrame(true);
  }

  async stopEdit(redraw = true) {
    if (!this.editing()) return;
    this.edit = null;
    this.root.dataset.editing = "false";
    this.bEdit.setAttribute("aria-pressed", "false");
    this.bUndo.hidden = true;
    this.hint.hidden = true;
    if (redraw) await this.redrawAll();
  }

  refreshEditUi() {
    const opt = this.opts.edit || {};
    this.bUndo.hidden = false;
    this.bUndo.disabled = this.edit.history.length === 0;
    this.hint.hidden = false;
    this.hint.textContent =
      `Click the ${this.flat ? "circle" : "sphere"}: add a token · drag a token: move it · ` +
      `Shift+click: delete · Ctrl+Z: undo · E or Esc: done (${this.edit.pts.length}/${opt.max_tokens} tokens)`;
  }

  async redrawAll() {
    if (!this.drawn || !this.traj) return;
    const camera = this.currentCamera(this.opts);
    this.applying = true;
    try {
      await window.Plotly.react(this.plot, this.figureData(this.frame), this.layout(this.opts, camera, this.fontColor));
    } finally {
      this.applying = false;
    }
    this.updateReadout();
  }

  restyleTokens() {
    if (!this.drawn || this.applying) return;
    const a = this.frameArrays(0);
    const idx = a.trails.length + 1;
    this.syncCamera();
    window.Plotly.restyle(this.plot, { x: [a.mx], y: [a.my], z: [a.mz], "marker.color": [a.mcol], text: [a.text] }, [idx]);
  }

  // Screen geometry of the scene: pixel ↔ data coordinates through gl-plot3d's camera matrices.
  sceneGeometry() {
    try {
      const scene = this.plot._fullLayout.scene._scene;
      const cam = scene.glplot.cameraParams;
      const canvas = scene.glplot.canvas || this.plot.querySelector(".gl-container canvas");
      const rect = canvas.getBoundingClientRect();
      const mvp = mat4mul(cam.projection, mat4mul(cam.view, cam.model));
      return { rect, mvp, inv: mat4invert(mvp), scale: scene.dataScale };
    } catch {
      return null;
    }
  }

  toScreen(g, p) {
    const c = xform(g.mvp, [p[0] * g.scale[0], p[1] * g.scale[1], p[2] * g.scale[2], 1]);
    return {
      x: g.rect.left + (0.5 + (0.5 * c[0]) / c[3]) * g.rect.width,
      y: g.rect.top + (0.5 - (0.5 * c[1]) / c[3]) * g.rect.height,
      depth: c[2] / c[3],
    };
  }

  /** Screen position of token i of the edit (or of the current frame): a test hook. */
  tokenScreen(i) {
    const g = this.sceneGeometry();
    if (!g) return null;
    const p = this.editing() ? this.edit.pts[i] : this.framePoints(this.frame)[i];
    return p ? this.toScreen(g, p) : null;
  }

  /** Screen position of a data point [x, y, z]: a test hook. */
  screenOf(p) {
    const g = this.sceneGeometry();
    return g ? this.toScreen(g, p) : null;
  }

  /** The surface point under the pixel (clientX, clientY), or null. */
  surfacePoint(clientX, clientY) {
    const g = this.sceneGeometry();
    if (!g || !g.inv) return null;
    const nx = (2 * (clientX - g.rect.left)) / g.rect.width - 1;
    const ny = 1 - (2 * (clientY - g.rect.top)) / g.rect.height;
    const unproject = (z) => {
      const w = xform(g.inv, [nx, ny, z, 1]);
      return [w[0] / w[3] / g.scale[0], w[1] / w[3] / g.scale[1], w[2] / w[3] / g.scale[2]];
    };
    const near = unproject(-1);
    const far = unproject(1);
    const u = [far[0] - near[0], far[1] - near[1], far[2] - near[2]];
    const P = (this.opts.edit && this.opts.edit.P) || null;
    if (this.flat) {
      if (Math.abs(u[2]) < 1e-12) return null;
      const s = -near[2] / u[2];
      const q = [near[0] + s * u[0], near[1] + s * u[1], 0];
      const P2 = P ? [[P[0][0], P[0][1]], [P[1][0], P[1][1]]] : [[1, 0], [0, 1]];
      const quad = q[0] * (P2[0][0] * q[0] + P2[0][1] * q[1]) + q[1] * (P2[1][0] * q[0] + P2[1][1] * q[1]);
      if (quad < 1e-12) return null;
      const r = Math.sqrt(quad);
      return { point: [q[0] / r, q[1] / r, 0], hit: true };
    }
    return hitSurface(near, u, P);
  }

  pickToken(clientX, clientY) {
    const g = this.sceneGeometry();
    if (!g) return null;
    let best = null;
    this.edit.pts.forEach((p, i) => {
      const s = this.toScreen(g, p);
      const dist = Math.hypot(s.x - clientX, s.y - clientY);
      if (dist <= PICK_RADIUS_PX && (best === null || s.depth < best.depth - 1e-6 || (Math.abs(s.depth - best.depth) <= 1e-6 && dist < best.dist))) {
        best = { i, depth: s.depth, dist };
      }
    });
    return best ? best.i : null;
  }

  pushHistory() {
    this.edit.history.push(this.edit.pts.map((p) => p.slice()));
    if (this.edit.history.length > 100) this.edit.history.shift();
  }

  editDown(e) {
    if (!this.editing() || e.button !== 0) return;
    if (this.viewBar.contains(e.target) || this.help.contains(e.target)) return;
    e.preventDefault();
    e.stopPropagation();
    const opt = this.opts.edit || {};
    const i = this.pickToken(e.clientX, e.clientY);
    if (i !== null && e.shiftKey) {
      if (this.edit.pts.length <= (opt.min_tokens || 2)) {
        this.flash(`At least ${opt.min_tokens || 2} tokens are needed.`);
        return;
      }
      this.pushHistory();
      this.edit.pts.splice(i, 1);
      this.commitEdit();
      return;
    }
    if (i !== null) {
      this.pushHistory();
      this.edit.drag = i;
      this.edit.moved = false;
      try {
        this.stage.setPointerCapture(e.pointerId);
      } catch {
        /* synthetic events */
      }
      this.restyleTokens();
      return;
    }
    const hit = this.surfacePoint(e.clientX, e.clientY);
    if (!hit || !hit.hit) return;
    if (this.edit.pts.length >= (opt.max_tokens || 128)) {
      this.flash(`At most ${opt.max_tokens} tokens can be placed by hand (the link holds them all).`);
      return;
    }
    this.pushHistory();
    this.edit.pts.push(hit.point);
    this.commitEdit();
  }

  editMove(e) {
    if (!this.editing() || this.edit.drag === null) return;
    e.preventDefault();
    e.stopPropagation();
    const hit = this.surfacePoint(e.clientX, e.clientY);
    if (!hit) return;
    this.edit.pts[this.edit.drag] = hit.point;
    this.edit.moved = true;
    if (!this.movePending) {
      this.movePending = true;
      requestAnimationFrame(() => {
        this.movePending = false;
        if (this.editing()) this.restyleTokens();
      });
    }
  }

  editUp(e) {
    if (!this.editing() || this.edit.drag === null) return;
    e.preventDefault();
    e.stopPropagation();
    const moved = this.edit.moved;
    this.edit.drag = null;
    if (moved) this.commitEdit();
    else {
      this.edit.history.pop(); // a click on a token without moving it changes nothing
      this.restyleTokens();
      this.refreshEditUi();
    }
  }

  undo() {
    if (!this.editing() || !this.edit.history.length) return;
    this.edit.pts = this.edit.history.pop();
    this.commitEdit(this.edit.history.length === 0);
  }

  flash(text) {
    this.hint.textContent = text;
    this.hint.hidden = false;
    clearTimeout(this.flashTimer);
    this.flashTimer = setTimeout(() => this.editing() && this.refreshEditUi(), 2500);
  }

  // The edited configuration goes to Python, which re-integrates from it (it becomes x0).
  commitEdit(backToStart = false) {
    this.restyleTokens();
    this.refreshEditUi();
    this.editRev += 1;
    const xyz = this.edit.pts.map((p) => p.map((v) => Math.round(v * 1e5) / 1e5));
    if (this.setStateValue) {
      this.setStateValue("tokens", backToStart ? { rev: this.editRev, clear: true } : { rev: this.editRev, xyz });
    }
  }

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pause(false);
    REG.players.delete(this);
    if (REG.active === this) REG.active = null;
    if (this.resizeObs) this.resizeObs.disconnect();
    if (this.pageObs) this.pageObs.disconnect();
    window.removeEventListener("resize", this.onWindowResize);
    try {
      if (window.Plotly) window.Plotly.purge(this.plot);
    } catch {
      /* already gone */
    }
    this.root.remove();
    if (this.host.__adxPlayer === this) delete this.host.__adxPlayer;
  }
}

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let player = parentElement.__adxPlayer;
  if (!player || player.destroyed) {
    performance.mark("adx:mount");
    player = new Player(parentElement);
    parentElement.__adxPlayer = player;
  }
  window.__adxLastPlayer = player;
  player.update(data, setStateValue);
  // Streamlit may call this cleanup when a rerun supersedes a pending mount, not only on unmount:
  // tear down only once the element has really left the page.
  return () => {
    setTimeout(() => {
      if (!parentElement.isConnected) player.destroy();
    }, 0);
  };
}

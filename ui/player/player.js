// Attention Dynamics Explorer: in-browser 3D trajectory player (st.components.v2 module).
//
// Streamlit calls the default export on mount AND on every rerun that changes `data`, with the
// same parentElement. All state therefore lives on one Player object stored on that element:
// one plot <div> that only ever gets Plotly.react / restyle / relayout (constant uirevision), so
// the user's camera survives data-changing reruns. The whole trajectory arrives once (base64
// float32) and is played here; Python hears back only the camera (and, optionally, the frame).

const PAYLOAD_VERSION = 1;
const UIREVISION = "adx-keep";
const DEFAULT_PLOTLY_SRC = "./app/static/plotly.min.js";
const SPEEDS = [0.25, 0.5, 1, 2, 4];
const SURFACE_COLOR = "#8c8c8c";
// Inline SVG icons (glyphs such as ⏮ are missing from many fonts).
const ICON_PATHS = {
  start: "M4 3h2v10H4zM13 3v10L6.5 8z",
  back: "M3 3h2v10H3zM13 3v10L6 8z",
  play: "M4 2.5v11L13 8z",
  pause: "M4 3h3v10H4zM9 3h3v10H9z",
  fwd: "M11 3h2v10h-2zM3 3v10l7-5z",
};
function icon(name) {
  return (
    '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true" focusable="false">' +
    `<path fill="currentColor" d="${ICON_PATHS[name]}"/></svg>`
  );
}

const REG = (window.__adxPlayerRegistry ||= { players: new Set(), active: null, keyHooked: false });

class PlayerError extends Error {}

function loadPlotly(src) {
  if (window.Plotly && typeof window.Plotly.react === "function") {
    return Promise.resolve(window.Plotly);
  }
  if (!window.__adxPlotlyPromise) {
    window.__adxPlotlyPromise = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.async = true;
      s.onload = () =>
        window.Plotly ? resolve(window.Plotly) : reject(new Error("window.Plotly is missing"));
      s.onerror = () => {
        s.remove();
        reject(new Error(`could not load ${src}`));
      };
      document.head.appendChild(s);
    }).catch((err) => {
      window.__adxPlotlyPromise = null; // let a later rerun retry
      throw err;
    });
  }
  return window.__adxPlotlyPromise;
}

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
    if (b.length !== K * n * (wide ? 4 : 2)) {
      throw new PlayerError(`clusters: expected ${K * n} labels`);
    }
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

class Player {
  constructor(host) {
    this.host = host;
    this.root = el("div", "adx-player", {
      tabindex: "0",
      role: "group",
      "aria-label": "Trajectory player",
      "data-frame": "0",
      "data-playing": "false",
    });
    this.plot = el("div", "adx-plot js-adx-plot");
    this.msg = el("div", "adx-msg", { role: "status" });
    this.msg.hidden = true;
    const bar = el("div", "adx-controls");
    const btn = (cls, label, text) => {
      const b = el("button", `adx-btn ${cls}`, { type: "button", "aria-label": label, title: label });
      b.innerHTML = icon(text);
      bar.appendChild(b);
      return b;
    };
    this.bStart = btn("adx-start", "Go to start (Home)", "start");
    this.bBack = btn("adx-back", "Step back (←)", "back");
    this.bPlay = btn("adx-play", "Play (Space)", "play");
    this.bFwd = btn("adx-fwd", "Step forward (→)", "fwd");
    this.scrub = el("input", "adx-scrub", { type: "range", min: "0", max: "0", step: "1",
      value: "0", "aria-label": "Time" });
    bar.appendChild(this.scrub);
    this.time = el("span", "adx-time", { "aria-live": "off" });
    this.time.textContent = "t = –";
    bar.appendChild(this.time);
    this.counter = el("span", "adx-frame");
    bar.appendChild(this.counter);
    this.speedSel = el("select", "adx-speed", { "aria-label": "Playback speed", title: "Speed" });
    for (const s of SPEEDS) {
      const o = el("option", "", { value: String(s) });
      o.textContent = `${s}×`;
      if (s === 1) o.selected = true;
      this.speedSel.appendChild(o);
    }
    bar.appendChild(this.speedSel);
    this.noteEl = el("div", "adx-note");
    this.root.append(this.plot, this.msg, bar, this.noteEl);
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
    this.startSeen = undefined;
    this.camera = null;
    this.flat = null;
    this.lastCamJson = null;
    this.lastFrameReported = null;
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

    this.bStart.addEventListener("click", () => this.goStart());
    this.bBack.addEventListener("click", () => this.step(-1));
    this.bFwd.addEventListener("click", () => this.step(1));
    this.bPlay.addEventListener("click", () => this.toggle());
    this.scrub.addEventListener("input", () => {
      this.pause(false);
      this.seek(parseInt(this.scrub.value, 10) || 0);
    });
    this.scrub.addEventListener("change", () => this.reportFrame());
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
    if (typeof ResizeObserver !== "undefined") {
      let pending = 0;
      this.resizeObs = new ResizeObserver(() => {
        cancelAnimationFrame(pending);
        pending = requestAnimationFrame(() => {
          const shown = this.plot.isConnected && !this.plot.classList.contains("adx-hidden");
          if (this.drawn && window.Plotly && shown) {
            try {
              Promise.resolve(window.Plotly.Plots.resize(this.plot)).catch(() => {});
            } catch {
              /* not drawn yet */
            }
          }
        });
      });
      this.resizeObs.observe(this.root);
    }
    REG.players.add(this);
    if (!REG.keyHooked) {
      REG.keyHooked = true;
      document.addEventListener("keydown", (e) => {
        if (e.target !== document.body && e.target !== document.documentElement) return;
        const alive = [...REG.players].filter((p) => p.root.isConnected && p.traj);
        const p = alive.includes(REG.active) ? REG.active : alive[0];
        if (p) p.handleKey(e, false);
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
    this.plot.classList.add("adx-hidden");
    this.setControlsEnabled(false);
    this.time.textContent = "t = –";
    this.counter.textContent = "";
  }

  hideMessage() {
    this.msg.hidden = true;
    this.plot.classList.remove("adx-hidden");
    this.setControlsEnabled(true);
  }

  setControlsEnabled(on) {
    for (const e of [this.bStart, this.bBack, this.bPlay, this.bFwd, this.scrub, this.speedSel]) {
      e.disabled = !on;
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
    const h = Math.max(100, Math.min(2000, d.height | 0 || 560));
    this.plot.style.height = `${h}px`;
    this.msg.style.minHeight = `${Math.min(h, 160)}px`;
    if (d.error) {
      this.fail(String(d.error));
      return;
    }
    let Plotly;
    try {
      Plotly = await loadPlotly(d.plotly_src || DEFAULT_PLOTLY_SRC);
    } catch (err) {
      throw new PlayerError(
        `The 3D view needs plotly.js, which could not be loaded (${err.message}). ` +
          "Enable [server] enableStaticServing and provide static/plotly.min.js.",
      );
    }
    this.opts = d;
    this.noteEl.textContent = d.note || "";
    const font = cssVar(this.host, "--st-text-color", "#31333F");

    if (d.sig !== this.sig || !this.traj) {
      const traj = decode(d);
      const prevT = this.traj ? this.traj.t[this.frame] : null;
      const first = !this.drawn;
      let frame;
      if (first || prevT === null) {
        frame = Number.isInteger(d.start_frame) ? d.start_frame : 0;
      } else {
        frame = 0;
        let best = Infinity;
        for (let i = 0; i < traj.K; i++) {
          const dist = Math.abs(traj.t[i] - prevT);
          if (dist < best) [best, frame] = [dist, i];
        }
      }
      this.traj = traj;
      this.frame = Math.max(0, Math.min(traj.K - 1, frame));
      let camera;
      let flatSwitch = false;
      if (first) {
        camera = d.initial_camera || (d.preset && d.preset.camera) || d.default_camera;
        this.presetId = d.preset ? d.preset.id : null;
        this.startSeen = Number.isInteger(d.start_frame) ? d.start_frame : null;
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
      await Plotly.react(this.plot, this.figureData(this.frame), this.layout(d, camera, font), {
        displaylogo: false,
        // plotly defaults to 2× for WebGL; native resolution halves the cost on HiDPI-less screens.
        plotGlPixelRatio: Math.min(2, window.devicePixelRatio || 1),
        modeBarButtonsToRemove: ["toImage", "resetCameraLastSave3d"],
      });
      this.applying = false;
      if (first || flatSwitch) this.hookPlot();
      this.drawn = true;
      this.sig = d.sig;
      this.scrub.max = String(traj.K - 1);
      this.baseFps = Math.max(4, Math.min(30, traj.K / 10));
      this.updateReadout();
    } else if (font !== this.fontColor) {
      this.fontColor = font;
      await Plotly.relayout(this.plot, { "font.color": font });
    }

    const presetId = d.preset ? d.preset.id : null;
    if (presetId !== this.presetId) {
      this.presetId = presetId;
      if (d.preset && this.drawn) {
        await Plotly.relayout(this.plot, { "scene.camera": d.preset.camera });
      }
    }
    const sf = Number.isInteger(d.start_frame) ? d.start_frame : null;
    if (sf !== this.startSeen) {
      this.startSeen = sf;
      if (sf !== null) this.seek(sf);
    }
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

  reportFrame() {
    if (!this.opts.report_frame || !this.traj || !this.setStateValue) return;
    const src = this.traj.frames ? this.traj.frames[this.frame] : this.frame;
    if (src === this.lastFrameReported) return;
    this.lastFrameReported = src;
    this.setStateValue("frame", src);
  }

  // ---------------------------------------------------------------- figure
  layout(d, camera, font) {
    const r = +d.range || 1.1;
    const axis = (name) => ({
      range: [-r, r],
      autorange: false,
      showspikes: false,
      zeroline: false,
      tickvals: [-1, 0, 1],
      title: { text: name },
    });
    return {
      uirevision: UIREVISION,
      showlegend: false,
      paper_bgcolor: "rgba(0,0,0,0)",
      font: { color: font },
      margin: { l: 0, r: 0, t: d.title ? 32 : 0, b: 0 },
      title: d.title ? { text: d.title, x: 0.01, xanchor: "left", font: { size: 14 } } : undefined,
      scene: {
        uirevision: UIREVISION,
        aspectmode: "cube",
        xaxis: axis("x"),
        yaxis: axis("y"),
        zaxis: { ...axis("z"), visible: !d.flat },
        camera,
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

  figureData(f) {
    const a = this.frameArrays(f);
    const data = [this.surfaceTrace()];
    if (this.opts.trails) {
      // One trace per palette colour (NaN-separated tokens): constant-colour lines are much
      // cheaper for plotly to convert than a per-vertex colour array.
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
    }
    data.push({
      type: "scatter3d",
      mode: "markers",
      name: "tokens",
      x: a.mx,
      y: a.my,
      z: a.mz,
      marker: { size: 5, color: a.mcol, line: { width: 0 } },
      text: a.text,
      hovertemplate: "%{text}<extra></extra>",
    });
    return data;
  }

  frameArrays(f) {
    const { n, x, c, palette } = this.traj;
    const cycle = Math.max(1, palette.length - 1); // last entry = colour of unclustered tokens
    const mx = new Float32Array(n);
    const my = new Float32Array(n);
    const mz = new Float32Array(n);
    const mcol = new Array(n);
    const slot = new Uint16Array(n);
    const text = new Array(n);
    const counts = new Uint32Array(palette.length);
    const base = f * n * 3;
    for (let i = 0; i < n; i++) {
      mx[i] = x[base + 3 * i];
      my[i] = x[base + 3 * i + 1];
      mz[i] = x[base + 3 * i + 2];
      const label = c ? c[f * n + i] : -1;
      slot[i] = label >= 0 ? label % cycle : palette.length - 1;
      counts[slot[i]] += 1;
      mcol[i] = palette[slot[i]];
      text[i] = label >= 0 ? `token ${i}<br>cluster ${label}` : `token ${i}`;
    }
    const out = { mx, my, mz, mcol, text, trails: null };
    if (this.opts.trails) {
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
      out.trails = groups;
    }
    return out;
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
        const g = a.trails || [];
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
    this.counter.textContent = `${this.frame + 1}/${this.traj.K}`;
    this.scrub.value = String(this.frame);
    this.root.dataset.frame = String(this.frame);
  }

  // ---------------------------------------------------------------- transport
  seek(f) {
    if (!this.traj) return;
    this.renderFrame(f);
  }

  step(delta) {
    if (!this.traj) return;
    this.pause(false);
    this.renderFrame(this.frame + delta);
    this.reportFrame();
  }

  goStart() {
    if (!this.traj) return;
    this.pause(false);
    this.renderFrame(0);
    this.reportFrame();
  }

  toggle() {
    if (this.playing) this.pause(true);
    else this.play();
  }

  play() {
    if (!this.traj || this.playing) return;
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
    if (was && report) this.reportFrame();
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
    }
    this.raf = requestAnimationFrame((ts) => this.tick(ts));
  }

  handleKey(e, inside) {
    if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || !this.traj) return;
    const tgt = e.target;
    if (inside && tgt === this.speedSel) return;
    if (inside && tgt === this.scrub && e.key !== " ") return; // native range keys → input event
    let handled = true;
    if (e.key === " " || e.code === "Space") this.toggle();
    else if (e.key === "ArrowRight") this.step(1);
    else if (e.key === "ArrowLeft") this.step(-1);
    else if (e.key === "Home") this.goStart();
    else handled = false;
    if (handled) {
      e.preventDefault();
      if (inside) e.stopPropagation(); // keep Streamlit's own shortcuts out of the player
    }
  }

  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.pause(false);
    REG.players.delete(this);
    if (REG.active === this) REG.active = null;
    if (this.resizeObs) this.resizeObs.disconnect();
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

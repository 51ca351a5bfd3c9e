// ngxcoro stepper: every frame is precomputed in Python; this file only
// looks frames up.  The pictures of the first meta.pictures steps come with
// the page; for a later step the live kernel is asked ("pictures": it draws
// a window of steps from there), and a page without a kernel says which
// steps have pictures.  "Re-run" also needs the kernel (a completion order
// runs the model again).  Plain DOM, no dependencies.

const SPEEDS = [["0.25×", 2000], ["0.5×", 1000], ["1×", 500], ["2×", 250], ["4×", 120], ["8×", 60]];
const CONTEXT = 7;                    // ngxcoro source: lines shown each side of the current one
const LAZY_MAX = 600;                 // pictures from the kernel kept in the browser
const ASK_MS = 4000;                  // no answer by then: no live kernel
// where pack_svgs cuts a picture (pictures.py's _PIECE)
const PIECE = /(?=<g id="[^"]*" class="(?:node|edge|cluster)[^"]*">)/;

function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of kids.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

// toolbar icons as inline SVG (icon fonts and emoji are not everywhere)
const ICONS = {
  first: "M5 4h2v16H5zM19 4v16L8 12z",
  prev: "M17 4v16L6 12z",
  next: "M7 4v16l11-8z",
  last: "M17 4h2v16h-2zM5 4v16l11-8z",
  play: "M7 4v16l13-8z",
  pause: "M6 4h4v16H6zM14 4h4v16h-4z",
};
function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24"); svg.setAttribute("width", "14"); svg.setAttribute("height", "14");
  svg.setAttribute("aria-hidden", "true"); svg.setAttribute("class", "ngxc-icon");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]); path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}

// The graphs arrive packed (stepper.py pack_svgs): base64 of zlib'd JSON
// {pieces, svgs}, each SVG a list of piece numbers.  Unpacked once per run,
// an SVG is joined only when it is shown.
async function unpackGraphs(b64) {
  if (!b64) return { pieces: [], svgs: [] };
  const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const stream = new Blob([bin]).stream().pipeThrough(new DecompressionStream("deflate"));
  return JSON.parse(await new Response(stream).text());
}

// Step i's coroutines (numbers into co_pool, in creation order): a frame
// carries its whole list only at a checkpoint ("cos", with each one's place
// "co_at"); the frames after it carry their changes ("co_diff": [place,
// number or -1]).  Rebuilt from the checkpoint before step i (stepper.py
// build_frames / frame_cos).
function cosAt(fs, i) {
  let c = i;
  while (c > 0 && !fs[c].cos) c--;
  const listed = new Map();
  (fs[c].co_at || []).forEach((at, n) => listed.set(at, fs[c].cos[n]));
  for (let k = c + 1; k <= i; k++) {
    for (const [at, num] of fs[k].co_diff || []) {
      if (num < 0) listed.delete(at); else listed.set(at, num);
    }
  }
  return [...listed.keys()].sort((a, b) => a - b).map((at) => listed.get(at));
}

function scrollWithin(box, row, center) {
  // keep `row` visible inside `box` without scrolling the page around it
  if (!box || !row) return;
  // (box is position: relative, so row.offsetTop is measured from it)
  const top = row.offsetTop, bottom = top + row.offsetHeight;
  const out = top < box.scrollTop || bottom > box.scrollTop + box.clientHeight;
  if (!out) return;
  if (center) box.scrollTop = Math.max(0, top - box.clientHeight / 2 + row.offsetHeight / 2);
  else if (top < box.scrollTop) box.scrollTop = top - 4;
  else box.scrollTop = bottom - box.clientHeight + 4;
}

// t("step of", {step: 3, last: 9}): the widget word in the lesson's
// language (stepper.py sends them as `words`; viz/i18n.py holds them), its
// {placeholders} filled in.  A word missing from `words` shows its key.
function tr(words, key, vals) {
  const w = (words && words[key]) || key;
  return vals ? w.replace(/\{(\w+)\}/g, (m, k) => (k in vals ? String(vals[k]) : m)) : w;
}

function render({ model, el }) {
  const frames = () => model.get("frames") || [];
  const meta = () => model.get("meta") || {};
  const t = (key, vals) => tr(model.get("words"), key, vals);
  let timer = null;                    // play
  let lastSvg = -1, lastLogRow = null, lastSrcKey = "";
  let graphs = null, graphsFor = null;   // unpacked model.get("graphs")
  const lazy = new Map();              // step -> SVG drawn by the kernel on request
  let lazyRun = null, asking = null, askTimer = null, noKernel = false;

  // ------------------------------------------------------------ toolbar
  // every control has a data-ngxc name (tests and scripts find it by that,
  // in any language); its title and aria-label are words
  const btn = (name, label, title, fn) => h("button", { class: "ngxc-btn", title, "aria-label": title,
    "data-ngxc": name, onclick: fn, type: "button" }, label);
  const bFirst = btn("first", icon("first"), t("first step"), () => go(0));
  const bPrev = btn("prev", icon("prev"), t("previous step"), () => go(cur() - 1));
  const bNext = btn("next", icon("next"), t("next step"), () => go(cur() + 1));
  const bLast = btn("last", icon("last"), t("last step"), () => go(frames().length - 1));
  const bPlay = btn("play", [icon("play"), " " + t("play")], t("play / pause"), () => togglePlay());
  bPlay.classList.add("ngxc-play");
  bPlay.dataset.state = "paused";
  const speed = h("select", { class: "ngxc-select", title: t("play speed"), "data-ngxc": "speed" },
    SPEEDS.map(([l, ms]) => h("option", { value: ms }, l)));
  speed.value = "500";
  speed.addEventListener("change", () => { if (timer) { stop(); play(); } });
  const slider = h("input", { type: "range", class: "ngxc-slider", min: 0, max: 0, value: 0, "aria-label": t("step slider") });
  slider.addEventListener("input", () => go(+slider.value));
  const stepLabel = h("span", { class: "ngxc-steplabel" });
  const kind = h("select", { class: "ngxc-select ngxc-kind", title: t("kind to jump to") });
  const bKindPrev = btn("kind-prev", icon("prev"), t("previous of kind"), () => jumpKind(-1));
  const bKindNext = btn("kind-next", icon("next"), t("next of kind"), () => jumpKind(+1));
  const kindNote = h("span", { class: "ngxc-note" });
  const tabGraph = h("button", { class: "ngxc-tab", type: "button", "data-ngxc": "graph", onclick: () => setView("graph") }, t("graph tab"));
  const tabTime = h("button", { class: "ngxc-tab", type: "button", "data-ngxc": "timeline", onclick: () => setView("timeline") }, t("timeline tab"));
  const toolbar = h("div", { class: "ngxc-toolbar" },
    h("span", { class: "ngxc-group" }, bFirst, bPrev, bNext, bLast),
    h("span", { class: "ngxc-group" }, bPlay, speed),
    h("span", { class: "ngxc-group ngxc-grow" }, slider, stepLabel),
    h("span", { class: "ngxc-group" }, h("span", { class: "ngxc-lbl" }, t("jump to")), bKindPrev, kind, bKindNext, kindNote));

  // ------------------------------------------------ where are we: stages
  const stageRow = h("div", { class: "ngxc-stages" });
  const whereRow = h("div", { class: "ngxc-where" });
  const explain = h("div", { class: "ngxc-explain", "aria-live": "polite" });

  // ---------------------------------------------------- completion order
  const labelsSpan = h("span", { class: "ngxc-labels" });
  const orderIn = h("input", { type: "text", class: "ngxc-order", spellcheck: "false",
    placeholder: t("order example"), "aria-label": t("completion order") });
  const bRerun = btn("rerun", t("rerun"), t("rerun title"), () => rerun());
  const rerunNote = h("span", { class: "ngxc-note" });
  orderIn.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); rerun(); } });
  const orderRow = h("div", { class: "ngxc-orderrow" },
    h("span", { class: "ngxc-lbl" }, t("what if")), labelsSpan,
    h("span", { class: "ngxc-lbl" }, t("order")), orderIn, bRerun, rerunNote);

  // ------------------------------------------ this run as a Test::Nginx block
  // (ngxcoro/export.py): the model's answer written as a test of real nginx
  const exportPre = h("pre", { class: "ngxc-code ngxc-export", hidden: true });
  const bExport = btn("export", t("export"), t("export title"), () => {
    exportPre.hidden = !exportPre.hidden;
    bExport.classList.toggle("ngxc-on", !exportPre.hidden);
    fillExport();
  });
  const exportRow = h("div", { class: "ngxc-exportrow" }, bExport, exportPre);
  function fillExport() {
    const m = meta();
    exportPre.textContent = m.export || m.export_note || "";
  }

  // ------------------------------------------------------------- panels
  const graphBox = h("div", { class: "ngxc-graph" });
  const timeBox = h("div", { class: "ngxc-graph ngxc-timeline" });

  const srcTitle = h("div", { class: "ngxc-title" });
  const srcBox = h("div", { class: "ngxc-code ngxc-src" });
  const pyTitle = h("div", { class: "ngxc-title" });
  const pyBox = h("div", { class: "ngxc-code ngxc-py" });
  const logBox = h("div", { class: "ngxc-log" });
  const outTitle = h("div", { class: "ngxc-title" });
  const outBox = h("div", { class: "ngxc-out" });
  const left = h("div", { class: "ngxc-left" },
    h("div", { class: "ngxc-tabs" }, tabGraph, tabTime), graphBox, timeBox,
    h("section", {}, outTitle, outBox), orderRow, exportRow);
  const right = h("div", { class: "ngxc-right" },
    h("section", {}, srcTitle, srcBox),
    h("section", {}, pyTitle, pyBox),
    h("section", {}, h("div", { class: "ngxc-title" }, t("event log")), logBox));

  const root = h("div", { class: "ngxc", tabindex: "0", "data-lm-suppress-shortcuts": "true" },
    toolbar, h("div", { class: "ngxc-status" }, stageRow, whereRow), explain,
    h("div", { class: "ngxc-main" }, left, right));
  el.appendChild(root);

  // -------------------------------------------------------------- logic
  function cur() { return model.get("index") || 0; }
  function go(i) {
    const n = frames().length;
    if (!n) return;
    i = Math.max(0, Math.min(n - 1, i | 0));
    if (i !== cur()) { model.set("index", i); model.save_changes(); }
    else draw();
    if (i >= n - 1 && timer) stop();
  }
  function play() {
    if (cur() >= frames().length - 1) go(0);
    timer = setInterval(() => go(cur() + 1), +speed.value);
    bPlay.replaceChildren(icon("pause"), " " + t("pause")); bPlay.classList.add("ngxc-on");
    bPlay.dataset.state = "playing";
  }
  function stop() {
    if (timer) clearInterval(timer);
    timer = null; bPlay.replaceChildren(icon("play"), " " + t("play")); bPlay.classList.remove("ngxc-on");
    bPlay.dataset.state = "paused";
  }
  function togglePlay() { timer ? stop() : play(); }
  function jumpKind(dir) {
    const fs = frames(), k = kind.value;
    for (let i = cur() + dir; i >= 0 && i < fs.length; i += dir) {
      if (fs[i].event === k) { kindNote.textContent = ""; go(i); return; }
    }
    kindNote.textContent = t(dir > 0 ? "no later" : "no earlier", { kind: k });
  }
  function setView(v) { model.set("view", v); model.save_changes(); }
  let rerunTimer = null;
  function rerun() {
    rerunNote.textContent = t("re-running");
    rerunNote.className = "ngxc-note";
    model.send({ kind: "rerun", order: orderIn.value });
    clearTimeout(rerunTimer);
    rerunTimer = setTimeout(() => {
      if (rerunNote.textContent === t("re-running")) {
        rerunNote.textContent = t("no kernel rerun");
        rerunNote.className = "ngxc-note ngxc-warn";
      }
    }, 4000);
  }

  // ----------------------------------------------------------- rebuilds
  function buildKinds() {
    const fs = frames(), counts = {};
    for (const f of fs) counts[f.event] = (counts[f.event] || 0) + 1;
    const kinds = meta().kinds || Object.keys(counts);
    const prev = kind.value;
    kind.replaceChildren(...kinds.map((k) => h("option", { value: k }, `${k} (${counts[k] || 0})`)));
    const pick = [prev, "run_posted_thread", "post_thread", "run_thread"].find((k) => k && counts[k]);
    if (pick) kind.value = pick;
  }
  function buildLog() {
    const fs = frames();
    logBox.replaceChildren(...fs.map((f, i) => h("div", {
      class: "ngxc-logrow", "data-i": i, onclick: () => go(i), title: f.explain,
    }, h("span", { class: "ngxc-ln" }, String(f.step)), h("span", { class: "ngxc-ev" }, f.event),
      h("span", { class: "ngxc-ex" }, f.explain))));
    lastLogRow = null;
  }
  function buildSource() {
    const src = model.get("source") || {};
    const lines = (src.text || "").split("\n");
    if (lines.length && lines[lines.length - 1] === "") lines.pop();
    const first = src.first || 1;
    srcTitle.textContent = src.kind === "lua" ? t("your lua") : t("your config");
    srcTitle.title = src.kind === "lua" ? t("lua lines title") : "";
    srcBox.replaceChildren(...lines.map((t, k) => h("div", { class: "ngxc-line", "data-line": first + k },
      h("span", { class: "ngxc-gutter" }), h("span", { class: "ngxc-ln" }, String(first + k)),
      h("span", { class: "ngxc-text" }, t || " "))));
  }
  function buildOrder() {
    const m = meta(), labels = m.labels || [];
    orderRow.style.display = labels.length ? "" : "none";
    labelsSpan.replaceChildren(...labels.map((l) => h("span", { class: "ngxc-chip" }, l)));
    orderIn.value = (m.order || m.fired || labels).join(", ");
  }
  function rebuild() {
    stop();
    const n = frames().length;
    slider.max = Math.max(0, n - 1);
    lastSvg = -1; lastSrcKey = "";
    buildKinds(); buildLog(); buildSource(); buildOrder();
    timeBox.innerHTML = model.get("timeline") || "";
    timeBox.title = t("timeline click");
    loadGraphs();
    draw();
  }
  function loadGraphs() {
    const packed = model.get("graphs") || "";
    if (packed === graphsFor) return;
    graphsFor = packed; graphs = null; lastSvg = -1;
    if (typeof DecompressionStream === "undefined") {
      graphBox.replaceChildren(h("div", { class: "ngxc-err" }, t("no decompression")));
      return;
    }
    unpackGraphs(packed).then((g) => {
      if (graphsFor !== packed) return;      // a newer run arrived meanwhile
      graphs = g; lastSvg = -1; draw();
    }, (e) => graphBox.replaceChildren(h("div", { class: "ngxc-err" }, t("cannot unpack") + e)));
  }
  function svgOf(k) {
    // the pieces of precomputed picture k (see paint)
    if (!graphs || k === undefined || !graphs.svgs[k]) return null;
    return graphs.svgs[k].map((p) => graphs.pieces[p]);
  }

  // A picture is a head, one <g> per node / edge / cluster (children of the
  // graph's <g>), and a tail -- the pieces pack_svgs cuts it into.  From one
  // step to the next most pieces are the same (the layout holds still): only
  // the groups that changed are swapped, so a step paints within one frame.
  const SVGNS = "http://www.w3.org/2000/svg";
  let shown = null, shownEl = null;    // the pieces in graphBox, and its <svg>
  function paint(pieces) {
    const svg = graphBox.firstElementChild;
    const top = svg === shownEl && svg ? svg.querySelector(":scope > g") : null;
    const groups = top ? top.querySelectorAll(":scope > g") : [];
    if (top && shown && pieces.length === shown.length && pieces[0] === shown[0]
        && groups.length === pieces.length - 1) {
      const changed = [];
      for (let j = 1; j < pieces.length; j++) if (pieces[j] !== shown[j]) changed.push(j);
      if (changed.length * 2 <= pieces.length) {
        const news = changed.map((j) => {
          const tmp = document.createElementNS(SVGNS, "g");
          tmp.innerHTML = j === pieces.length - 1 ? pieces[j].replace(/<\/g>\s*<\/svg>\s*$/, "") : pieces[j];
          return tmp.firstElementChild;
        });
        if (news.every((g) => g)) {
          changed.forEach((j, n) => groups[j - 1].replaceWith(news[n]));
          shown = pieces;
          return;
        }
      }
    }
    graphBox.innerHTML = pieces.join("");
    shown = pieces; shownEl = graphBox.firstElementChild;
  }

  // --------------------------------------------------------------- draw
  function drawStages(f, m) {
    const stages = [];
    (m.stages || []).forEach((s, k) => {
      if (k) stages.push(h("span", { class: "ngxc-arrow" }, "›"));
      const said = t("stage " + s);
      stages.push(h("span", { class: "ngxc-stage" + (s === f.stage ? " ngxc-on" : ""), "data-stage": s },
        said === "stage " + s ? s : said));
    });
    stageRow.replaceChildren(...stages);
    const bits = [
      ["C", f.c_function ? f.c_function + "()" : "—"],
      ["ngxcoro", (f.function || "?") + "()"],
      [t("where phase"), f.phase || "—"], ["uri", f.uri || "—"],
      ["r->count", f.count === null || f.count === undefined ? "—" : String(f.count)],
      ["t", `${f.t_ms} ms`],
    ];
    if (f.cur_co_ctx) bits.push(["cur_co_ctx", f.cur_co_ctx]);
    if (f.posted_threads && f.posted_threads.length) bits.push(["posted_threads", f.posted_threads.join(" → ")]);
    if (f.rc) bits.push(["rc", f.rc]);
    whereRow.replaceChildren(...bits.map(([k, v]) => h("span", { class: "ngxc-kv" },
      h("span", { class: "ngxc-k" }, k), h("code", {}, v))));
  }
  function drawSource(f, i) {
    const tags = {};
    const pool = model.get("co_pool") || [];
    for (const c of cosAt(frames(), i).map((k) => pool[k])) {
      if (c.line === null || c.line === undefined) continue;
      (tags[c.line] = tags[c.line] || []).push(c);
    }
    let focus = null;
    for (const row of srcBox.children) {
      const line = +row.dataset.line, g = row.firstChild, here = tags[line] || [];
      g.replaceChildren(...here.map((c) => h("span", {
        class: `ngxc-tag ngxc-st-${c.status}` + (c.name === f.cur_co_ctx ? " ngxc-cur" : ""),
        title: `${c.name} (${c.kind}, ${c.status})${c.waiting ? ": " + c.waiting : ""}`,
      }, c.name)));
      row.classList.toggle("ngxc-hit", here.length > 0);
      row.classList.toggle("ngxc-curline", here.some((c) => c.name === f.cur_co_ctx));
      if (here.some((c) => c.name === f.cur_co_ctx) || (!focus && here.length)) focus = row;
    }
    if (focus) scrollWithin(srcBox, focus, false);
  }
  function drawPy(f) {
    const text = (model.get("sources") || {})[f.file];
    const key = `${f.file}:${f.line}`;
    pyTitle.replaceChildren(h("span", {}, t("model source")), h("code", {}, key),
      f.c_function ? h("span", { class: "ngxc-dim" }, t("stands for", { c: f.c_function })) : null);
    if (key === lastSrcKey) return;
    lastSrcKey = key;
    if (!text || !f.line) { pyBox.replaceChildren(h("div", { class: "ngxc-dim" }, t("no source"))); return; }
    const lines = text.split("\n"), lo = Math.max(1, f.line - CONTEXT), hi = Math.min(lines.length, f.line + CONTEXT);
    const rows = [];
    for (let k = lo; k <= hi; k++) {
      rows.push(h("div", { class: "ngxc-line" + (k === f.line ? " ngxc-curline" : "") },
        h("span", { class: "ngxc-gutter" }, k === f.line ? "➜" : ""),
        h("span", { class: "ngxc-ln" }, String(k)), h("span", { class: "ngxc-text" }, lines[k - 1] || " ")));
    }
    pyBox.replaceChildren(...rows);
  }
  function drawOut(f, m) {
    const o = f.out || {};
    const sent = o.sent !== undefined ? o.sent : (m.body || "").slice(0, o.sent_n || 0);
    outTitle.replaceChildren(h("span", {}, t("output so far")),
      h("span", { class: "ngxc-dim" }, o.status ? t("status sent", { status: o.status }) + (o.complete ? t("response complete") : "") : t("nothing sent")));
    const parts = [h("div", { class: "ngxc-sent", title: t("sent to client") },
      sent ? sent : h("span", { class: "ngxc-dim" }, t("no body bytes")))];
    if (o.held) parts.push(h("div", { class: "ngxc-heldlbl" }, t("held back")),
      h("div", { class: "ngxc-held" }, o.held));
    const log = (m.error_log || []).slice(0, f.log_lines || 0);
    if (log.length) parts.push(h("div", { class: "ngxc-heldlbl" }, `error.log (${log.length})`),
      h("div", { class: "ngxc-errlog" }, log.slice(-6).map((l) => h("div", {}, l))));
    outBox.replaceChildren(...parts);
  }
  function drawTimeline(i) {
    // timeline_svg's root says where step k is: x = data-x0 + (k + 0.5) * data-step-width
    const svg = timeBox.querySelector("svg");
    if (!svg) return;
    const x0 = parseFloat(svg.dataset.x0), sw = parseFloat(svg.dataset.stepWidth);
    if (isNaN(x0) || isNaN(sw)) return;
    let cur = svg.querySelector(".ngxc-tl-marker");
    if (!cur) {
      const ns = "http://www.w3.org/2000/svg";
      cur = document.createElementNS(ns, "rect");
      cur.setAttribute("class", "ngxc-tl-marker");
      const axis = svg.querySelector("g.steps line");
      const bottom = axis ? parseFloat(axis.getAttribute("y1")) : parseFloat(svg.getAttribute("height")) - 40;
      cur.setAttribute("y", "22"); cur.setAttribute("height", String(Math.max(0, bottom - 22)));
      svg.appendChild(cur);
    }
    const w = Math.max(sw, 2);
    cur.setAttribute("x", String(x0 + (i + 0.5) * sw - w / 2));
    cur.setAttribute("width", String(w));
    if (timeBox.style.display !== "none" && timeBox.clientWidth) {
      // keep the marker in view when the timeline is wider than its box
      const scale = svg.getBoundingClientRect().width / (parseFloat(svg.getAttribute("width")) || 1);
      const x = (x0 + (i + 0.5) * sw) * scale;
      if (x < timeBox.scrollLeft + 40 || x > timeBox.scrollLeft + timeBox.clientWidth - 40)
        timeBox.scrollLeft = Math.max(0, x - timeBox.clientWidth / 2);
    }
  }
  function timelineClick(e) {
    // a click on the timeline jumps to that step
    const svg = timeBox.querySelector("svg");
    if (!svg || !svg.getScreenCTM()) return;
    const x0 = parseFloat(svg.dataset.x0), sw = parseFloat(svg.dataset.stepWidth);
    if (isNaN(x0) || isNaN(sw)) return;
    const pt = new DOMPoint(e.clientX, e.clientY).matrixTransform(svg.getScreenCTM().inverse());
    const k = Math.floor((pt.x - x0) / sw);
    if (k >= 0 && k < frames().length) go(k);
  }
  timeBox.addEventListener("click", timelineClick);
  function draw() {
    const fs = frames(), m = meta(), n = fs.length;
    const i = Math.max(0, Math.min(n - 1, cur()));
    const view = model.get("view") || "graph";
    tabGraph.classList.toggle("ngxc-on", view !== "timeline");
    tabTime.classList.toggle("ngxc-on", view === "timeline");
    graphBox.style.display = view === "timeline" ? "none" : "";
    timeBox.style.display = view === "timeline" ? "" : "none";
    const focused = document.activeElement;
    for (const b of [bFirst, bPrev]) b.disabled = i <= 0;
    for (const b of [bNext, bLast]) b.disabled = i >= n - 1;
    // a button that just disabled itself (first/prev at step 0, next/last at
    // the end) drops the focus to <body>: keep it in the stepper, or the
    // arrow keys stop working (and in JupyterLab move the cell selection)
    if (focused && focused.disabled && root.contains(focused)) root.focus({ preventScroll: true });
    if (!n) {
      stepLabel.textContent = t("no steps");
      stepLabel.dataset.step = ""; stepLabel.dataset.last = "";
      const errs = m.errors && m.errors.length ? m.errors : [m.message || t("no steps recorded")];
      explain.replaceChildren(...errs.map((e) => h("div", { class: "ngxc-err" }, e)));
      graphBox.replaceChildren(); stageRow.replaceChildren(); whereRow.replaceChildren();
      return;
    }
    const f = fs[i];
    slider.value = i;
    // the words say it; data-step / data-last say it in any language
    stepLabel.textContent = t("step of", { step: f.step, last: fs[n - 1].step });
    stepLabel.dataset.step = f.step; stepLabel.dataset.last = fs[n - 1].step;
    stepLabel.title = t("steps numbered", { last: fs[n - 1].step });
    explain.replaceChildren(h("code", { class: "ngxc-evname" }, f.event), h("span", {}, f.explain));
    if (i === n - 1 && (m.message || (m.errors || []).length))
      explain.appendChild(h("div", { class: "ngxc-err" }, m.message || m.errors[m.errors.length - 1]));
    drawStages(f, m);
    if (f.svg === undefined) drawLazy(i, m);
    else if (f.svg !== lastSvg) {
      const svg = svgOf(f.svg);
      if (svg !== null) { paint(svg); lastSvg = f.svg; }
      else if (!graphs) graphBox.replaceChildren(h("div", { class: "ngxc-dim" }, t("unpacking")));
    }
    drawTimeline(i);
    drawSource(f, i);
    drawPy(f);
    drawOut(f, m);
    if (lastLogRow) lastLogRow.classList.remove("ngxc-curline");
    lastLogRow = logBox.children[i] || null;
    if (lastLogRow) { lastLogRow.classList.add("ngxc-curline"); scrollWithin(logBox, lastLogRow, true); }
  }

  // ---------------------------------------- pictures past the precomputed ones
  function capNote(m) {
    return t("cap note", { last: (m.pictures || 0) - 1 });
  }
  function drawLazy(i, m) {
    if (lazyRun !== m.run) { lazy.clear(); lazyRun = m.run; asking = null; }
    const key = "lazy:" + i;
    if (lazy.has(i)) {
      if (lastSvg !== key) { paint(lazy.get(i)); lastSvg = key; }
      if (!lazy.has(Math.min(i + 8, (m.steps || 1) - 1))) ask(i + 1, m);   // the next window, ahead
      return;
    }
    if (lastSvg !== "wait") {
      graphBox.replaceChildren(h("div", { class: noKernel ? "ngxc-note ngxc-warn" : "ngxc-dim" },
        noKernel ? capNote(m) : t("drawing step", { i })));
      lastSvg = "wait";
    }
    ask(i, m);
  }
  function ask(i, m) {
    if (asking !== null && i >= asking && i < asking + 8) return;   // already asked
    asking = i;
    try { model.send({ kind: "pictures", step: i, run: m.run }); } catch (e) { /* no kernel */ }
    clearTimeout(askTimer);
    askTimer = setTimeout(() => {
      asking = null;
      if (noKernel) return;
      noKernel = true;                 // an exported page: say so, once
      if (lastSvg === "wait") { lastSvg = -1; draw(); }
    }, ASK_MS);
  }
  function onCustom(msg) {
    if (!msg || msg.kind !== "pictures" || msg.run !== meta().run) return;
    clearTimeout(askTimer);
    asking = null; noKernel = false;
    if (lazyRun !== msg.run) { lazy.clear(); lazyRun = msg.run; }
    if (msg.error) { graphBox.replaceChildren(h("div", { class: "ngxc-err" }, t("cannot draw") + msg.error)); return; }
    for (const [k, svg] of Object.entries(msg.svgs || {})) {
      lazy.delete(+k); lazy.set(+k, svg.split(PIECE));
      if (lazy.size > LAZY_MAX) lazy.delete(lazy.keys().next().value);   // the oldest
    }
    if (String(lastSvg).startsWith("lazy:") || lastSvg === "wait") lastSvg = -1;
    draw();
  }
  model.on("msg:custom", onCustom);

  // ----------------------------------------------------------- keyboard
  function onKey(e) {
    const t = e.target;
    if (t && (t.tagName === "SELECT" || t.tagName === "TEXTAREA" || (t.tagName === "INPUT" && t.type !== "range"))) return;
    const k = e.key;
    if (k === "ArrowRight" || k === "ArrowDown") go(cur() + 1);
    else if (k === "ArrowLeft" || k === "ArrowUp") go(cur() - 1);
    else if (k === "Home") go(0);
    else if (k === "End") go(frames().length - 1);
    else if (k === " " || k === "Spacebar") togglePlay();
    else return;
    e.preventDefault(); e.stopPropagation();   // JupyterLab must not see it (nor the range input)
  }
  root.addEventListener("keydown", onKey, true);

  let pending = false;                  // frames, graphs and timeline change together
  const onFrames = () => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => { pending = false; rebuild(); fillExport(); });
  };
  const onIndex = () => draw();
  const onStatus = () => {
    clearTimeout(rerunTimer);
    const s = model.get("rerun_status") || "";
    rerunNote.textContent = s;
    // a warning begins as the "unknown label" or "rerun failed" words do
    const warn = ["unknown label", "rerun failed"].some((k) => s && s.startsWith(t(k).split("{")[0]));
    rerunNote.className = "ngxc-note" + (warn ? " ngxc-warn" : "");
  };
  const listeners = [["change:frames", onFrames], ["change:index", onIndex],
                     ["change:view", onIndex], ["change:timeline", onFrames],
                     ["change:graphs", onFrames], ["change:rerun_status", onStatus]];
  listeners.forEach(([ev, f]) => model.on(ev, f));
  rebuild();
  onStatus();
  return () => {
    stop();
    clearTimeout(rerunTimer);
    clearTimeout(askTimer);
    listeners.forEach(([ev, f]) => model.off(ev, f));
    model.off("msg:custom", onCustom);
  };
}

export default { render };

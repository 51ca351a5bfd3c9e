"""Small pieces the lessons share: a predict-then-reveal question, the
"the blog says / nginx does" box, and text views of a run that nbval can
check (the stap trace, the count history, a side-by-side with real nginx).

Widgets here keep their logic in the browser (anywidget), so they work in
an exported HTML page with no kernel.
"""
from __future__ import annotations

import html
import re
import sys

import anywidget
import traitlets

from .. import run
from .i18n import word, words


_PREDICT_ESM = r"""
function render({ model, el }) {
  const q = model.get("question"), opts = model.get("options");
  const box = document.createElement("div");
  box.className = "ngxcoro-predict";
  box.style.cssText = "border:1px solid var(--jp-border-color1,#bbb);border-radius:6px;" +
    "padding:8px 12px;margin:4px 0;font-family:var(--jp-ui-font-family,sans-serif);" +
    "color:var(--jp-ui-font-color1,#222)";
  const h = document.createElement("div");
  const w = model.get("words");
  h.innerHTML = "<b>" + w["predict"] + "</b> " + q;
  box.appendChild(h);
  let chosen = null;
  const row = document.createElement("div");
  row.style.cssText = "display:flex;flex-wrap:wrap;gap:6px;margin:6px 0";
  const buttons = opts.map((o, i) => {
    const b = document.createElement("button");
    b.textContent = o;
    b.dataset.option = i;
    b.style.cssText = "padding:3px 10px;border-radius:4px;border:1px solid #888;" +
      "background:var(--jp-layout-color1,#fff);color:inherit;cursor:pointer;font-family:monospace";
    b.onclick = () => { chosen = i; buttons.forEach((x, j) =>
      x.style.outline = (j === i) ? "2px solid #0072B2" : "none"); };
    row.appendChild(b);
    return b;
  });
  box.appendChild(row);
  const check = document.createElement("button");
  check.textContent = w["check"];
  check.dataset.ngxc = "check";         // found by this name in any language
  check.style.cssText = "padding:3px 12px;border-radius:4px;cursor:pointer";
  const out = document.createElement("div");
  out.style.cssText = "margin-top:6px";
  out.className = "ngxcoro-verdict";
  check.onclick = () => {
    if (chosen === null) { out.textContent = w["pick first"]; out.dataset.verdict = "none"; return; }
    const ok = chosen === model.get("answer");
    out.dataset.verdict = ok ? "right" : "wrong";
    out.innerHTML = (ok ? "&#10004; <b>" + w["right"] + "</b> " : "&#10008; <b>" + w["not quite"] +
      "</b> " + w["the answer is"] + " <code>" +
      opts[model.get("answer")].replace(/</g, "&lt;") + "</code>. ") + model.get("explain");
    out.style.color = ok ? "#009E73" : "#D55E00";
  };
  box.appendChild(check);
  box.appendChild(out);
  el.appendChild(box);
}
export default { render };
"""


class Predict(anywidget.AnyWidget):
    """A question, a few answers, a Check button and the explanation."""
    _esm = _PREDICT_ESM
    question = traitlets.Unicode().tag(sync=True)
    options = traitlets.List(traitlets.Unicode()).tag(sync=True)
    answer = traitlets.Int().tag(sync=True)
    explain = traitlets.Unicode().tag(sync=True)
    words = traitlets.Dict().tag(sync=True)        # the chrome, in the lesson's language

    def __init__(self, question, options, answer, explain):
        super().__init__(question=question, options=list(options),
                         answer=list(options).index(answer) if isinstance(answer, str) else answer,
                         explain=explain, words=words("predict", "check", "pick first", "right",
                                                      "not quite", "the answer is"))

    def _repr_mimebundle_(self, **kw):
        bundle = super()._repr_mimebundle_(**kw)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = f"{self.words['predict']} {html.unescape(self.question)}"
        return bundle


def scenario(name):
    """(config text, request line, recording from real nginx) of a scenario."""
    text, info, rec = scenario_info(name)
    return text, info["request"], rec


def scenario_info(name):
    """(config text, its header lines as oracle.parse_scenario reads them
    -- request, headers, body --, recording from real nginx), from the
    scenarios the package ships (ngxcoro/oracle/scenarios)."""
    from ..oracle import read_scenario
    return read_scenario(name)


class BlogBox:
    """"The blog says / nginx does", backed by a differential scenario: the
    model's answer and real nginx's recorded answer for the same config."""

    def __init__(self, blog_says, nginx_does, scenario_name, says="blog"):
        """`says="belief"` for a claim the seed blog does not make (it stops at the
        first ring): the box then says "You might expect:" instead of "The blog says:"."""
        self.blog_says, self.nginx_does, self.name = blog_says, nginx_does, scenario_name
        self.says = says
        text, info, rec = scenario_info(scenario_name)
        self.model = run(text, info["request"], headers=info["headers"], body=info["body"],
                         log_level="debug", peers=info.get("peers"),
                         abort_at=info.get("client_abort_at"), quit_at=info.get("quit_at"))
        self.nginx = rec

    def agree(self):
        return (self.nginx is not None and self.model.status == self.nginx["status"]
                and self.model.body == self.nginx["body"])

    @staticmethod
    def _inline(s):
        """Text with `code` spans as <code>, the rest escaped (as markdown shows it)."""
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(s))

    def _body(self, s):
        return html.escape(s if len(s) < 400 else s[:400] + "…")

    def _repr_html_(self):
        rec = self.nginx or {}
        verdict = word("agree") if self.agree() else word("differ")
        none = word("no response")
        return (
            "<div style='border-left:4px solid #E69F00;padding:6px 12px;margin:6px 0;"
            "background:rgba(230,159,0,.08)'>"
            f"<div><b>{word(self.says + ' says')}</b> {self._inline(self.blog_says)}</div>"
            f"<div><b>{word('nginx does')}</b> {self._inline(self.nginx_does)}</div>"
            f"<div style='font-size:90%;margin-top:4px'>{word('scenario')} <code>{self.name}"
            f"</code>: {word('nginx answered')} <code>{rec.get('status') or none}</code> "
            f"<pre style='margin:2px 0'>{self._body(rec.get('body', ''))}</pre>"
            f"{word('model answers')} <code>{self.model.status or none}</code>: "
            f"{verdict}.</div></div>")

    def __repr__(self):
        rec = self.nginx or {}
        return "\n".join((
            word("text says", head=word(self.says + " says"), text=self.blog_says),
            word("text does", head=word("nginx does"), text=self.nginx_does),
            word("text scenario", name=self.name, status=rec.get("status"),
                 body=repr(rec.get("body", ""))),
            word("text model", status=self.model.status, body=repr(self.model.body)),
            word("text agree", agree=word("true" if self.agree() else "false"))))


# --------------------------------------------------------------- text views
def count_history(result):
    """r->count's story, one line per finalize_request and count change."""
    out = []
    for e in result.events:
        if e["event"] == "count":
            out.append(f"{e['t_ms']:>5} ms  count {e['delta']:+d} -> {e['c']}  ({e['cause']})")
        elif e["event"] == "finalize_request":
            from ..nginx.core import rc_name
            out.append(f"{e['t_ms']:>5} ms  finalize_request(r, {rc_name(e['rc'])}) "
                       f"{e['uri']} c:{e['c']}")
        elif e["event"] == "free_request":
            out.append(f"{e['t_ms']:>5} ms  request freed")
    return "\n".join(out)


def count_chart_svg(result, width=560, height=160):
    """r->count over the steps of a run, as a small step chart (SVG)."""
    pts, step, c = [(0, 1)], 0, 1
    marks = []
    for e in result.events:
        step += 1
        if e["event"] == "count":
            c = e["c"]
            pts.append((step, c))
        elif e["event"] == "finalize_request":
            marks.append((step, e["rc"]))
    n = max(step, 1)
    top = max(p[1] for p in pts) + 1
    x = lambda s: 40 + (width - 60) * s / n
    from ..nginx.core import rc_name
    # a finalize label goes on the first row where it clears the labels
    # already there (rc names are 6-10 characters of 9 px text)
    rows, labels = [], []
    for s, rc in marks:
        name = rc_name(rc)
        half = 2.8 * len(name) + 3
        k = next((k for k, right in enumerate(rows) if x(s) - half >= right), len(rows))
        if k == len(rows):
            rows.append(0.0)
        rows[k] = x(s) + half
        labels.append((s, name, k))
    plot_top = 20 + 11 * max(len(rows) - 1, 0)
    y = lambda v: height - 25 - (height - 25 - plot_top) * v / top
    path = f"M{x(0):.1f},{y(1):.1f}"
    prev = 1
    for s, v in pts[1:]:
        path += f" L{x(s):.1f},{y(prev):.1f} L{x(s):.1f},{y(v):.1f}"
        prev = v
    path += f" L{x(n):.1f},{y(prev):.1f}"
    ticks = "".join(f"<text x='30' y='{y(v) + 4:.1f}' font-size='10' text-anchor='end'>{v}</text>"
                    for v in range(0, top + 1))
    fm = "".join(f"<line x1='{x(s):.1f}' x2='{x(s):.1f}' y1='{y(0):.1f}' y2='{12 + 11 * k:.1f}' "
                 f"stroke='#CC79A7' stroke-dasharray='3,3'/><text x='{x(s):.1f}' y='{10 + 11 * k}' "
                 f"font-size='9' text-anchor='middle' fill='#CC79A7'>{html.escape(name)}</text>"
                 for s, name, k in labels)
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"font-family='sans-serif'>{ticks}{fm}<path d='{path}' fill='none' stroke='#0072B2' "
            f"stroke-width='2'/><text x='{width / 2:.0f}' y='{height - 5}' font-size='10' "
            f"text-anchor='middle'>{html.escape(word('chart x'))}</text>"
            f"<text x='8' y='{height / 2:.0f}' font-size='10' transform='rotate(-90 8 "
            f"{height / 2:.0f})' text-anchor='middle'>r-&gt;count</text></svg>")


class SVG:
    """Display an SVG string in a notebook (no kernel needed to see it)."""

    def __init__(self, svg):
        self.svg = svg

    def _repr_svg_(self):
        return self.svg


def side_by_side(config_text, request="GET /t", **kw):
    """The model's count history next to real nginx's (when nginx is here),
    normalised and aligned; rows that differ are marked '!'."""
    from .. import oracle
    res = run(config_text, request, log_level="debug", **kw)
    mine = oracle.model_count_history(res.events)
    ok, why = oracle.available()
    if not ok:
        return ("real nginx is not installed here (" + why + "). On Debian/Ubuntu: "
                "apt-get install nginx-light libnginx-mod-http-lua libnginx-mod-http-echo\n"
                "model:\n  " + "\n  ".join(mine))
    real = oracle.run_real(config_text, request, **kw)
    theirs = oracle.count_history(real["debug"])
    import difflib
    rows = [f"  {'real nginx':<40} | model", f"  {'-' * 40} | -----"]
    sm = difflib.SequenceMatcher(a=theirs, b=mine, autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        a, b = theirs[i1:i2], mine[j1:j2]
        for k in range(max(len(a), len(b))):
            left = a[k] if k < len(a) else ""
            right = b[k] if k < len(b) else ""
            rows.append(f"{' ' if tag == 'equal' else '!'} {left:<40} | {right}")
    rows.append(f"status: nginx {real['status']} / model {res.status}; body "
                + ("same" if real["body"] == res.body else "differs"))
    return "\n".join(rows)


_TWEAK_ESM = r"""
function render({ model, el }) {
  const labels = model.get("labels"), views = model.get("views");
  const wrap = document.createElement("div");
  wrap.style.cssText = "font-family:var(--jp-ui-font-family,sans-serif);" +
    "color:var(--jp-ui-font-color1,#222)";
  const row = document.createElement("div");
  row.style.cssText = "display:flex;align-items:center;gap:8px;margin:4px 0";
  const name = document.createElement("span");
  name.textContent = model.get("description");
  const sel = document.createElement("input");
  sel.type = "range"; sel.min = 0; sel.max = labels.length - 1; sel.step = 1;
  sel.value = model.get("index");
  sel.style.width = "220px";
  const val = document.createElement("code");
  const view = document.createElement("div");
  function show(i) {
    val.textContent = labels[i];
    view.innerHTML = views[i];
    model.set("index", i); model.save_changes();
  }
  sel.oninput = () => show(parseInt(sel.value));
  row.append(name, sel, val);
  wrap.append(row, view);
  el.appendChild(wrap);
  show(model.get("index"));
}
export default { render };
"""


class Tweak(anywidget.AnyWidget):
    """A control over a few precomputed variants: moving it switches the
    picture in the browser, so it keeps working with no kernel."""
    _esm = _TWEAK_ESM
    description = traitlets.Unicode().tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    views = traitlets.List(traitlets.Unicode()).tag(sync=True)
    index = traitlets.Int(0).tag(sync=True)

    def __init__(self, description, values, view, index=0):
        """`view(value)` returns HTML (an SVG, a <pre>, ...) for each value."""
        super().__init__(description=description, labels=[str(v) for v in values],
                         views=[view(v) for v in values], index=index)

    def _repr_mimebundle_(self, **kw):
        bundle = super()._repr_mimebundle_(**kw)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/plain"] = f"Tweak: {self.description} {self.labels[self.index]}"
        data["text/html"] = self.views[self.index]
        return bundle


def pre(text):
    """Text as an HTML <pre> block (for Tweak views)."""
    return ("<pre style='margin:2px 0;font-size:12px;line-height:1.35'>"
            + html.escape(text) + "</pre>")


def report(*lines):
    """Print the lines as one block: a single write keeps a saved output byte-stable
    (several prints may reach the notebook as several streams)."""
    sys.stdout.write("\n".join(map(str, lines)) + "\n")

"""How long one step of the stepper takes in the browser (prints figures; not a test).

    python3 bench/bench_browser.py            # needs playwright (pip) and /usr/bin/chromium

For a small, a medium and a large run it builds a page holding the stepper's
JavaScript and its precomputed frames (the same data the widget syncs), opens
it in headless Chromium, and times, inside the page, "Next" from the click
until the new SVG is in the DOM and painted (two animation frames), over
every step up to 300.  For comparison it also times the kernel-side way of
drawing a step: building the DOT of a snapshot and rendering it to SVG.

Then it opens a big run (7,000 light threads that sleep and are waited on:
about 180,000 events, recorded up to the snapshot cap) the way a learner
would: the model run, the Stepper built, the page loaded until the first
step's picture is in the DOM, and a jump to the last step.
"""
from __future__ import annotations

import json
import pathlib
import statistics
import sys
import tempfile
import time

import ngxcoro
from ngxcoro.viz import graph, render
from ngxcoro.viz.stepper import Stepper

BIG = ("local ts = {} for i = 1, 7000 do ts[i] = ngx.thread.spawn(function() "
       "ngx.sleep((i % 50) / 1000) end) end for i = 1, 7000 do ngx.thread.wait(ts[i]) end")

CASES = {
    "small": "local t = ngx.thread.spawn(function() ngx.sleep(0.1) end) ngx.thread.wait(t)",
    "medium": "local ts = {} for i = 1, 12 do ts[i] = ngx.thread.spawn(function() "
              "ngx.sleep(i / 100) end) end for i = 1, 12 do ngx.thread.wait(ts[i]) end",
    "large": "local ts = {} for i = 1, 120 do ts[i] = ngx.thread.spawn(function() "
             "ngx.sleep(i / 1000) end) end for i = 1, 120 do ngx.thread.wait(ts[i]) end",
}

PAGE = """<!doctype html><html><head><meta charset="utf-8"><style>{css}</style></head>
<body><div id="out"></div>
<script id="state" type="application/json">{state}</script>
<script id="esm" type="text/plain">{esm}</script>
<script type="module">
const state = JSON.parse(document.getElementById('state').textContent);
const handlers = {{}};
const model = {{
  get: k => state[k],
  set: (k, v) => {{ const old = state[k]; state[k] = v;
                   if (old !== v) (handlers['change:' + k] || []).forEach(f => f()); }},
  on: (e, f) => {{ (handlers[e] = handlers[e] || []).push(f); }},
  off: (e, f) => {{ handlers[e] = (handlers[e] || []).filter(g => g !== f); }},
  save_changes() {{}}, send() {{}},
}};
const url = URL.createObjectURL(new Blob([document.getElementById('esm').textContent],
                                        {{type: 'text/javascript'}}));
const mod = await import(url);
await mod.default.render({{model, el: document.getElementById('out')}});
window.__model = model;
window.__ready = true;
</script></body></html>"""

STEP = """async (n) => {
  const m = window.__model, out = [];
  const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    m.set('index', i + 1);
    const t1 = performance.now();
    await frame();
    out.push([t1 - t0, performance.now() - t0]);
  }
  return out;
}"""


def page_for(st, path):
    state = {k: getattr(st, k) for k in st.trait_names(sync=True)
             if not k.startswith("_") and k not in ("layout", "tabbable", "tooltip")}
    state.update(index=0, view="graph")
    html = PAGE.format(css=Stepper._css.default_value,
                       state=json.dumps(state).replace("</", "<\\/"),
                       esm=Stepper._esm.default_value.replace("</", "<\\/"))
    path.write_text(html)
    return len(html)


def main():
    from playwright.sync_api import sync_playwright
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="ngxcoro-bench-"))
    print(f"renderer: {render.renderer()}; chromium headless; python {sys.version.split()[0]}")
    print(f"{'case':>7} {'steps':>6} {'page KB':>8} | {'browser: JS work ms':>19} | "
          f"{'browser: to paint ms':>20} | {'kernel: DOT+SVG ms':>18}")
    print(f"{'':>7} {'':>6} {'':>8} | {'median':>9} {'p95':>9} | {'median':>9} {'p95':>10} | "
          f"{'median':>8} {'p95':>9}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        for name, lua in CASES.items():
            res = ngxcoro.run_lua(lua, snapshots=True)
            st = Stepper(res)
            path = tmp / f"{name}.html"
            size = page_for(st, path)
            pg = browser.new_page(viewport={"width": 1400, "height": 1000})
            pg.goto(path.as_uri())
            pg.wait_for_function("window.__ready === true", timeout=60000)
            n = min(len(res.snapshots) - 1, 300)
            pairs = pg.evaluate(STEP, n)
            sync = sorted(a for a, _ in pairs)
            ms = sorted(b for _, b in pairs)
            pg.close()
            kernel = []
            snaps = res.snapshots
            for i in range(1, min(len(snaps), 60)):
                t0 = time.perf_counter()
                render.svg(graph.to_dot(snaps[i], snaps[i - 1]) + f"\n/* {i} {time.time()} */")
                kernel.append((time.perf_counter() - t0) * 1000)
            kernel.sort()
            q = lambda xs: xs[int(len(xs) * .95)]
            print(f"{name:>7} {len(snaps):>6} {size / 1024:>8.0f} | "
                  f"{statistics.median(sync):>9.2f} {q(sync):>9.2f} | "
                  f"{statistics.median(ms):>9.1f} {q(ms):>10.1f} | "
                  f"{statistics.median(kernel):>8.1f} {q(kernel):>9.1f}")
        # a big run, opened: model run, Stepper, page load to the first picture, last step
        t0 = time.perf_counter()
        res = ngxcoro.run_lua(BIG, snapshots=True)
        t_run = time.perf_counter() - t0
        t0 = time.perf_counter()
        st = Stepper(res)
        t_st = time.perf_counter() - t0
        path = tmp / "big.html"
        size = page_for(st, path)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        pg.goto(path.as_uri())
        pg.wait_for_function("window.__ready === true && !!document.querySelector("
                             "'.ngxc-graph svg')", timeout=120000)
        t_open = time.perf_counter() - t0
        t0 = time.perf_counter()
        pg.evaluate("() => window.__model.set('index', window.__model.get('frames').length - 1)")
        pg.wait_for_function("document.querySelector('.ngxc-steplabel').dataset.step == "
                             "document.querySelector('.ngxc-steplabel').dataset.last")
        t_last = time.perf_counter() - t0
        pg.close()
        note = next((n for n in res.notes if n.startswith("steps")), "")
        more = int(note.split(";")[1].split()[0].replace(",", "")) if ";" in note else 0
        print(f"\nbig run: {len(res.snapshots) + more:,} steps, {len(res.snapshots):,} "
              f"recorded ({note or 'all'})")
        print(f"  model run {t_run:.1f} s + Stepper {t_st:.1f} s + page open to the first "
              f"picture {t_open:.1f} s = {t_run + t_st + t_open:.1f} s ({size / 2**20:.1f} MB "
              f"page); jump to the last step {t_last * 1000:.0f} ms")
        browser.close()
    print("browser JS work: the synchronous update after the step changes (decode the frame,"
          " swap the SVG, mark the source);")
    print("browser to paint: until the new frame is painted (2 animation frames, so ~33 ms"
          " is the floor at 60 Hz in headless Chromium);")
    print("kernel: what a Python-driven stepper would spend per step before any round trip.")


if __name__ == "__main__":
    main()

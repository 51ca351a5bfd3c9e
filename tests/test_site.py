"""The static site: built by tools/build_site.py, opened from disk (file://)
in a real Chromium with every non-file request aborted, a stepper steps.

Builds one lesson (the first one with a stepper, the tour) into a temporary
dir; the npm packages come from the cache in build/npm/ (fetched with
`npm pack` the first time).  Marked `browser`; also needs npm on PATH the
first time (CI: `.ci/run` installs it when missing).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from conftest import ARTIFACTS, ROOT

pytestmark = pytest.mark.browser

LESSON = next(iter(sorted((ROOT / "notebooks").glob("00-*.ipynb"))), None) or next(
    iter(sorted((ROOT / "notebooks").glob("*.ipynb"))), None)
STEP_RE = re.compile(r"step (\d+) of (\d+)")


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    if browser is None:                 # NGXCORO_REQUIRE_BROWSER=1 and none: the gate fails
        return None
    if LESSON is None:
        pytest.skip("no notebooks")
    out = tmp_path_factory.mktemp("site") / "site"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"),
                           "--out", str(out), LESSON.stem],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, f"build_site failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"\n[site] built {LESSON.stem} in {time.monotonic() - t0:.1f} s", flush=True)
    return out


def test_site_layout(site):
    page = site / f"{LESSON.stem}.html"
    html = page.read_text(encoding="utf-8")
    # widget state stored, and only local script URLs
    assert "application/vnd.jupyter.widget-state+json" in html
    srcs = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    srcs += re.findall(r"widgetRendererSrc = '([^']+)'", html)
    assert srcs and all(not re.match(r"[a-z]+://|//", s) for s in srcs), srcs
    for s in srcs:
        assert (site / s.split("?")[0]).is_file(), f"{s} is not in the site"
    versions = json.loads((site / "_static" / "VERSIONS.json").read_text())
    assert set(versions) == {"html-manager", "anywidget", "requirejs"}
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f'href="{LESSON.stem}.html"' in index


def test_site_steps_offline(browser, site):
    """index.html -> the lesson, from disk, nothing but file:// allowed."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1400})
    escaped, failed, errors = [], [], []

    def only_files(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            escaped.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_files)
    page = ctx.new_page()
    page.on("requestfailed", lambda r: failed.append(f"{r.url}: {r.failure}"))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    try:
        t0 = time.monotonic()
        page.goto((site / "index.html").as_uri())
        page.locator(f'a[href="{LESSON.stem}.html"]').click()
        page.wait_for_url(re.compile(re.escape(f"{LESSON.stem}.html")))
        st = page.locator(".ngxc").first
        st.locator(".ngxc-graph:not(.ngxc-timeline) svg").first.wait_for(
            state="visible", timeout=30_000)
        t_render = time.monotonic() - t0
        label = st.locator(".ngxc-steplabel")
        graph = st.locator(".ngxc-graph:not(.ngxc-timeline)")
        step, last = map(int, STEP_RE.fullmatch(label.inner_text().strip()).groups())
        assert step == 0 and last > 0
        svg0 = graph.inner_html()
        # next, until the graph changes (consecutive steps may share a picture)
        changed_at = None
        nxt = st.locator('button[aria-label^="next step ("]')
        for k in range(1, last + 1):
            nxt.click()
            page.wait_for_function(
                "([el, want]) => el.textContent.startsWith('step ' + want + ' ')",
                arg=[label.element_handle(), k], timeout=5000)
            if graph.inner_html() != svg0:
                changed_at = k
                break
        assert changed_at is not None, "next never changed the graph"
        # and the slider, all the way
        st.locator("input.ngxc-slider").fill(str(last))
        assert label.inner_text().strip() == f"step {last} of {last}"
        SHOTS = ARTIFACTS / "screenshots"
        SHOTS.mkdir(parents=True, exist_ok=True)
        st.screenshot(path=str(SHOTS / f"site-{LESSON.stem}-stepper.png"))
        page.screenshot(path=str(SHOTS / f"site-{LESSON.stem}.png"))
        print(f"\n[site] offline: stepper drawn {t_render:.1f} s after opening index.html; "
              f"graph changed at step {changed_at}; {time.monotonic() - t0:.1f} s", flush=True)
    finally:
        ctx.close()
    assert not escaped, f"requests left the disk: {escaped}"
    assert not failed, f"files missing from the site: {failed}"
    assert not errors, "console errors:\n" + "\n".join(errors)

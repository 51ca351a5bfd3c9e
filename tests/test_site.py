"""The static site: built by tools/build_site.py, opened from disk (file://)
in a real Chromium with every non-file request aborted, a stepper steps.

Builds one lesson (the first one with a stepper, the tour) into a temporary
dir, and its Chinese twin (notebooks/zh/, a page under zh/) when there is
one; the npm packages come from the cache in build/npm/ (fetched with
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
# the same lesson in Chinese, else the first Chinese lesson there is
ZH_LESSON = (next(iter(sorted((ROOT / "notebooks" / "zh").glob(f"{LESSON.stem}.ipynb"))), None)
             if LESSON else None) or next(iter(sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))),
                                          None)
# the counter's words ("step 3 of 9", "第 3 / 9 步"); data-step / data-last say it in any language
STEP_RE = re.compile(r"step (\d+) of (\d+)|第 (\d+) / (\d+) 步")
PAGES = [f"{LESSON.stem}.html"] if LESSON else []
if ZH_LESSON is not None:
    PAGES.append(f"zh/{ZH_LESSON.stem}.html")


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory):
    if browser is None:                 # NGXCORO_REQUIRE_BROWSER=1 and none: the gate fails
        return None
    if LESSON is None:
        pytest.skip("no notebooks")
    out = tmp_path_factory.mktemp("site") / "site"
    t0 = time.monotonic()
    which = [LESSON.stem] + ([f"zh/{ZH_LESSON.stem}"] if ZH_LESSON is not None else [])
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py"),
                           "--out", str(out), *which],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, f"build_site failed:\n{proc.stdout}\n{proc.stderr}"
    print(f"\n[site] built {' '.join(which)} in {time.monotonic() - t0:.1f} s", flush=True)
    return out


def _step(label):
    """(step, last) of a stepper's counter, from its words and its data attributes."""
    text, *data = label.evaluate("(el) => [el.textContent, el.dataset.step, el.dataset.last]")
    m = STEP_RE.fullmatch(text.strip())
    assert m, f"step counter reads {text!r}"
    step, last = (int(g) for g in (m.groups()[:2] if m.group(1) else m.groups()[2:]))
    assert data == [str(step), str(last)], (text, data)
    return step, last


@pytest.mark.parametrize("page_name", PAGES)
def test_site_layout(site, page_name):
    page = site / page_name
    html = page.read_text(encoding="utf-8")
    # widget state stored, and only local script URLs (a zh/ page's point up: ../_static)
    assert "application/vnd.jupyter.widget-state+json" in html
    srcs = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    srcs += re.findall(r"widgetRendererSrc = '([^']+)'", html)
    assert srcs and all(not re.match(r"[a-z]+://|//", s) for s in srcs), srcs
    for s in srcs:
        assert (page.parent / s.split("?")[0]).is_file(), f"{s} is not in the site"
    versions = json.loads((site / "_static" / "VERSIONS.json").read_text())
    assert set(versions) == {"html-manager", "anywidget", "requirejs"}
    index = (site / "index.html").read_text(encoding="utf-8")
    assert f'href="{page_name}"' in index
    # links to lessons and notes point at pages, and those next to it are there
    for href in re.findall(r'<a[^>]*\bhref="(?![a-z]+:|#|/)([^"#?]+)', html):
        assert not href.endswith((".ipynb", ".md")), f"{page_name}: a link to {href} left as is"
    if page_name.startswith("zh/"):
        assert "set_language" in html               # a Chinese lesson: its widgets speak Chinese
        if 'href="../glossary.html' in html:        # zh/ pages link up to the one glossary
            assert (site / "glossary.html").is_file()


@pytest.mark.parametrize("page_name", PAGES)
def test_site_steps_offline(browser, site, page_name):
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
        page.locator(f'a[href="{page_name}"]').click()
        page.wait_for_url(re.compile(re.escape(page_name)))
        st = page.locator(".ngxc").first
        st.locator(".ngxc-graph:not(.ngxc-timeline) svg").first.wait_for(
            state="visible", timeout=30_000)
        t_render = time.monotonic() - t0
        label = st.locator(".ngxc-steplabel")
        graph = st.locator(".ngxc-graph:not(.ngxc-timeline)")
        step, last = _step(label)
        assert step == 0 and last > 0
        if page_name.startswith("zh/"):             # the counter in Chinese words
            assert label.inner_text().startswith("第 "), label.inner_text()
        svg0 = graph.inner_html()
        # next, until the graph changes (consecutive steps may share a picture)
        changed_at = None
        nxt = st.locator('button[data-ngxc="next"]')
        for k in range(1, last + 1):
            nxt.click()
            page.wait_for_function(
                "([el, want]) => el.dataset.step === String(want)",
                arg=[label.element_handle(), k], timeout=5000)
            if graph.inner_html() != svg0:
                changed_at = k
                break
        assert changed_at is not None, "next never changed the graph"
        # and the slider, all the way
        st.locator("input.ngxc-slider").fill(str(last))
        assert _step(label) == (last, last)
        tag = page_name[:-5].replace("/", "-")
        SHOTS = ARTIFACTS / "screenshots"
        SHOTS.mkdir(parents=True, exist_ok=True)
        st.screenshot(path=str(SHOTS / f"site-{tag}-stepper.png"))
        page.screenshot(path=str(SHOTS / f"site-{tag}.png"))
        print(f"\n[site] offline: stepper drawn {t_render:.1f} s after opening index.html; "
              f"graph changed at step {changed_at}; {time.monotonic() - t0:.1f} s", flush=True)
    finally:
        ctx.close()
    assert not escaped, f"requests left the disk: {escaped}"
    assert not failed, f"files missing from the site: {failed}"
    assert not errors, "console errors:\n" + "\n".join(errors)

"""Shared test setup.

* The repository root is put on sys.path, so ``import ngxcoro`` works without installing.
* Tests marked ``nginx`` need the real nginx with the ndk, lua and echo modules
  (``ngxcoro.oracle.available()``). Without it they are **skipped** with the reason,
  unless ``NGXCORO_REQUIRE_NGINX=1`` is set (CI sets it): then they **fail**, so a CI
  image that lost nginx cannot go green by skipping the oracle.
* ``oracle()`` gives the ``ngxcoro.oracle`` package (the real-nginx runner), imported when
  first asked for; ``SCENARIO_DIR`` and ``EXPECTED_DIR`` are its scenarios and their
  recordings (``ngxcoro/oracle/scenarios/``).
* Tests marked ``browser`` drive a real Chromium through the Python ``playwright``
  package (Debian's ``/usr/bin/chromium``, or ``$NGXCORO_CHROMIUM``; ``playwright
  install`` is never needed). Same rule: skipped with the reason when either is
  missing, **failed** when ``NGXCORO_REQUIRE_BROWSER=1`` (CI sets it). The fixture
  ``browser`` is one headless Chromium per test module; ``ARTIFACTS`` is where they
  leave screenshots (``test-artifacts/``, gitignored, or ``$NGXCORO_ARTIFACTS``).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCENARIO_DIR = ROOT / "ngxcoro" / "oracle" / "scenarios"
EXPECTED_DIR = SCENARIO_DIR / "expected"
# scenarios whose real-nginx answer depends on what the model cannot have: kept, recorded,
# and run as strict xfails (the differential and error-log tests), so a fix shows up
KNOWN_GAPS = {
    "409-fuzz-200052": "a cached entry state's stack is reused by a later thread (LuaJIT): "
                       "an open upvalue left on it reads that thread's value; the model "
                       "empties the slot (nil) but has no reuse of a cached stack",
}


def known_gap_params(paths):
    """`paths` as pytest params, the KNOWN_GAPS ones marked strict xfail."""
    import pytest
    return [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[p.stem]))
            if p.stem in KNOWN_GAPS else p for p in paths]


ARTIFACTS = pathlib.Path(os.environ.get("NGXCORO_ARTIFACTS") or ROOT / "test-artifacts")


def oracle():
    """The ``ngxcoro.oracle`` package (the real-nginx runner)."""
    from ngxcoro import oracle as _oracle
    return _oracle


def _flag(name) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def nginx_required() -> bool:
    return _flag("NGXCORO_REQUIRE_NGINX")


def check_real_nginx() -> None:
    """Skip (or, with NGXCORO_REQUIRE_NGINX=1, fail) when the real nginx is missing."""
    ok, why = oracle().available()
    _skip_or_fail(ok, nginx_required(), f"NGXCORO_REQUIRE_NGINX=1 but the real nginx is not "
                  f"usable: {why}", f"real nginx not available: {why}")


def _skip_or_fail(ok, required, fail_msg, skip_msg):
    """Locally a missing tool skips the test; in CI (required) it fails it."""
    if ok:
        return
    if required:
        pytest.fail(fail_msg, pytrace=False)
    pytest.skip(skip_msg)


# ------------------------------------------------------------------ browser
def browser_required() -> bool:
    return _flag("NGXCORO_REQUIRE_BROWSER")


def chromium_path():
    """Debian's chromium (or $NGXCORO_CHROMIUM); None when there is none."""
    env = os.environ.get("NGXCORO_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_available():
    """(ok, why): playwright importable and a chromium to drive."""
    try:
        import playwright.sync_api  # noqa: F401
    except Exception as e:
        return False, f"the playwright package is not importable ({e}); pip install -e '.[test]'"
    if chromium_path() is None:
        return False, ("no chromium found (apt-get install chromium, or set NGXCORO_CHROMIUM "
                       "to a Chromium/Chrome executable)")
    return True, ""


def check_browser() -> None:
    """Skip (or, with NGXCORO_REQUIRE_BROWSER=1, fail) without a browser."""
    ok, why = browser_available()
    _skip_or_fail(ok, browser_required(), f"NGXCORO_REQUIRE_BROWSER=1 but the browser tests "
                  f"cannot run: {why}", f"browser tests need playwright and chromium: {why}")


# ------------------------------------------------------------------ the gates
_GATES = {"nginx": (nginx_required, check_real_nginx), "browser": (browser_required, check_browser)}


@pytest.fixture(autouse=True)
def _requirement_gates(request):
    # setup phase: only the skips (a failure here would be reported as an ERROR)
    for marker, (required, check) in _GATES.items():
        if request.node.get_closest_marker(marker) is not None and not required():
            check()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    # call phase: with NGXCORO_REQUIRE_*=1 a missing requirement makes the test FAIL
    for marker, (required, check) in _GATES.items():
        if item.get_closest_marker(marker) is not None and required():
            check()


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium (Debian's, through playwright) for a test module;
    None when there is none and NGXCORO_REQUIRE_BROWSER=1 (the call-phase gate
    then fails the test with the reason, instead of an ERROR in setup)."""
    ok, why = browser_available()
    if not ok:
        if browser_required():
            yield None
            return
        pytest.skip(f"browser tests need playwright and chromium: {why}")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-default-apps"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def real_nginx():
    """``run_real`` of ngxcoro.oracle (for tests marked ``nginx``, which are gated above)."""
    return oracle().run_real


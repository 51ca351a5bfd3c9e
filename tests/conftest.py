"""Shared test setup.

* The repository root is put on sys.path, so ``import ngxcoro`` works without installing.
* Tests marked ``nginx`` need the real nginx with the ndk, lua and echo modules
  (``ngxcoro.realnginx.available()``). Without it they are **skipped** with the reason,
  unless ``NGXCORO_REQUIRE_NGINX=1`` is set (CI sets it): then they **fail**, so a CI
  image that lost nginx cannot go green by skipping the oracle.
* ``load_realnginx()`` gives the ``ngxcoro.realnginx`` module, loading the file directly
  when the package itself cannot be imported (realnginx.py depends on nothing else in
  ngxcoro, and the oracle tests should not break because the model does).
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SCENARIO_DIR = ROOT / "tests" / "scenarios"
EXPECTED_DIR = SCENARIO_DIR / "expected"


def load_realnginx():
    try:
        from ngxcoro import realnginx
        return realnginx
    except Exception:
        name = "ngxcoro_realnginx_standalone"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, ROOT / "ngxcoro" / "realnginx.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        return mod


def nginx_required() -> bool:
    return os.environ.get("NGXCORO_REQUIRE_NGINX", "").strip().lower() in ("1", "true", "yes", "on")


def check_real_nginx() -> None:
    """Skip (or, with NGXCORO_REQUIRE_NGINX=1, fail) when the real nginx is missing."""
    ok, why = load_realnginx().available()
    if ok:
        return
    if nginx_required():
        pytest.fail(f"NGXCORO_REQUIRE_NGINX=1 but the real nginx is not usable: {why}",
                    pytrace=False)
    pytest.skip(f"real nginx not available: {why}")


@pytest.fixture(autouse=True)
def _real_nginx_gate(request):
    # setup phase: only the skip (a failure here would be reported as an ERROR)
    if request.node.get_closest_marker("nginx") is not None and not nginx_required():
        check_real_nginx()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    # call phase: with NGXCORO_REQUIRE_NGINX=1 a missing nginx makes the test FAIL
    if item.get_closest_marker("nginx") is not None and nginx_required():
        check_real_nginx()


@pytest.fixture
def real_nginx():
    """``run_real`` of ngxcoro.realnginx (for tests marked ``nginx``, which are gated above)."""
    return load_realnginx().run_real

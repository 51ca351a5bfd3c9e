"""nginx's return codes (src/core/ngx_core.h).

Every handler in nginx answers one of these, or an HTTP status.
"""
from __future__ import annotations

NGX_OK = 0
NGX_ERROR = -1
NGX_AGAIN = -2
NGX_BUSY = -3
NGX_DONE = -4
NGX_DECLINED = -5

RC_NAMES = {NGX_OK: "NGX_OK", NGX_ERROR: "NGX_ERROR", NGX_AGAIN: "NGX_AGAIN",
            NGX_BUSY: "NGX_BUSY", NGX_DONE: "NGX_DONE", NGX_DECLINED: "NGX_DECLINED"}


def rc_name(rc):
    """`NGX_AGAIN` for -2, `404` for an HTTP status."""
    return RC_NAMES.get(rc, str(rc))

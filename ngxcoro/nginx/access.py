"""allow and deny (src/http/modules/ngx_http_access_module.c).

The rules of the location (inherited from the enclosing block when it has none;
read by the nginx.conf reader, conf/handler.py parse_rule) are tried in order
against the client's address; the first that matches decides.  The model's
client is 127.0.0.1, as the oracle's is.
"""
from __future__ import annotations

import ipaddress

from .core import NGX_OK, NGX_DECLINED

NGX_HTTP_FORBIDDEN = 403
CLIENT = ipaddress.ip_address("127.0.0.1")


def access_handler(r):
    """ngx_http_access_handler, for an IPv4 client (ngx_http_access_inet)."""
    rules = r.worker.location_setting(r, "access_rules", ())
    for deny, net in rules:
        if net == "all" or (net != "unix:" and net.version == 4 and CLIENT in net):
            return access_found(r, deny)
    return NGX_DECLINED


def access_found(r, deny):
    """ngx_http_access_found: with satisfy all, a deny is logged here."""
    if deny:
        if r.worker.location_setting(r, "satisfy", "all") == "all":
            r.worker.log_error("error", "access forbidden by rule", r)
        return NGX_HTTP_FORBIDDEN
    return NGX_OK

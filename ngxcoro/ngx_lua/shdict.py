"""ngx.shared.DICT (src/ngx_http_lua_shdict.c): the zones of ``lua_shared_dict`` and
the functions that read and change them.

In 0.10.23 most methods are lua-resty-core's (resty/core/shdict.lua: get, get_stale,
set, safe_set, add, safe_add, replace, delete, incr, flush_all, ttl, expire, capacity,
free_space), which check their arguments in Lua and call the FFI functions
``ngx_http_lua_ffi_shdict_*``; the others are lua_CFunctions of the C file (flush_expired,
get_keys, lpush, rpush, lpop, rpop, llen).  The Lua half, ``lua/shdict.lua``, does what
the Lua and the argument checks of the C functions do; this half is the C below them:
the zone's entries, each with its value type, value, user flags and expiry
(``ngx_http_lua_shdict_node_t``), and its LRU queue (``sh->lru_queue``: a lookup moves
an entry to the head; ``get_keys`` and ``ngx_http_lua_shdict_expire`` walk from the
tail).  The red-black tree is only the index: a Python dict.  The slab allocator is not
modelled: no ``no memory``, no forcible eviction (``forcible`` is always false),
``free_space()`` is refused, and a store that brings a zone's estimated use (each node
rounded up to its slab slot) past half of its pages is refused: from there on real nginx
may evict or answer ``no memory``.

A zone exists once per worker for the whole run (shared memory, so shared by the
request, its subrequests and timers).  Times are ``ngx_timeofday()`` in ms on the
virtual clock: an entry is expired for a lookup when ``expires < now``, for
``ngx_http_lua_shdict_expire``, ``flush_expired`` and ``get_keys`` when
``expires <= now``.  Nothing here yields; each operation fires ``shdict``.
"""
from __future__ import annotations

from collections import OrderedDict

from ..nginx.loop import EPOCH_MS
from .protocol import abort

SHDICT_TNIL, SHDICT_TBOOLEAN, SHDICT_TNUMBER, SHDICT_TSTRING, SHDICT_TLIST = 0, 1, 3, 4, 5
SHDICT_ADD, SHDICT_REPLACE, SHDICT_SAFE_STORE = 0x1, 0x2, 0x4
NGX_OK, NGX_ERROR, NGX_DONE, NGX_DECLINED = 0, -1, -4, -5
TYPE_NAMES = {SHDICT_TBOOLEAN: "boolean", SHDICT_TNUMBER: "number", SHDICT_TSTRING: "string",
              SHDICT_TLIST: "list"}


class Node:
    """ngx_http_lua_shdict_node_t: a list's value is a list of (type, value)."""
    __slots__ = ("value_type", "value", "user_flags", "expires")

    def __init__(self, value_type, value, user_flags=0, expires=0):
        self.value_type, self.value = value_type, value
        self.user_flags, self.expires = user_flags, expires


# offsetof(ngx_rbtree_node_t, color) + offsetof(ngx_http_lua_shdict_node_t, data), and
# offsetof(ngx_http_lua_shdict_list_node_t, data), on x86-64
NODE_HEAD, LIST_NODE_HEAD = 68, 21
# the model's own bound on what it keeps for a zone
MAX_ZONE_BYTES = 64 << 20


def _slot(n):
    """The bytes ngx_slab_alloc takes for n: a power of two from 8 up to half a page,
    whole 4k pages above that."""
    if n > 2048:
        return -(-n // 4096) * 4096
    return max(8, 1 << (n - 1).bit_length())


def _value_len(value_type, value):
    return {SHDICT_TNUMBER: 8, SHDICT_TBOOLEAN: 1, SHDICT_TLIST: 16}.get(
        value_type, len(value) if isinstance(value, bytes) else 0)


def _node_cost(key, sd):
    cost = _slot(NODE_HEAD + len(key) + _value_len(sd.value_type, sd.value))
    if sd.value_type == SHDICT_TLIST:
        cost += sum(_slot(LIST_NODE_HEAD + _value_len(t, v)) for t, v in sd.value)
    return cost


class Zone:
    """One lua_shared_dict (ngx_http_lua_shdict_ctx_t + its shctx): ``lru`` holds the
    entries by key, its first item the tail of the LRU queue, its last the head; ``used``
    is the estimate of the slab bytes they take."""

    def __init__(self, name, size):
        self.name, self.size = name, size
        self.lru = OrderedDict()
        self.used = 0
        # half the pages left after the pool's own (ngx_slab_init, the shctx, log_ctx)
        self.budget = min(max(0, size - 4 * 4096) // 2, MAX_ZONE_BYTES)

    def put(self, key, sd):
        """Insert at the LRU head (ngx_rbtree_insert + ngx_queue_insert_head)."""
        self.lru[key] = sd
        self.used += _node_cost(key, sd)

    def drop(self, key):
        """Remove an entry (ngx_queue_remove, ngx_rbtree_delete, ngx_slab_free_locked)."""
        self.used -= _node_cost(key, self.lru.pop(key))

    def contents(self, now):
        """The entries as plain data, by key, for snapshots."""
        out = []
        for key in sorted(self.lru):
            sd = self.lru[key]
            if sd.value_type == SHDICT_TLIST:
                value = [_plain(v) for _t, v in sd.value]
            else:
                value = _plain(sd.value)
            out.append({"key": _text(key), "type": TYPE_NAMES[sd.value_type], "value": value,
                        "flags": sd.user_flags,
                        "expires_ms": sd.expires - EPOCH_MS if sd.expires else None,
                        "expired": bool(sd.expires) and sd.expires < now})
        return out


def _plain(v):
    """A value as plain data: text, a number (integral ones as int), a boolean."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, float) and abs(v) < 2**63 and v == int(v):
        return int(v)
    return v


def _text(v):
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, float) and abs(v) < 2**63 and v == int(v):
        return str(int(v))
    return str(v)


def init_zones(config):
    """ngx_http_lua_shdict_init_zone: an empty zone for each lua_shared_dict, in the
    order of the config (lmcf->shm_zones)."""
    return {name: Zone(name, size)
            for name, size in getattr(config, "shared_dicts", {}).items()}


def _now(w):
    """ngx_timeofday() in ms (tp->sec * 1000 + tp->msec), on the virtual clock."""
    return EPOCH_MS + w.loop.now_ms


def _zone(w, name):
    return w.shdict_zones[name.decode()]


def _fire(w, zone, op, key, result):
    w.fire("shdict", zone=zone.name, op=op, key=_text(key) if key is not None else "",
           result=result)
    return result


def shdict_lookup(zone, key, now):
    """ngx_http_lua_shdict_lookup: (NGX_OK, node), (NGX_DONE, node) when it expired
    (expires < now), (NGX_DECLINED, None); a found entry goes to the LRU head."""
    sd = zone.lru.get(key)
    if sd is None:
        return NGX_DECLINED, None
    zone.lru.move_to_end(key)
    if sd.expires and sd.expires - now < 0:
        return NGX_DONE, sd
    return NGX_OK, sd


def shdict_expire(zone, n, now):
    """ngx_http_lua_shdict_expire: n == 1 frees one or two expired entries at the LRU
    tail (expires <= now); n == 0 frees the tail entry by force, then up to two expired."""
    freed = 0
    while n < 3:
        if not zone.lru:
            return freed
        key = next(iter(zone.lru))
        sd = zone.lru[key]
        if n != 0 and (sd.expires == 0 or sd.expires - now > 0):
            return freed
        n += 1
        zone.drop(key)
        freed += 1
    return freed


def shdict_store(w, name, op, key, value_type, value, exptime, user_flags):
    """ngx_http_lua_ffi_shdict_store: set (op 0), add, replace, safe_*; a nil value
    deletes.  ``exptime`` is in ms (resty.core passes exptime * 1000 to a C long).
    Returns (rc, errmsg, forcible)."""
    zone, now = _zone(w, name), _now(w)
    opname = {0: "set", SHDICT_ADD: "add", SHDICT_REPLACE: "replace"}[op & 3]
    if value_type == SHDICT_TNIL and op & (SHDICT_ADD | SHDICT_REPLACE):
        return _store_done(w, zone, opname, key, NGX_ERROR,
                           "attempt to add or replace nil values")
    if value_type == SHDICT_TNUMBER:
        value = float(value)
    elif value_type == SHDICT_TBOOLEAN:
        value = bool(value)
    shdict_expire(zone, 1, now)
    rc, sd = shdict_lookup(zone, key, now)
    if op & SHDICT_REPLACE and rc != NGX_OK:
        return _store_done(w, zone, opname, key, NGX_DECLINED, "not found")
    if op & SHDICT_ADD and rc == NGX_OK:
        return _store_done(w, zone, opname, key, NGX_DECLINED, "exists")
    if sd is not None:
        # replace (in place when the size matches) or remove, then insert: either way
        # the entry ends at the LRU head, as a new one does
        zone.drop(key)
    if value_type == SHDICT_TNIL:
        return _store_done(w, zone, "delete", key, NGX_OK, None)
    zone.put(key, Node(value_type, value, _int32(user_flags), _expires(now, exptime)))
    if zone.used > zone.budget:
        return _full(w, zone)
    return _store_done(w, zone, opname, key, NGX_OK, None)


def _full(w, zone):
    """A zone past its budget: the run is refused (see the module docstring)."""
    w.abort = w.refuse(
        f"ngx.shared.{zone.name} holds about {zone.used:,} bytes of its {zone.size:,} by "
        "ngxcoro's estimate: real nginx's slab allocator may now evict entries (forcible) "
        "or answer \"no memory\", which is not modelled by ngxcoro")
    return abort(b"ngxcoro: not modelled")


def _store_done(w, zone, op, key, rc, errmsg):
    _fire(w, zone, op, key, "true" if rc == NGX_OK else f"false, {errmsg}")
    return rc, errmsg and errmsg.encode(), False


def _c_integer(v, bits):
    """A C integer of ``bits`` bits from a Lua number, as the FFI converts it (x86's
    cvttsd2si: truncation; out of range or NaN gives the minimum, as real nginx shows)."""
    low = -(1 << (bits - 1))
    if v != v or not low <= v < -low:
        return low
    return int(v)


def _expires(now, ms):
    """sd->expires for a time to live of ``ms`` (a C long; <= 0: no expiry)."""
    ms = _c_integer(ms, 64)
    return now + ms if ms > 0 else 0


def _int32(v):
    """The user flags: a C int."""
    return _c_integer(v, 32)


def shdict_get(w, name, key, get_stale):
    """ngx_http_lua_ffi_shdict_get: (rc, value_type, value, user_flags, is_stale, err);
    a missing (or, unless get_stale, expired) entry is value type nil."""
    zone, now = _zone(w, name), _now(w)
    op = "get_stale" if get_stale else "get"
    if not get_stale:
        shdict_expire(zone, 1, now)
    rc, sd = shdict_lookup(zone, key, now)
    if rc == NGX_DECLINED or (rc == NGX_DONE and not get_stale):
        _fire(w, zone, op, key, "nil")
        return NGX_OK, SHDICT_TNIL, None, 0, False, None
    if sd.value_type == SHDICT_TLIST:
        _fire(w, zone, op, key, "nil, value is a list")
        return NGX_ERROR, SHDICT_TLIST, None, 0, False, b"value is a list"
    stale = rc == NGX_DONE
    text = str(sd.value).lower() if sd.value_type == SHDICT_TBOOLEAN else _text(sd.value)
    _fire(w, zone, op, key, text + (" (stale)" if stale else ""))
    return NGX_OK, sd.value_type, sd.value, sd.user_flags, stale, None


def shdict_incr(w, name, key, value, has_init, init, init_ttl):
    """ngx_http_lua_ffi_shdict_incr: (rc, number, err, forcible); with ``has_init`` a
    missing or expired entry becomes ``init + value`` with ``init_ttl`` ms to live."""
    zone, now = _zone(w, name), _now(w)
    shdict_expire(zone, 1, now)
    rc, sd = shdict_lookup(zone, key, now)
    if rc != NGX_OK:
        if not has_init:
            _fire(w, zone, "incr", key, "nil, not found")
            return NGX_ERROR, 0, b"not found", False
        num = float(value) + float(init)
        if sd is not None:
            zone.drop(key)
        zone.put(key, Node(SHDICT_TNUMBER, num, 0, _expires(now, init_ttl)))
        if zone.used > zone.budget:
            return _full(w, zone)
        _fire(w, zone, "incr", key, _text(num))
        return NGX_OK, num, None, False
    if sd.value_type != SHDICT_TNUMBER:
        _fire(w, zone, "incr", key, "nil, not a number")
        return NGX_ERROR, 0, b"not a number", False
    sd.value += float(value)
    _fire(w, zone, "incr", key, _text(sd.value))
    return NGX_OK, sd.value, None, False


def shdict_flush_all(w, name):
    """ngx_http_lua_ffi_shdict_flush_all: every entry expires (expires = 1), then
    ngx_http_lua_shdict_expire(ctx, 0) frees up to three from the tail; the others stay,
    expired (get_stale still finds them)."""
    zone = _zone(w, name)
    for sd in zone.lru.values():
        sd.expires = 1
    shdict_expire(zone, 0, _now(w))
    _fire(w, zone, "flush_all", None, "")


def shdict_get_ttl(w, name, key):
    """ngx_http_lua_ffi_shdict_get_ttl: ms left (negative once expired, 0 without an
    expiry), NGX_DECLINED when missing; ngx_http_lua_shdict_peek does not touch the LRU."""
    zone = _zone(w, name)
    sd = zone.lru.get(key)
    if sd is None:
        rc = NGX_DECLINED
    else:
        rc = sd.expires - _now(w) if sd.expires else 0
    _fire(w, zone, "ttl", key, "not found" if rc == NGX_DECLINED else f"{rc} ms")
    return rc


def shdict_set_expire(w, name, key, exptime):
    """ngx_http_lua_ffi_shdict_set_expire: a new expiry (``exptime`` ms; <= 0: none) for an
    entry found by peek, expired or not; NGX_DECLINED when missing."""
    zone = _zone(w, name)
    sd = zone.lru.get(key)
    if sd is None:
        _fire(w, zone, "expire", key, "nil, not found")
        return NGX_DECLINED
    sd.expires = _expires(_now(w), exptime)
    _fire(w, zone, "expire", key, "true")
    return NGX_OK


def shdict_capacity(w, name):
    """ngx_http_lua_ffi_shdict_capacity: the zone's size (zone->shm.size)."""
    zone = _zone(w, name)
    _fire(w, zone, "capacity", None, str(zone.size))
    return zone.size


def shdict_free_space(w, name):
    """ngx_http_lua_ffi_shdict_free_space: pages free in the slab pool, which the model
    does not have: the run is refused."""
    w.abort = w.refuse(f"ngx.shared.{name.decode()}:free_space() depends on nginx's slab "
                       "allocator, which is not modelled by ngxcoro")
    return abort(b"ngxcoro: not modelled")


def shdict_flush_expired(w, name, attempts):
    """ngx_http_lua_shdict_flush_expired: free the expired entries (expires <= now), from
    the tail, at most ``attempts`` of them when it is not 0; answers how many."""
    zone, now = _zone(w, name), _now(w)
    freed = 0
    for key in list(zone.lru):
        sd = zone.lru[key]
        if sd.expires and sd.expires <= now:
            zone.drop(key)
            freed += 1
            if attempts and freed == attempts:
                break
    _fire(w, zone, "flush_expired", None, str(freed))
    return freed


def shdict_get_keys(w, name, attempts):
    """ngx_http_lua_shdict_get_keys: the keys of the live entries from the LRU tail (the
    least recently used first), at most ``attempts`` when it is not 0."""
    zone, now = _zone(w, name), _now(w)
    keys = []
    for key, sd in zone.lru.items():
        if sd.expires == 0 or sd.expires > now:
            keys.append(key)
            if attempts and len(keys) == attempts:
                break
    _fire(w, zone, "get_keys", None, ", ".join(_text(k) for k in keys))
    return tuple(keys)


def shdict_push_helper(w, name, key, value_type, value, left):
    """ngx_http_lua_shdict_push_helper (lpush, rpush): (length,) or (nil, err)."""
    zone, now = _zone(w, name), _now(w)
    op = "lpush" if left else "rpush"
    if value_type == SHDICT_TNUMBER:
        value = float(value)
    shdict_expire(zone, 1, now)
    rc, sd = shdict_lookup(zone, key, now)
    if rc == NGX_OK and sd.value_type != SHDICT_TLIST:
        _fire(w, zone, op, key, "nil, value not a list")
        return None, b"value not a list"
    if rc == NGX_DONE and sd.value_type != SHDICT_TLIST:
        zone.drop(key)
        sd = None
    if sd is None:
        sd = Node(SHDICT_TLIST, [])
        zone.put(key, sd)
    elif rc == NGX_DONE:                  # an expired list is reused, emptied
        zone.used -= _node_cost(key, sd) - _node_cost(key, Node(SHDICT_TLIST, []))
        sd.expires, sd.value = 0, []
    if left:
        sd.value.insert(0, (value_type, value))
    else:
        sd.value.append((value_type, value))
    zone.used += _slot(LIST_NODE_HEAD + _value_len(value_type, value))
    if zone.used > zone.budget:
        return _full(w, zone)
    n = len(sd.value)
    _fire(w, zone, op, key, str(n))
    return (n,)


def shdict_pop_helper(w, name, key, left):
    """ngx_http_lua_shdict_pop_helper (lpop, rpop): (value), (nil) when missing or
    expired, (nil, err) for a value that is not a list; the last pop frees the entry."""
    zone, now = _zone(w, name), _now(w)
    op = "lpop" if left else "rpop"
    shdict_expire(zone, 1, now)
    rc, sd = shdict_lookup(zone, key, now)
    if rc != NGX_OK:
        _fire(w, zone, op, key, "nil")
        return (None,)
    if sd.value_type != SHDICT_TLIST:
        _fire(w, zone, op, key, "nil, value not a list")
        return None, b"value not a list"
    t, value = sd.value[0 if left else -1]
    zone.used -= _slot(LIST_NODE_HEAD + _value_len(t, value))
    sd.value.pop(0 if left else -1)
    if not sd.value:
        zone.drop(key)
    _fire(w, zone, op, key, _text(value))
    return (value,)


def shdict_llen(w, name, key):
    """ngx_http_lua_shdict_llen: (length), 0 when missing or expired, (nil, err) for a
    value that is not a list."""
    zone, now = _zone(w, name), _now(w)
    shdict_expire(zone, 1, now)
    rc, sd = shdict_lookup(zone, key, now)
    if rc != NGX_OK:
        _fire(w, zone, "llen", key, "0")
        return (0,)
    if sd.value_type != SHDICT_TLIST:
        _fire(w, zone, "llen", key, "nil, value not a list")
        return None, b"value not a list"
    _fire(w, zone, "llen", key, str(len(sd.value)))
    return (len(sd.value),)


def inject_shdict_api(w):
    """ngx_http_lua_inject_shdict_api: the names of the zones, for ngx.shared."""
    return tuple(name.encode() for name in w.shdict_zones)


API = {"shdict_zones": inject_shdict_api, "shdict_store": shdict_store,
       "shdict_get": shdict_get, "shdict_incr": shdict_incr,
       "shdict_flush_all": shdict_flush_all, "shdict_get_ttl": shdict_get_ttl,
       "shdict_set_expire": shdict_set_expire, "shdict_capacity": shdict_capacity,
       "shdict_free_space": shdict_free_space, "shdict_flush_expired": shdict_flush_expired,
       "shdict_get_keys": shdict_get_keys, "shdict_push": shdict_push_helper,
       "shdict_pop": shdict_pop_helper, "shdict_llen": shdict_llen}

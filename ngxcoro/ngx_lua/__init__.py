"""lua-nginx-module 0.10.23, one module per C file of its src/ it mirrors
(each module's docstring names its file or files), on top of nginx core
(`ngxcoro.nginx`).

  common.py      ngx_http_lua_common.h: the ctx, co ctx, co_status, co_op
  util.py        ngx_http_lua_util.c: run_thread, run_posted_threads, post_thread, ...
  by.py          ngx_http_lua_rewriteby.c, _accessby.c, _contentby.c
  coroutine.py   ngx_http_lua_coroutine.c    uthread.py   ngx_http_lua_uthread.c
  sleep.py       ngx_http_lua_sleep.c        output.py    ngx_http_lua_output.c
  control.py     ngx_http_lua_control.c      uri.py       ngx_http_lua_uri.c
  subrequest.py  ngx_http_lua_subrequest.c, _capturefilter.c
  req_body.py    ngx_http_lua_req_body.c     variable.py  ngx_http_lua_variable.c
  semaphore.py   ngx_http_lua_semaphore.c (+ lua-resty-core's ngx/semaphore.lua)
  misc.py        ngx_http_lua_misc.c, _headers.c, _phase.c, _log.c, _time.c
  protocol.py    how a Lua shim and its Python half talk (no C file)
  vm.py          the Lua VM through lupa (the Lua C API, no C file)
  lua/*.lua      the Lua halves of the shims, one file per C file
"""

"""nginx core, as far as the scheduler needs it: the event loop and its
timers, the request and its reference count, the phase engine, reading the
body, the response on the wire, the content that is not Lua, and the
nginx.conf reader.  Nothing here knows about Lua: lua-nginx-module
(`ngxcoro.ngx_lua`) plugs into it through the function pointers nginx
has for that (phase handlers, content handlers, r->write_event_handler,
post_subrequest, cleanups), wired up in `ngxcoro.worker`.
"""

"""A small editor: type a location block (or bare Lua), a request line and
an optional body, press Run, step through the result below.

    >>> from ngxcoro.viz import Editor
    >>> Editor(lua='ngx.say("hello")')                 # doctest: +SKIP

Mistakes come back the way nginx words them -- `unknown directive "foo" in
nginx.conf:2`, `failed to load inlined Lua code: content_by_lua(nginx.conf:2):3:
...` -- inline, above the stepper; never as a Python traceback.  A run that a
bound stopped (the client's timeout, ngxcoro's limits) or that was
interrupted says so in a banner; a new run clears the old one first, so the
view never shows an older run as current.
"""
from __future__ import annotations

import html
import re

import ipywidgets as W

from ..nginx.http_parse import invalid_method
from .i18n import word
from .stepper import Stepper, is_config, error_lines

_EXAMPLE = """location = /t {
    content_by_lua_block {
        local t = ngx.thread.spawn(function()
            ngx.sleep(0.1)
            ngx.say("child")
        end)
        ngx.say("parent")
    }
}
"""


_LUA_ERR = re.compile(r"content_by_lua\(nginx\.conf:\d+\):(\d+): (.*?)(?:, client: .*)?$")


def lua_error_headline(line):
    """"line 5 of your Lua: ')' expected ..." for an nginx error line about a
    bare chunk (the chunk's line k is the text box's line k), else None."""
    m = _LUA_ERR.search(line)
    return word("lua line", line=m.group(1), error=m.group(2)) if m else None


class Editor(W.VBox):
    """Config (or Lua) + request line + body + Run; the stepper shows below.
    `code`, `request`, `body`, `run_button`, `error` are the parts;
    `stepper` is the Stepper of the last run that recorded steps (None
    before).  `autorun=False` waits for the first press of Run."""

    def __init__(self, code=None, request="GET /t", body="", *, lua=None, autorun=True, **kw):
        text = lua if lua is not None else (code if code is not None else _EXAMPLE)
        mono = W.Layout(width="100%")
        self.code = W.Textarea(value=text, rows=max(6, min(24, text.count("\n") + 2)),
                               layout=mono, placeholder=word("editor placeholder"))
        self.code.add_class("ngxc-editor-code")
        self.request = W.Text(value=request, description=word("request"), placeholder="GET /t",
                              layout=W.Layout(width="320px"))
        self.body = W.Text(value=body, description=word("body"), placeholder=word("body none"),
                           layout=W.Layout(width="320px"))
        self.run_button = W.Button(description=word("run"), button_style="primary", icon="play",
                                   tooltip=word("run tooltip"))
        self.error = W.HTML(value="")
        self.banner = W.HTML(value="")     # stopped at the horizon / a limit / interrupted
        self.summary = W.HTML(value="")
        self.holder = W.VBox(layout=W.Layout(width="100%"))
        self.stepper = None
        self.result = None
        self.run_button.on_click(lambda _b: self.run())
        style = W.HTML("<style>.ngxc-editor-code textarea{font-family:var(--jp-code-font-family,"
                       "monospace);font-size:var(--jp-code-font-size,13px)}</style>")
        super().__init__([style, self.code,
                          W.HBox([self.request, self.body, self.run_button, self.summary]),
                          self.banner, self.error, self.holder], **kw)
        if autorun:                        # the stepper is there at once (and in exported pages)
            self.run()

    def _show_errors(self, lines, lua=False):
        if not lines:
            self.error.value = ""
            return
        esc = lambda s: html.escape(s, quote=False)
        rows = []
        for x in lines:
            head = lua_error_headline(x) if lua else None
            if head:
                rows.append(f'<div style="font-weight:600">{esc(head)}</div>')
            rows.append(f'<div style="opacity:{0.8 if head else 1}">{esc(x)}</div>')
        self.error.value = ('<div class="ngxc-editor-err" style="color:var(--jp-error-color1,#d32f2f);'
                            'font-family:var(--jp-code-font-family,monospace);font-size:12px;'
                            'line-height:1.45;white-space:pre-wrap;border-left:3px solid currentColor;'
                            f'padding:2px 8px;margin:4px 0">{"".join(rows)}</div>')

    def _show_banner(self, text, kind="stopped"):
        """One line above the errors: how this run ended, if not on its own."""
        if not text:
            self.banner.value = ""
            return
        self.banner.value = (f'<div class="ngxc-editor-banner ngxc-editor-{kind}" style="font-size:12px;'
                             'background:var(--jp-warn-color3,#fff3cd);border-left:3px solid '
                             'var(--jp-warn-color1,#f0ad4e);padding:2px 8px;margin:4px 0">'
                             f'{html.escape(text, quote=False)}</div>')

    def _clear(self, summary=""):
        """Forget the shown run: nothing of it may pass for the next one."""
        self.result = None
        self._show_errors([])
        self._show_banner("")
        self.summary.value = summary
        self.holder.children = ()

    def run(self):
        """What the Run button does.  Returns the Result (None when the
        request line itself was refused, or the run was interrupted)."""
        self._clear(f"<span style='color:var(--jp-ui-font-color2,#666)'>{word('running')}</span>")
        try:
            return self._run()
        except KeyboardInterrupt:         # the kernel's interrupt: no run to show
            self._clear()
            self._show_banner(word("interrupted"), "interrupted")
            return None

    def _run(self):
        import ngxcoro
        text = self.code.value
        request = self.request.value.strip() or "GET /t"
        body = self.body.value or None
        fn = ngxcoro.run if is_config(text) else ngxcoro.run_lua

        def rerun(order):
            return fn(text, request, body=body, snapshots=True, order=order)

        try:
            res = fn(text, request, body=body, snapshots=True)
        except ngxcoro.RequestError as e:
            self._clear()
            self._show_errors([str(e)])
            return None
        except Exception as e:            # never a traceback in front of a learner
            self._clear()
            self._show_errors([word("could not run", error=e)])
            return None
        self.result = res
        method = request.split()[0]
        said = ([word("bad method", method=method, request=request)]
                if invalid_method(method) else [])
        stopped = res.message if res.message and res.message.startswith("stopped ") else ""
        self._show_banner("; ".join(filter(None, [stopped, *res.notes])))
        self._show_errors(said + [x for x in error_lines(res) if x != stopped],
                          lua=fn is ngxcoro.run_lua)
        status = res.status if res.status is not None else (
            word("stopped" if stopped else "hung") if res.hung else word("no response short"))
        # data-status: the status in any language (tests read it)
        self.summary.value = (f"<span style='color:var(--jp-ui-font-color2,#666)' "
                              f"data-status='{html.escape(str(status))}'>"
                              + word("summary", status=html.escape(str(status)), n=len(res.snapshots))
                              + "</span>")
        if not res.snapshots:
            self.holder.children = ()
            return res
        lua = fn is ngxcoro.run_lua
        if self.stepper is None:
            self.stepper = Stepper(res, rerun=rerun, lua=lua, layout=W.Layout(width="100%"))
        else:
            self.stepper._rerun, self.stepper._lua = rerun, lua
            self.stepper.load(res)
            self.stepper.rerun_status = ""
        self.holder.children = (self.stepper,)
        return res

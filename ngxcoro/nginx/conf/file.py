"""Reading nginx.conf text into a tree: src/core/ngx_conf_file.c ``ngx_conf_parse`` and
``ngx_conf_read_token``, plus lua-nginx-module's src/ngx_http_lua_directive.c
(``ngx_http_lua_conf_lua_block_parse``, ``ngx_http_lua_conf_read_lua_token``) for the Lua
text of a ``*_by_lua_block``.

``parse(text)`` gives a list of ``Directive`` and checks syntax only (what the tokenizer and
``ngx_conf_parse`` refuse); a mistake is one ``ConfigError`` worded like ``nginx -t``. A
``handler`` object (the checks of ``handler.py``) may watch each directive as it is read, so
that errors come in nginx's order. Every ``Directive`` also carries its character offsets in
the text (``start``, ``end``, ``body_start``), which is what ngxcoro.oracle needs to rewrite
a config in place without moving a line.

The Lua block lexer knows ``{ }``, ``--`` comments, long brackets and one-line quoted
strings only: a quote that does not close on its own line is an ordinary character, so a
``}`` after it counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

__all__ = ["ConfigError", "Directive", "parse", "parse_partial", "walk", "OK", "BLOCK_START"]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

class ConfigError(Exception):
    """One configuration mistake, worded like ``nginx -t`` (``ngx_conf_log_error``).

    ``str(e)`` is ``<message> in <file>:<line>``; ``e.nginx_line`` is what nginx prints after
    ``nginx: ``, e.g. ``[emerg] unexpected "}" in nginx.conf:7``, or None when real nginx
    would accept the text and only ngxcoro cannot model it. ``nginx_message`` is given when
    nginx's own words differ from ``message`` (a block-form ``is duplicate``).
    """

    def __init__(self, message: str, filename: str = "nginx.conf", line: Optional[int] = None,
                 *, level: str = "emerg", nginx_message: str = "", nginx: bool = True):
        self.message, self.filename, self.line, self.level = message, filename, line, level
        where = "" if line is None else f" in {filename}:{line}"
        super().__init__(message + where)
        if not nginx:
            self.nginx_line = None
        else:
            self.nginx_line = f"[{level}] {nginx_message or message}{where}"


@dataclass
class Directive:
    """One directive as ``ngx_conf_parse`` hands it to ``ngx_conf_handler`` (``cf->args``).

    ``line`` is the line nginx names in errors about it: where its ``;`` or ``{`` is.
    ``arg_lines[i]`` is the line where ``args[i]`` starts. A ``*_by_lua_block`` directive has
    its Lua source as the last argument and ``block`` None; other block directives have their
    directives in ``block``. ``start`` is the offset of its name in the text (of the quote if
    the name is quoted), ``end`` the offset just after its ``;`` or its block's closing ``}``,
    ``body_start`` the offset just after its ``{`` (-1 without one).
    """
    name: str
    args: list
    line: int
    block: Optional[list] = None
    arg_lines: list = field(default_factory=list, repr=False, compare=False)
    start: int = field(default=-1, repr=False, compare=False)
    end: int = field(default=-1, repr=False, compare=False)
    body_start: int = field(default=-1, repr=False, compare=False)


# ---------------------------------------------------------------------------------------------
# Tokens: src/core/ngx_conf_file.c ngx_conf_read_token
# ---------------------------------------------------------------------------------------------

OK, BLOCK_START, BLOCK_DONE, FILE_DONE = "ok", "block_start", "block_done", "file_done"
_SPACE = " \t\r\n"
_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}

# The ngx_lua block lexer's tokens, first match wins at each position.
_LUA_TOKEN = re.compile(r"""
      (?P<lcomment> --\[(?P<leq>=*)\[ )
    | --[^\n]*
    | (?P<lstring> \[(?P<seq>=*)\[ )
    | "(?:[^"\\\n]|\\[^\n])*"
    | '(?:[^'\\\n]|\\[^\n])*'
    | (?P<curly> [{}] )
""", re.VERBOSE)


def _unescape(raw: str) -> str:
    """The copy loop at the end of ngx_conf_read_token: in every word, quoted or not, a
    backslash before ``"``, ``'`` or ``\\`` is dropped, ``\\t`` ``\\r`` ``\\n`` become TAB CR LF,
    and any other backslash stays."""
    out, i = [], 0
    while i < len(raw):
        if raw[i] == "\\" and raw[i + 1:i + 2] in _ESCAPES:
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out)


class _Reader:
    """``cf->conf_file``: the text, the read position and the line counter."""

    def __init__(self, text: str, filename: str):
        self.text, self.filename, self.pos, self.line = text, filename, 0, 1

    def error(self, message: str, line: Optional[int] = None) -> ConfigError:
        return ConfigError(message, self.filename, self.line if line is None else line)

    def read_token(self):
        """src/core/ngx_conf_file.c ngx_conf_read_token: read the words of one directive up
        to ``;`` (OK), ``{`` (BLOCK_START), a ``}`` of its own (BLOCK_DONE) or the end of
        the text (FILE_DONE). Returns (rc, [(word, start_line, start_offset), ...]), the
        offset being that of the word's first character (its opening quote, if quoted)."""
        text, words = self.text, []
        last_space, need_space, sharp_comment, quoted = True, False, False, False
        s_quoted = d_quoted = variable = False
        start = start_line = word_start = 0
        while True:
            if self.pos >= len(text):
                if words or not last_space:
                    raise self.error('unexpected end of file, expecting ";" or "}"')
                return FILE_DONE, words
            ch = text[self.pos]
            self.pos += 1
            if ch == "\n":
                self.line += 1
                sharp_comment = False
            if sharp_comment:
                continue
            if quoted:
                quoted = False
                continue
            if need_space:
                if ch in _SPACE:
                    last_space, need_space = True, False
                    continue
                if ch == ";":
                    return OK, words
                if ch == "{":
                    return BLOCK_START, words
                if ch != ")":
                    raise self.error(f'unexpected "{ch}"')
                last_space, need_space = True, False       # ")" then starts a word
            if last_space:
                start = word_start = self.pos - 1
                start_line = self.line
                if ch in _SPACE:
                    continue
                if ch in ";{":
                    if not words:
                        raise self.error(f'unexpected "{ch}"')
                    return (OK if ch == ";" else BLOCK_START), words
                if ch == "}":
                    if words:
                        raise self.error('unexpected "}"')
                    return BLOCK_DONE, words
                if ch == "#":
                    sharp_comment = True
                    continue
                last_space = False
                if ch == "\\":
                    quoted = True
                elif ch == '"':
                    start, d_quoted = start + 1, True
                elif ch == "'":
                    start, s_quoted = start + 1, True
                elif ch == "$":
                    variable = True
                continue
            if ch == "{" and variable:                      # ${name}
                continue
            variable = False
            if ch == "\\":
                quoted = True
                continue
            if ch == "$":
                variable = True
                continue
            if d_quoted or s_quoted:
                if ch != ('"' if d_quoted else "'"):
                    continue
                d_quoted = s_quoted = False
                need_space = True
            elif ch in _SPACE or ch in ";{":
                last_space = True
            else:
                continue
            words.append((_unescape(text[start:self.pos - 1]), start_line, word_start))
            if ch == ";":
                return OK, words
            if ch == "{":
                return BLOCK_START, words

    def read_lua_block(self) -> str:
        """src/ngx_http_lua_directive.c ngx_http_lua_conf_lua_block_parse and
        ngx_http_lua_conf_read_lua_token: read Lua up to the ``}`` matching the ``{`` just
        read, counting ``{ }`` outside Lua strings, comments and long brackets. Returns the
        raw text in between."""
        text, begin, pos = self.text, self.pos, self.pos
        level, curly_line = 1, self.line
        while True:
            m = _LUA_TOKEN.search(text, pos)
            if m is None:
                raise self.error("unexpected end of file, expecting terminating characters "
                                 "for lua code block", curly_line)
            end = m.end()
            if m.group("lcomment") or m.group("lstring"):
                self.line += text.count("\n", pos, m.start())
                pos = m.start()
                close = "]" + (m.group("leq") or m.group("seq") or "") + "]"
                found = text.find(close, end)
                if found < 0:
                    raise self.error(f'Lua code block missing the closing long bracket '
                                     f'"{close}", the inlined Lua code may be too long')
                end = found + len(close)
            self.line += text.count("\n", pos, end)
            pos = end
            if m.group("curly") == "{":
                level, curly_line = level + 1, self.line
            elif m.group("curly") == "}":
                level -= 1
                if level == 0:
                    self.pos = pos
                    return text[begin:pos - 1]


# ---------------------------------------------------------------------------------------------
# The tree: src/core/ngx_conf_file.c ngx_conf_parse
# ---------------------------------------------------------------------------------------------

def parse(text: str, filename: str = "nginx.conf", *, _handler=None) -> list:
    """Read ``text`` into a list of ``Directive`` (syntax only: no directive is checked).

    Raises ``ConfigError`` for what ``ngx_conf_read_token`` and ``ngx_conf_parse`` reject:
    stray ``;`` ``{`` ``}``, a quote not followed by a space, the end of the text inside a
    directive or block, and a ``*_by_lua_block`` whose Lua does not close.
    """
    tree = []
    _parse_block(_Reader(text, filename), [], _handler, tree)
    return tree


def parse_partial(text: str, filename: str = "nginx.conf") -> tuple:
    """(tree, error): like ``parse``, but a syntax error does not throw away what was read
    before it. ``tree`` holds every directive read up to the error (a block the error
    interrupted holds what was read of it); ``error`` is the ``ConfigError``, or None."""
    tree = []
    try:
        _parse_block(_Reader(text, filename), [], None, tree)
    except ConfigError as e:
        return tree, e
    return tree, None


def _parse_block(reader: _Reader, parents: list, handler, out: list) -> None:
    """src/core/ngx_conf_file.c ngx_conf_parse for one file or block, appending to ``out``
    as it reads; ``handler`` (the loader) sees each directive when nginx's
    ``ngx_conf_handler`` would, so errors come in nginx's order."""
    while True:
        rc, words = reader.read_token()
        if rc == FILE_DONE:
            if parents:
                raise reader.error('unexpected end of file, expecting "}"')
            return
        if rc == BLOCK_DONE:
            if not parents:
                raise reader.error('unexpected "}"')
            return
        d = Directive(words[0][0], [w for w, _, _ in words[1:]], reader.line,
                      arg_lines=[line for _, line, _ in words[1:]], start=words[0][2],
                      end=reader.pos, body_start=reader.pos if rc == BLOCK_START else -1)
        out.append(d)
        if handler:
            handler.directive(d, parents, rc)
        if rc != BLOCK_START:
            continue
        if d.name.endswith("_by_lua_block"):
            d.args.append(reader.read_lua_block())
            d.arg_lines.append(d.line)
            if handler:
                handler.lua_block_done(d, parents, reader.line)
        else:
            d.block = []
            _parse_block(reader, parents + [d], handler, d.block)
        d.end = reader.pos


def walk(tree: list):
    """Every directive of a ``parse`` tree, depth first, in text order."""
    for d in tree:
        yield d
        yield from walk(d.block or ())


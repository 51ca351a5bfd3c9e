"""HTML-like labels and DOT statements as text, for graph.py's builder.

Only HTML-like labels (never ``shape=record``) and only ASCII text: dot's
width tables warn on other characters, so the rest becomes ``&#NNN;``."""
from __future__ import annotations

from html import escape as _esc

from .palette import CHANGED, CHANGED_BG, INK


# control characters are no XML, not even as &#N;: a URI or body may hold them
_CONTROL = {c: f"\\x{c:02X}" for c in list(range(0x20)) + [0x7F] if c not in (0x09, 0x0A)}


def _h(text):
    """HTML-escaped and ASCII (other characters as &#NNN;, control ones as \\xHH)."""
    text = str(text).translate(_CONTROL)
    return _esc(text, quote=True).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _yn(v):
    return "yes" if v else "no"


def _line(text, size=None, bold=False, colour=None):
    t = _h(text)
    if bold:
        t = f"<B>{t}</B>"
    attrs = ""
    if size:
        attrs += f' POINT-SIZE="{size}"'
    if colour:
        attrs += f' COLOR="{colour}"'
    return f"<FONT{attrs}>{t}</FONT>" if attrs else t


def _html(rows):
    return "<" + "<BR/>".join(rows) + ">"


def _row(key, value, changed=False, was=None, big=False, note=None, width=72, key_width=None,
         key_html=None):
    """A two-cell table row.  A changed value gets a tinted cell and, on a small
    line of its own (so the node hardly grows), '* was ...' or `note`.  The
    value cell has a minimum width so short values do not make the node jump."""
    v = _h(value)
    if big:
        v = f'<FONT POINT-SIZE="22"><B>{v}</B></FONT>'
    w = f' WIDTH="{width}"' if width else ""
    k = f'<TD ALIGN="LEFT" WIDTH="{key_width}">' if key_width else '<TD ALIGN="LEFT">'
    if changed:
        note = note or (f"* was {was}" if was is not None else "* changed")
        v += f'<BR ALIGN="LEFT"/><FONT POINT-SIZE="8" COLOR="{CHANGED}">{_h(note)}</FONT>'
        return (f'<TR>{k}{key_html or _h(key)}</TD>'
                f'<TD ALIGN="LEFT" BALIGN="LEFT" BGCOLOR="{CHANGED_BG}"{w}>{v}</TD></TR>')
    return f'<TR>{k}{key_html or _h(key)}</TD><TD ALIGN="LEFT"{w}>{v}</TD></TR>'


def _timer_key(label):
    """A long timer label ("echo_sleep /sub_sleep2") on two small lines."""
    if len(label) <= 8:
        return None
    return '<FONT POINT-SIZE="8">' + '<BR ALIGN="LEFT"/>'.join(_h(p) for p in label.split(" ", 1)) + "</FONT>"


def _table(title, rows, bg="white", changed=False):
    border = 3 if changed else 1
    return (f'<<TABLE BORDER="{border}" COLOR="{CHANGED if changed else INK}" CELLBORDER="0" '
            f'CELLSPACING="0" CELLPADDING="3" BGCOLOR="{bg}">'
            f'<TR><TD COLSPAN="2" BGCOLOR="#EEEEEE">{title}</TD></TR>'
            + "".join(rows) + "</TABLE>>")


def _wrap(text, width=100):
    words, lines, cur = str(text).split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return lines or [""]


def _q(value):
    """A DOT attribute value: HTML-like labels as they are, the rest quoted."""
    v = str(value)
    if v.startswith("<") and v.endswith(">"):
        return v
    v = v.translate({c: t for c, t in _CONTROL.items() if c != 0x0A})
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Body:
    """Collects DOT statements as text (the graphviz package's own quoting is
    ten times slower, and we quote nothing but our own names and labels)."""

    def __init__(self):
        self.lines = []

    @staticmethod
    def _attrs(attrs):
        return " [" + " ".join(f"{k}={_q(v)}" for k, v in attrs.items()) + "]" if attrs else ""

    def node(self, name, **attrs):
        self.lines.append(f"\t{name}{self._attrs(attrs)}\n")

    def edge(self, a, b, **attrs):
        self.lines.append(f"\t{a} -> {b}{self._attrs(attrs)}\n")

    def attr(self, **attrs):
        self.lines.append(f"\tgraph{self._attrs(attrs)}\n")

"""Regular expressions: src/core/ngx_regex.c ``ngx_regex_compile`` (PCRE2), as the model
runs them with Python's ``re``.

``pcre_compile(pattern, caseless)`` gives a ``re`` pattern that matches like PCRE2 does for
nginx (unanchored search, ASCII classes), rewriting the trivial differences. A pattern nginx
refuses raises ``RegexError`` with nginx's ``pcre2_compile() failed: ...`` words
(``nginx=True``); PCRE-only syntax that ``re`` cannot run raises it with ngxcoro's own words
(``nginx=False``: real nginx would accept it).
"""

from __future__ import annotations

import re
import warnings
from itertools import accumulate

__all__ = ["RegexError", "pcre_compile"]


class RegexError(Exception):
    def __init__(self, message: str, nginx: bool):
        super().__init__(message)
        self.message, self.nginx = message, nginx


_POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "xdigit": "0-9A-Fa-f", "space": r" \t\n\r\f\v", "blank": r" \t", "word": r"\w",
    "punct": re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"), "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e", "graph": r"\x21-\x7e",
}
# PCRE escapes with no equivalent (or another meaning, like \v) in Python's re
_PCRE_ONLY_ESCAPES = set("cCeEgGhHkKlLNopPQRuUvVX")
# group openings both understand
_GROUP_OK = re.compile(r"""\(\?(?: [:=!#>] | <[=!] | P[<=] | [imsx]*(?:-[imsx]*)?[:)]
                                | \((?:\d+|[A-Za-z_]\w*)\) )""", re.VERBOSE)
# Python re's messages for the common PCRE2 errors, and whether nginx adds ' at "<rest>"'
_PCRE_MESSAGES = {
    "missing ), unterminated subpattern": ("missing closing parenthesis", False),
    "unbalanced parenthesis": ("unmatched closing parenthesis", True),
    "nothing to repeat": ("quantifier does not follow a repeatable item", True),
    "multiple repeat": ("quantifier does not follow a repeatable item", True),
    "unterminated character set": ("missing terminating ] for character class", False),
}


def pcre_compile(pattern: str, caseless: bool = False) -> re.Pattern:
    """A Python ``re`` pattern that matches like PCRE2 does for nginx (unanchored search,
    ASCII classes). Rewrites the trivial differences (``(?<name>``, ``\\z``, ``\\Z``, POSIX
    classes, ``{,n}``) and raises ``RegexError`` for PCRE-only syntax or a bad pattern."""
    out, origin = [], []                      # converted pieces, where each starts in pattern

    def emit(piece: str, at: int):
        out.append(piece)
        origin.append(at)

    def unsupported(what: str):
        raise RegexError(f'ngxcoro cannot run the PCRE regex "{pattern}": "{what}" has no '
                          f'Python re equivalent', nginx=False)

    i, n, in_class, class_start = 0, len(pattern), False, 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1:i + 2]
            if nxt == "x" and not re.match(r"[0-9a-fA-F]{2}", pattern[i + 2:i + 4]):
                unsupported(pattern[i:i + 3])
            if nxt in _PCRE_ONLY_ESCAPES:
                unsupported("\\" + nxt)
            if nxt == "z":
                emit(r"\Z", i)
            elif nxt == "Z" and not in_class:
                emit(r"(?=\n?\Z)", i)
            else:
                emit(pattern[i:i + 2], i)
            i += 2
            continue
        if in_class:
            posix = re.match(r"\[:(\^?)(\w+):\]", pattern[i:])
            if posix:
                if posix.group(1) or posix.group(2) not in _POSIX_CLASSES:
                    unsupported(posix.group())
                emit(_POSIX_CLASSES[posix.group(2)], i)
                i += posix.end()
                continue
            if c == "]" and i > class_start:
                in_class = False
                emit(c, i)
            else:                                   # literals for PCRE, sets for Python
                emit("\\" + c if c in "[]&~|" else c, i)
        elif c == "[":
            j = i + 2 if pattern[i + 1:i + 2] == "^" else i + 1
            emit(pattern[i:j], i)
            in_class, class_start, i = True, j, j
            continue
        elif c == "(" and pattern.startswith("(*", i):
            unsupported("(*")
        elif c == "(" and pattern.startswith("(?", i):
            named = re.match(r"\(\?(?:<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')", pattern[i:])
            if named:
                emit(f"(?P<{named.group(1) or named.group(2)}>", i)
                i += named.end()
                continue
            if not _GROUP_OK.match(pattern, i):
                unsupported(pattern[i:i + 3])
            emit(c, i)
        elif c == "{" and pattern.startswith("{,", i):
            emit(r"\{", i)                          # a literal for PCRE2 10.42
        else:
            emit(c, i)
        i += 1
    python = "".join(out)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(python, re.ASCII | (re.IGNORECASE if caseless else 0))
    except re.error as e:
        known = _PCRE_MESSAGES.get(e.msg)
        if known is None:
            raise RegexError(f'ngxcoro cannot compile the regex "{pattern}": {e.msg}',
                              nginx=False) from None
        at = len(pattern)
        if e.pos is not None:                   # back to an offset in the PCRE pattern
            ends = list(accumulate(map(len, out)))
            at = next((origin[k] for k, end in enumerate(ends) if end > e.pos), at)
        text, with_at = known
        where = f' at "{pattern[at:]}"' if with_at and at < len(pattern) else ""
        raise RegexError(f'pcre2_compile() failed: {text} in "{pattern}"{where}',
                          nginx=True) from None

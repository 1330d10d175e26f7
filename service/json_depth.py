"""JSON nesting depth without parsing (SPEC §3b: deeper than 64 levels is refused, never a 500).

Python's json and pydantic's parser both recurse per level, so a document is measured before
either sees it. Strings are skipped first: a bracket inside one is text, not nesting.
"""

from __future__ import annotations

import re

MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_OPENERS = frozenset(b"[{")


def exceeds_depth(document: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    raw = document.encode("utf-8", "surrogatepass") if isinstance(document, str) else document
    if raw.count(b"[") + raw.count(b"{") <= limit:  # the common case costs two C-level scans
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", raw)):
        if bracket[0] in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False

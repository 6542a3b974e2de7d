"""Fit outgoing HTML into Telegram's limits: shorten the longest text runs with «…», then lines.

Telegram counts a message after entity parsing, in UTF-16 code units (4,096 for a text, 1,024
for a caption, 200 for a button alert). Tags are never cut: only the text between them is.
"""

from __future__ import annotations

import html
import logging
import re

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ALERT_LIMIT = 200
ELLIPSIS = "…"
FLOOR = 24  # a shortened run keeps at least this much before the lines themselves go

_TOKEN = re.compile(r"(<[^>]*>|\n)")


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _unescape(text: str) -> str:
    """Decode the entities e() writes (fast path); anything else through html.unescape."""
    if "&" not in text:
        return text
    if "&#" in text:
        return html.unescape(text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace(
        "&amp;", "&")


def visible(markup: str) -> str:
    """The text a person sees: tags dropped, entities decoded, ends trimmed as Telegram does."""
    return _unescape(re.sub(r"<[^>]*>", "", markup)).strip()


def visible_length(markup: str) -> int:
    """UTF-16 length after entity parsing."""
    return utf16_len(visible(markup))


def shorten(value: str, limit: int) -> str:
    """Plain text of at most `limit` characters, cut with «…» (for fields before escaping)."""
    if len(value) <= limit:
        return value
    return value[:max(0, limit - 1)].rstrip() + ELLIPSIS


def _cut_run(run: str, units: int) -> str:
    """An escaped text run cut to `units` visible UTF-16 units, ending with «…»."""
    plain = _unescape(run)
    kept, used = [], 0
    for char in plain:
        size = utf16_len(char)
        if used + size > units - 1:
            break
        kept.append(char)
        used += size
    return html.escape("".join(kept).rstrip(), quote=False) + ELLIPSIS


def _drop_lines(tokens: list[str], limit: int) -> list[str]:
    """Keep whole lines from the top (cut only where no tag is open) and end with «…»."""
    kept: list[str] = []
    best: list[str] = []
    depth, length = 0, 0
    for token in tokens:
        if token.startswith("<"):
            depth += -1 if token.startswith("</") else 1
        elif token == "\n":
            if depth == 0 and length + 2 <= limit:
                best = kept.copy()
            length += 1
        else:
            length += utf16_len(_unescape(token))
        kept.append(token)
    return best + ["\n", ELLIPSIS]


def fit(text: str, limit: int = TEXT_LIMIT) -> str:
    """The text itself when it fits; otherwise its longest runs shortened, then its last lines."""
    total = visible_length(text)
    if total <= limit:
        return text
    tokens = [t for t in _TOKEN.split(text) if t]
    sizes = {i: utf16_len(_unescape(t)) for i, t in enumerate(tokens)
             if not t.startswith("<") and t != "\n"}
    while total > limit:
        longest = max(sizes, key=sizes.__getitem__, default=None)
        if longest is None or sizes[longest] <= FLOOR:
            tokens = _drop_lines(tokens, limit)
            break
        tokens[longest] = _cut_run(tokens[longest], max(FLOOR, sizes[longest] - (total - limit)))
        size = utf16_len(_unescape(tokens[longest]))
        total -= sizes[longest] - size
        sizes[longest] = size
    result = "".join(tokens)
    logger.info("message shortened to fit: %d -> %d units", utf16_len(visible(text)),
                visible_length(result))
    return result

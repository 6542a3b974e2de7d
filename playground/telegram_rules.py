"""Pure checks that refuse what the real Telegram Bot API refuses (standard library only).

Shared by the Bot API emulator (``playground.botapi``) and by in-process recording senders.
The HTML scanner follows TDLib's ``parse_html`` (tags, attributes, entities, error texts and
UTF-8 byte offsets).  One deliberate difference, on by default (``strict=True``): a ``&`` that
does not start a complete ``&name;`` / ``&#N;`` reference is refused, while real Telegram keeps
it literally.  Such a message only works by accident (the same unescaped text breaks on ``<``),
so the fake treats it as a bug; pass ``strict=False`` for Telegram's exact behaviour.
Strict mode also requires ``href`` on ``<a>``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64

HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
        "tg-spoiler", "code", "pre", "blockquote", "tg-emoji",
    }
)
PARSE_MODES = frozenset({"html", "markdown", "markdownv2"})

# Methods whose chat_id is mandatory (edits may use inline_message_id instead).
_CHAT_METHODS = frozenset(
    {
        "sendmessage", "senddocument", "sendphoto", "sendaudio", "sendvideo", "sendvoice",
        "sendanimation", "sendsticker", "sendmediagroup", "sendlocation", "sendcontact",
        "sendpoll", "senddice", "sendchataction", "forwardmessage", "copymessage",
        "deletemessage", "deletemessages", "pinchatmessage", "unpinchatmessage", "getchat",
    }
)
_EDIT_METHODS = frozenset(
    {"editmessagetext", "editmessagecaption", "editmessagereplymarkup", "editmessagemedia"}
)
_TEXT_METHODS = frozenset({"sendmessage", "editmessagetext"})
_BUTTON_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text",
    "callback_game", "pay",
)
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
_INT_RE = re.compile(r"-?\d+")

_LT, _GT, _AMP, _SLASH, _EQ, _SEMI = (ord(c) for c in "<>&/=;")
_QUOTES = (ord('"'), ord("'"))
_SPACES = frozenset(b" \t\r\n\v\f\0")
_NAMED_ENTITIES = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a content and reply markup of the current message"
)


class EntityParseError(ValueError):
    """HTML that Telegram's parser refuses; str() is the text after "can't parse entities: "."""


@dataclass(frozen=True)
class _Open:
    """A start tag waiting for its end tag."""

    tag: str
    argument: str
    utf16_offset: int
    result_pos: int
    byte_offset: int


class _Reject(Exception):
    """Internal: carries a Telegram (error_code, description) out of the checks."""

    def __init__(self, description: str, code: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def _is_space(c: int) -> bool:
    """TDLib's is_space (NUL included: the end of a C string stops every scan)."""
    return c in _SPACES


def _decode_entity(data: bytes, pos: int) -> tuple[int, int]:
    """TDLib's decode_html_entity: (code point or 0, position after the reference)."""
    n = len(data)

    def at(k: int) -> int:
        return data[k] if k < n else 0

    end = pos + 1
    code = 0
    if at(pos + 1) == ord("#"):
        end += 1
        if at(pos + 2) == ord("x"):
            end += 1
            while chr(at(end)) in "0123456789abcdefABCDEF":
                code = code * 16 + int(chr(at(end)), 16)
                end += 1
        else:
            while ord("0") <= at(end) <= ord("9"):
                code = code * 10 + at(end) - ord("0")
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while chr(at(end)).isascii() and chr(at(end)).isalpha():
            end += 1
        named = _NAMED_ENTITIES.get(data[pos + 1 : end])
        if named is None:
            return 0, pos
        code = ord(named)
    return code, end + 1 if at(end) == _SEMI else end


def _utf16_units(c: int) -> int:
    """UTF-16 code units contributed by one UTF-8 byte (counted on lead bytes only)."""
    if c & 0xC0 == 0x80:
        return 0
    return 2 if c >= 0xF0 else 1


def _at(data: bytes, k: int) -> int:
    """The byte at k, or 0 past the end (TDLib scans a NUL-terminated string)."""
    return data[k] if k < len(data) else 0


def _skip_spaces(data: bytes, i: int) -> int:
    """The index of the first byte from i on that is not a space (or the end)."""
    while _at(data, i) != 0 and _is_space(_at(data, i)):
        i += 1
    return i


def parse_html(text: str, *, strict: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML into (visible text, entities); raise EntityParseError like Telegram."""
    data = text.encode("utf-8", "surrogatepass")
    out = bytearray()
    entities: list[dict[str, Any]] = []
    stack: list[_Open] = []
    utf16 = 0
    i = 0
    while i < len(data):
        c = data[i]
        if c == _AMP:
            code, end = _text_reference(data, i, strict)
            if code:
                out += chr(code).encode("utf-8", "surrogatepass")
                utf16 += 2 if code > 0xFFFF else 1
                i = end
                continue
        if c != _LT:
            out.append(c)
            utf16 += _utf16_units(c)
            i += 1
            continue
        if _at(data, i + 1) != _SLASH:
            opened, i = _start_tag(data, i, i + 1, utf16, len(out), strict)
            stack.append(opened)
        else:
            i = _end_tag(data, i, stack, entities, utf16, out)
        i += 1
    return _finished(out, entities, stack)


def _text_reference(data: bytes, i: int, strict: bool) -> tuple[int, int]:
    """Decode the reference at an '&' in the text; strict mode refuses an incomplete one."""
    code, end = _decode_entity(data, i)
    if strict and (code == 0 or data[end - 1] != _SEMI):
        raise EntityParseError(
            f'Unsupported HTML entity at byte offset {i}: a bare "&" must be escaped as '
            '"&amp;" (strict fake; real Telegram would keep it literally)'
        )
    return code, end


def _end_tag(
    data: bytes,
    begin: int,
    stack: list[_Open],
    entities: list[dict[str, Any]],
    utf16: int,
    out: bytearray,
) -> int:
    """Close the innermost open tag at the end tag at begin; return the index of its '>'."""
    if not stack:
        raise EntityParseError(f"Unexpected end tag at byte offset {begin}")
    i = begin + 2
    while not _is_space(_at(data, i)) and _at(data, i) != _GT:
        i += 1
    end_tag = data[begin + 2 : i].decode("utf-8", "replace").lower()
    i = _skip_spaces(data, i)
    if _at(data, i) != _GT:
        raise EntityParseError(f"Unclosed end tag at byte offset {begin}")
    opened = stack[-1]
    if end_tag and end_tag != opened.tag:
        raise EntityParseError(
            f'Unmatched end tag at byte offset {begin}, expected "</{opened.tag}>", '
            f'found "</{end_tag}>"'
        )
    if utf16 > opened.utf16_offset:
        _add_entity(entities, opened, utf16 - opened.utf16_offset, out)
    stack.pop()
    return i


def _finished(
    out: bytearray, entities: list[dict[str, Any]], stack: list[_Open]
) -> tuple[str, list[dict[str, Any]]]:
    """The visible text and sorted entities once the whole text is read."""
    if stack:
        raise EntityParseError(
            f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"'
        )
    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    try:
        visible = out.decode("utf-8")
    except UnicodeDecodeError:
        raise EntityParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        ) from None
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return visible, entities


def _start_tag(
    data: bytes, begin: int, i: int, utf16: int, result_pos: int, strict: bool
) -> tuple[_Open, int]:
    """Read a start tag from its name on; return it and the index of its closing '>'."""
    tag, i = _start_tag_name(data, begin, i)
    argument = ""
    has_href = False
    i = _skip_spaces(data, i)
    while _at(data, i) != _GT:
        name, value, i = _attribute(data, begin, tag, i)
        found = _attribute_argument(tag, name, value)
        if found is not None:
            argument = found
        has_href = has_href or (tag == "a" and name == "href" and value is not None)
        i = _skip_spaces(data, i)
    if tag == "span" and argument != "spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    if strict and tag == "a" and not has_href:
        raise EntityParseError(
            f'Tag "a" must have an attribute "href" at byte offset {begin} (strict fake)'
        )
    return _Open(tag, argument, utf16, result_pos, begin), i


def _start_tag_name(data: bytes, begin: int, i: int) -> tuple[str, int]:
    """Read a supported start tag's name (lower-cased); return it and the index after it."""
    while not _is_space(_at(data, i)) and _at(data, i) != _GT:
        i += 1
    if _at(data, i) == 0:
        raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
    tag = data[begin + 1 : i].decode("utf-8", "replace").lower()
    if tag not in HTML_TAGS:
        raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
    return tag, i


def _attribute(data: bytes, begin: int, tag: str, i: int) -> tuple[str, str | None, int]:
    """Read one attribute: (name, value or None without '=', index after it)."""
    name_begin = i
    while not _is_space(_at(data, i)) and _at(data, i) not in (_EQ, _GT, _SLASH, *_QUOTES):
        i += 1
    name = data[name_begin:i].decode("utf-8", "replace")
    if not name:
        raise EntityParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
    i = _skip_spaces(data, i)
    if _at(data, i) != _EQ:
        if _at(data, i) == 0:
            raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
        return name, None, i
    i = _skip_spaces(data, i + 1)
    if _at(data, i) == 0:
        raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
    value, i = _attribute_value(data, i)
    if _at(data, i) == 0:
        raise EntityParseError(f"Unclosed start tag at byte offset {begin}")
    return name, value, i


# The tag argument an attribute with a value sets (None: the value sets nothing).
_ATTRIBUTE_ARGUMENTS: dict[tuple[str, str], Callable[[str], str | None]] = {
    ("a", "href"): lambda value: value,
    ("tg-emoji", "emoji-id"): lambda value: value,
    ("code", "class"): lambda value: value[9:] if value.startswith("language-") else None,
    ("span", "class"): lambda value: value[3:] if value.startswith("tg-") else None,
    ("blockquote", "expandable"): lambda value: "1",
}


def _attribute_argument(tag: str, name: str, value: str | None) -> str | None:
    """The argument (href, emoji id, language, class, expandable) an attribute gives its tag."""
    if value is None:
        return "1" if (tag, name) == ("blockquote", "expandable") else None
    read = _ATTRIBUTE_ARGUMENTS.get((tag, name))
    return read(value) if read is not None else None


def _attribute_value(data: bytes, i: int) -> tuple[str, int]:
    """Read a name token (lower-cased) or a quoted string with its references decoded."""
    if _at(data, i) not in _QUOTES:
        begin = i
        while (chr(_at(data, i)).isascii() and (chr(_at(data, i)).isalnum()
               or _at(data, i) in b".-") and _at(data, i)):
            i += 1
        if not _is_space(_at(data, i)) and _at(data, i) != _GT:
            raise EntityParseError(f"Unexpected end of name token at byte offset {begin}")
        return data[begin:i].decode("ascii").lower(), i
    quote = _at(data, i)
    i += 1
    value = bytearray()
    while _at(data, i) != quote and _at(data, i) != 0:
        if _at(data, i) == _AMP:
            code, end = _decode_entity(data, i)
            if code:
                value += chr(code).encode("utf-8", "surrogatepass")
                i = end
                continue
        value.append(_at(data, i))
        i += 1
    if _at(data, i) == quote:
        i += 1
    return value.decode("utf-8", "replace"), i


_SIMPLE_ENTITIES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "tg-spoiler": "spoiler", "span": "spoiler",
}


def _add_entity(entities: list[dict[str, Any]], opened: _Open, length: int, out: bytearray) -> None:
    """Append the MessageEntity a closed tag makes (TDLib's rules, URL checks left out)."""
    if opened.tag in _SIMPLE_ENTITIES:
        entities.append(
            {"type": _SIMPLE_ENTITIES[opened.tag], "offset": opened.utf16_offset, "length": length}
        )
        return
    add = _ENTITY_BUILDERS.get(opened.tag)
    if add is not None:
        add(entities, opened, length, out)


def _same_span_as_last(entities: list[dict[str, Any]], kind: str, opened: _Open,
                       length: int) -> dict[str, Any] | None:
    """The last entity when it is of kind and covers exactly the closed tag's span."""
    last = entities[-1] if entities else None
    if last is None or last["type"] != kind:
        return None
    return last if (last["offset"], last["length"]) == (opened.utf16_offset, length) else None


def _add_custom_emoji(entities: list[dict[str, Any]], opened: _Open, length: int,
                      out: bytearray) -> None:
    """<tg-emoji emoji-id=N>: a custom_emoji entity with a valid identifier."""
    if not opened.argument.isdigit() or not 0 < int(opened.argument) < 2**63:
        raise EntityParseError("Invalid custom emoji identifier specified")
    entities.append(
        {"type": "custom_emoji", "offset": opened.utf16_offset, "length": length,
         "custom_emoji_id": opened.argument}
    )


def _add_text_link(entities: list[dict[str, Any]], opened: _Open, length: int,
                   out: bytearray) -> None:
    """<a>: a text_link to href, or to the link's own text when href is missing or empty."""
    url = opened.argument or out[opened.result_pos :].decode("utf-8", "replace")
    if url:
        entities.append(
            {"type": "text_link", "offset": opened.utf16_offset, "length": length, "url": url}
        )


def _add_pre(entities: list[dict[str, Any]], opened: _Open, length: int, out: bytearray) -> None:
    """<pre>: turns an inner <code class="language-x"> of the same span into the pre block."""
    last = _same_span_as_last(entities, "code", opened, length)
    if last is not None and "language" in last:
        last["type"] = "pre"
    else:
        entities.append({"type": "pre", "offset": opened.utf16_offset, "length": length})


def _add_code(entities: list[dict[str, Any]], opened: _Open, length: int, out: bytearray) -> None:
    """<code>: gives its language to an enclosing-span <pre>, or is a code entity itself."""
    last = _same_span_as_last(entities, "pre", opened, length)
    if last is not None and opened.argument:
        last["language"] = opened.argument
        return
    entity: dict[str, Any] = {"type": "code", "offset": opened.utf16_offset, "length": length}
    if opened.argument:
        entity["language"] = opened.argument
    entities.append(entity)


def _add_blockquote(entities: list[dict[str, Any]], opened: _Open, length: int,
                    out: bytearray) -> None:
    """<blockquote>, expandable when the attribute was given."""
    kind = "expandable_blockquote" if opened.argument else "blockquote"
    entities.append({"type": kind, "offset": opened.utf16_offset, "length": length})


_ENTITY_BUILDERS: dict[
    str, Callable[[list[dict[str, Any]], _Open, int, bytearray], None]
] = {
    "tg-emoji": _add_custom_emoji,
    "a": _add_text_link,
    "pre": _add_pre,
    "code": _add_code,
    "blockquote": _add_blockquote,
}


def normalize_parse_mode(parse_mode: str | None) -> str | None:
    """Lower-case a parse_mode; empty means none."""
    return parse_mode.lower() if parse_mode else None


def parse_text(
    text: str, parse_mode: str | None, *, strict: bool = True
) -> tuple[str, list[dict[str, Any]]]:
    """(visible text, entities) for any parse_mode; Markdown modes are passed through raw."""
    mode = normalize_parse_mode(parse_mode)
    if mode == "html":
        return parse_html(text, strict=strict)
    return text, []


def visible_text(text: str, parse_mode: str | None, *, strict: bool = True) -> str:
    """The text as the user sees it: HTML tags stripped and entities decoded (no trimming)."""
    mode = normalize_parse_mode(parse_mode)
    if mode is None:
        return text
    if mode == "html":
        return parse_html(text, strict=strict)[0]
    raise ValueError(f"visible_text does not implement parse_mode {parse_mode!r}")


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram's limits and entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _trimmed(text: str) -> str:
    """Text without the leading/trailing whitespace Telegram removes before checking length."""
    return text.strip(" \t\r\n\v\f")


def _check_formatted(
    params: Mapping[str, Any], field: str, limit: int, strict: bool, required: bool
) -> None:
    """Check text or caption: parse_mode, UTF-8, entity parsing, emptiness, length."""
    raw = params.get(field)
    if raw is None or raw == "":
        if required:
            raise _Reject("Bad Request: message text is empty")
        return
    text = raw if isinstance(raw, str) else str(raw)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Reject("Bad Request: strings must be encoded in UTF-8") from None
    mode = params.get("parse_mode")
    try:
        visible, _ = parse_text(text, mode if isinstance(mode, str) else None, strict=strict)
    except EntityParseError as exc:
        raise _Reject(f"Bad Request: can't parse entities: {exc}") from None
    visible = _trimmed(visible)
    if not visible and required:
        raise _Reject("Bad Request: message text is empty")
    if utf16_length(visible) > limit:
        if field == "caption":
            raise _Reject("Bad Request: message caption is too long")
        raise _Reject("Bad Request: message is too long")


def parse_markup(markup: Any) -> dict[str, Any] | None:
    """reply_markup as a dict (JSON strings decoded); None when absent; ValueError if invalid."""
    if markup is None or markup == "":
        return None
    if isinstance(markup, (str, bytes)):
        try:
            markup = json.loads(markup)
        except ValueError:
            raise ValueError("Bad Request: can't parse reply keyboard markup JSON object") from None
    if not isinstance(markup, dict):
        raise ValueError("Bad Request: can't parse reply keyboard markup JSON object")
    return markup


def _check_markup(raw: Any) -> None:
    """Check reply_markup: valid JSON object and inline keyboard buttons."""
    try:
        markup = parse_markup(raw)
    except ValueError as exc:
        raise _Reject(str(exc)) from None
    if not markup or "inline_keyboard" not in markup:
        return
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _Reject(
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array '
            "of Arrays"
        )
    for row in rows:
        for button in row:
            if not isinstance(button, dict):
                raise _Reject("Bad Request: can't parse inline keyboard button: Object expected")
            if not isinstance(button.get("text"), str):
                raise _Reject(
                    'Bad Request: can\'t parse inline keyboard button: Field "text" must be of '
                    "type String"
                )
            if not any(key in button for key in _BUTTON_ACTIONS):
                raise _Reject(
                    "Bad Request: can't parse inline keyboard button: Text buttons are "
                    "unallowed in the inline keyboard"
                )
            data = button.get("callback_data")
            if data is not None and len(str(data).encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                raise _Reject("Bad Request: BUTTON_DATA_INVALID")


def _check_chat(method: str, params: Mapping[str, Any]) -> None:
    """chat_id present and numeric (user names of channels are unknown to the fake)."""
    if method in _EDIT_METHODS and params.get("inline_message_id"):
        return
    chat_id = params.get("chat_id")
    if isinstance(chat_id, bool) or chat_id is None:
        raise _Reject("Bad Request: chat not found")
    if not isinstance(chat_id, int) and not _INT_RE.fullmatch(str(chat_id).strip()):
        raise _Reject("Bad Request: chat not found")
    needs_message = method in _EDIT_METHODS or method == "deletemessage"
    if needs_message and params.get("message_id") in (None, ""):
        raise _Reject("Bad Request: message identifier is not specified")


def _check_commands(params: Mapping[str, Any]) -> None:
    """setMyCommands: a JSON array of {command, description}."""
    raw = params.get("commands")
    try:
        commands = json.loads(raw) if isinstance(raw, (str, bytes)) else raw
    except ValueError:
        commands = None
    if not isinstance(commands, list):
        raise _Reject("Bad Request: can't parse commands JSON object")
    for item in commands:
        if not isinstance(item, dict) or not _COMMAND_RE.fullmatch(str(item.get("command", ""))):
            raise _Reject("Bad Request: BOT_COMMAND_INVALID")
        description = item.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 256:
            raise _Reject("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")


def check_request(
    method: str, params: Mapping[str, Any], *, strict: bool = True
) -> tuple[int, str] | None:
    """(error_code, description) the Bot API would answer for this call, or None if accepted."""
    name = method.lower()
    try:
        if name in _CHAT_METHODS or name in _EDIT_METHODS:
            _check_chat(name, params)
        mode = params.get("parse_mode")
        formatted = "text" in params or "caption" in params or name in _TEXT_METHODS
        if mode and formatted and (not isinstance(mode, str) or mode.lower() not in PARSE_MODES):
            raise _Reject("Bad Request: unsupported parse_mode")
        if name in _TEXT_METHODS:
            _check_formatted(params, "text", MAX_TEXT_LENGTH, strict, required=True)
        if "caption" in params:
            _check_formatted(params, "caption", MAX_CAPTION_LENGTH, strict, required=False)
        if "reply_markup" in params:
            _check_markup(params["reply_markup"])
        if name == "setmycommands":
            _check_commands(params)
    except _Reject as exc:
        return exc.code, exc.description
    return None

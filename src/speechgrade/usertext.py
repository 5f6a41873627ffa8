"""User text (label names, filenames, CSV cells) as data: cut short for one-line messages, escaped for Markdown,
quoted for YAML. Nothing a user typed is ever read as markup, syntax or a key."""

from __future__ import annotations

import json
import re
from typing import Any

SHORT = 200  # characters of a name shown in a one-line message
_MD_PUNCT = re.compile(r"([\\`*_\[\]#!|~$])")  # inline markup; a name never starts a line, so `-` `+` `1.` are text
_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufeff]")
_MARKUP = set("<>&[]`")
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}  # YAML 1.1 reads these as bool/null


def shorten(text: Any, limit: int = SHORT) -> str:
    """`text` whole when short; else its first `limit` characters, an ellipsis and its length (a 100 KB
    filename in a message is noise, and a terminal takes time to lay it out)."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def markdown(text: Any) -> str:
    """Plain text as inline Markdown: the marks of emphasis, code, links, tables and math backslash-escaped,
    `& < >` as HTML entities (a renderer that allows HTML shows `<script>` as text), line breaks as spaces (a
    name never starts a heading, a list or a table row), control characters as U+FFFD."""
    text = _UNPRINTABLE.sub("\ufffd", _BREAKS.sub(" ", str(text)))
    text = _MD_PUNCT.sub(r"\\\1", text)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: Any) -> str:
    """Plain text as one Markdown code span: a fence longer than any run of backticks inside, on one line."""
    text = _UNPRINTABLE.sub("\ufffd", _BREAKS.sub(" ", str(text)))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fence(text: str, info: str = "") -> str:
    """A fenced Markdown code block of `text`: the fence is longer than any run of backticks inside."""
    longest = max((len(run) for run in re.findall(r"`{3,}", text)), default=2)
    marks = "`" * (longest + 1)
    return f"{marks}{info}\n{text}\n{marks}"


def _safe_char(c: str) -> bool:
    o = ord(c)
    # printable in YAML 1.1 and JSON, and not a line break or byte-order mark: kept as it is
    return (0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000) \
        and o not in (0x2028, 0x2029, 0xFEFF)


def yaml_string(text: Any) -> str:
    """A double-quoted scalar that YAML (1.1 and 1.2) and JSON both read back as exactly `text`: quote and
    backslash escaped, every other character that is not plainly printable as a \\u escape, and `< > & [ ]` and
    backticks too (a Markdown renderer that does not know front matter shows it as text: no element or link comes
    of it)."""
    out = ['"']
    for c in str(text):
        if c in '"\\':
            out.append("\\" + c)
        elif _safe_char(c) and c not in _MARKUP:
            out.append(c)
        else:
            out.append(f"\\u{ord(c):04x}")
    out.append('"')
    return "".join(out)


def yaml_plain_or_quoted(text: Any) -> str:
    """A word of letters, digits, `-` and `_` as itself (`library_name`, `speechgrade`); anything else quoted."""
    text = str(text)
    return text if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS else yaml_string(text)


def yaml_scalar(value: Any) -> str:
    """A scalar as YAML: a finite number or a boolean as itself, None and NaN as null, a string plain when it is
    one safe word, else quoted."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return json.dumps(value) if value == value and value not in (float("inf"), float("-inf")) else "null"
    return yaml_plain_or_quoted(value)


def yaml_block(obj: Any, indent: int = 0) -> list[str]:
    """A dict of lists, dicts and scalars as block-style YAML lines; every key and string that is not one safe
    word quoted, so no user text can close a scalar, start a key or change a type."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if isinstance(value, (dict, list)) and value:
                lines.append(f"{pad}{yaml_plain_or_quoted(key)}:")
                lines += yaml_block(value, indent + (0 if isinstance(value, list) else 2))
            else:
                lines.append(f"{pad}{yaml_plain_or_quoted(key)}: {_empty_or_scalar(value)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = yaml_block(item, indent + 2)
                lines.append(f"{pad}- {sub[0].lstrip()}")
                lines += sub[1:]
            else:
                lines.append(f"{pad}- {_empty_or_scalar(item)}")
    else:
        lines.append(pad + yaml_scalar(obj))
    return lines


def _empty_or_scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return yaml_scalar(value)

"""Text every place the service writes to can hold, and websites that are safe to link to.

Request models and the office import accept text only where it can be stored and exported as it came:

- valid Unicode: a lone surrogate ("\\ud800") cannot be encoded as UTF-8, for the database or a file;
- no control characters that PostgreSQL ``text`` (NUL) or an XML 1.0 document such as an XLSX sheet
  (C0 controls other than tab, line feed and carriage return; U+FFFE, U+FFFF) cannot hold.

``SafeText`` is free text (profiles, notes, comments): tab and line breaks are allowed. ``SafeLine`` is one
line (ids, keys, names, cities): no control character at all, C1 controls and DEL included. Both are
pydantic ``Annotated`` types, so a request model only names them (``note: SafeText = Field(max_length=...)``);
an optional field or a list item puts its length first, ``Annotated[str, StringConstraints(...), SAFE_LINE]``,
so that a too-long value gets pydantic's own message. The OpenAPI schema shows each rule as a ``pattern``.
``check_text`` and ``check_line`` are the same checks for code that validates by hand (the importer).
``repair_text`` repairs mojibake in text the sources give (names, call topics), and nothing else.

This module sits in ``seed_data``, the bottom layer, so that the importer, ``matcher`` and ``api`` can all use it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

import ftfy
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

_SURROGATES = r"\ud800-\udfff"
_SURROGATE = re.compile(f"[{_SURROGATES}]")
# Neither PostgreSQL text (NUL) nor XML 1.0 (the other C0 controls, U+FFFE, U+FFFF) can hold these.
_TEXT_CONTROLS = r"\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff"
# One line: no C0 or C1 control character (tab and line breaks included), no DEL.
_LINE_CONTROLS = r"\x00-\x1f\x7f-\x9f\ufffe\uffff"
_TEXT_FORBIDDEN = re.compile(f"[{_TEXT_CONTROLS}]")
_LINE_FORBIDDEN = re.compile(f"[{_LINE_CONTROLS}]")
# Any character free text cannot hold (a control character or a lone surrogate): what an export replaces.
UNWRITABLE = re.compile(f"[{_TEXT_CONTROLS}{_SURROGATES}]")
# The same rules as JSON Schema patterns, for the OpenAPI document (lone surrogates are not JSON text there).
TEXT_PATTERN = f"^[^{_TEXT_CONTROLS}]*$"
LINE_PATTERN = f"^[^{_LINE_CONTROLS}]*$"
HTTP_SCHEMES = ("http", "https")
# A URL scheme ("javascript:", "mailto:", "https://"), not a host with a port ("nu.edu.kz:8080").
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:(?![0-9])", re.IGNORECASE)


def _check(value: str, forbidden: re.Pattern[str], what: str) -> str:
    surrogate = _SURROGATE.search(value)
    if surrogate:
        raise ValueError(f"not valid Unicode: a lone surrogate U+{ord(surrogate.group()):04X} at position "
                         f"{surrogate.start()}")
    bad = forbidden.search(value)
    if bad:
        raise ValueError(f"control character U+{ord(bad.group()):04X} at position {bad.start()}; {what}")
    return value


def check_text(value: str) -> str:
    """``value`` if it is valid Unicode without control characters other than tab and line breaks;
    ``ValueError`` saying which character is where otherwise."""
    return _check(value, _TEXT_FORBIDDEN, "text may hold tab and line breaks but no other control character")


def check_line(value: str) -> str:
    """``value`` if it is valid Unicode without any control character (one line of text); ``ValueError``
    saying which character is where otherwise."""
    return _check(value, _LINE_FORBIDDEN, "one line of text may hold no control character")


@dataclass(frozen=True)
class _Checked:
    """Pydantic metadata: run ``check`` on the validated string and show ``pattern`` in the JSON schema."""

    check: Callable[[str], str]
    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.setdefault("pattern", self.pattern)  # a field's own, stricter pattern wins
        return json_schema


SAFE_TEXT = _Checked(check_text, TEXT_PATTERN)
SAFE_LINE = _Checked(check_line, LINE_PATTERN)
SafeText = Annotated[str, SAFE_TEXT]
SafeLine = Annotated[str, SAFE_LINE]


def http_url(value: str) -> str:
    """``value`` as an http(s) URL (``https://`` added to a bare host, as the catalogue stores websites);
    ``ValueError`` for any other scheme (``javascript:``, ``data:``, ``file:``), no host or a control character."""
    url = check_line(value.strip())
    if not _SCHEME.match(url):
        url = "https://" + url  # "nu.edu.kz/" -> "https://nu.edu.kz/"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from exc
    if parts.scheme.lower() not in HTTP_SCHEMES:
        raise ValueError(f"only http and https URLs are allowed, not {parts.scheme!r}")
    if not parts.hostname or any(char.isspace() for char in url):
        raise ValueError("not a valid http(s) URL: it needs a host name and no spaces")
    return url


# Only mojibake repairs: text decoded with the wrong code page ("Ã©"), Windows-1252 quotes left as C1
# controls ("\x93"), and the like. ftfy's other fixes (straightening curly quotes, full-width to half-width,
# Unicode normalisation) would change correct text, so they are off.
_MOJIBAKE_ONLY = ftfy.TextFixerConfig(
    unescape_html=False, remove_terminal_escapes=False, fix_latin_ligatures=False, fix_character_width=False,
    uncurl_quotes=False, fix_line_breaks=False, remove_control_chars=False, normalization=None,
    explain=False,
)


def repair_text(text: str) -> str:
    """``text`` with mojibake repaired (ftfy, encoding fixes only); unchanged where ftfy finds nothing."""
    if text.isascii():  # nothing ftfy would change, and this runs for every name of every source
        return text
    return ftfy.fix_text(text, _MOJIBAKE_ONLY)

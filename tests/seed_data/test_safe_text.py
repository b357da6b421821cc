"""``seed_data.safe_text``: which text every store and file format can hold, and which websites are links."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from seed_data.safe_text import LINE_PATTERN, TEXT_PATTERN, SafeLine, SafeText, check_line, check_text, http_url


class _Model(BaseModel):
    line: SafeLine = Field(default="", max_length=20)
    text: SafeText = ""


@pytest.mark.parametrize("value", ["Astana", "Назарбаев Университет", "x\u200by"])
def test_ordinary_text_passes_both_checks(value: str) -> None:
    assert check_line(value) == check_text(value) == value


@pytest.mark.parametrize(("value", "message"), [
    ("a\x00b", "control character U+0000 at position 1"),
    ("\x1b[31m", "control character U+001B at position 0"),
    ("x\ufffe", "control character U+FFFE at position 1"),
    ("ab\ud800", "not valid Unicode: a lone surrogate U+D800 at position 2"),
])
def test_what_no_store_can_hold_is_refused_everywhere(value: str, message: str) -> None:
    for check in (check_line, check_text):
        with pytest.raises(ValueError, match=message.replace("+", r"\+")):
            check(value)


@pytest.mark.parametrize("value", ["line\nbreak", "tab\there", "cr\r\n", "c1\x85control", "del\x7f"])
def test_one_line_refuses_every_control_character_free_text_only_c0_ones(value: str) -> None:
    with pytest.raises(ValueError, match="one line of text may hold no control character"):
        check_line(value)
    if "\x85" not in value and "\x7f" not in value:
        assert check_text(value) == value


def test_annotated_types_name_the_field_and_show_the_rule_in_the_schema() -> None:
    with pytest.raises(ValidationError) as raised:
        _Model(line="a\x00", text="ok\n")
    assert [error["loc"] for error in raised.value.errors()] == [("line",)]
    with pytest.raises(ValidationError, match="at most 20 characters"):
        _Model(line="x" * 21)
    schema = _Model.model_json_schema()["properties"]
    assert (schema["line"]["pattern"], schema["line"]["maxLength"], schema["text"]["pattern"]) == (
        LINE_PATTERN, 20, TEXT_PATTERN)


@pytest.mark.parametrize(("value", "url"), [
    ("https://nu.edu.kz/", "https://nu.edu.kz/"), ("nu.edu.kz", "https://nu.edu.kz"),
    (" http://kaznu.kz/en ", "http://kaznu.kz/en"), ("nu.edu.kz:8443/x", "https://nu.edu.kz:8443/x"),
])
def test_http_urls_are_kept_and_bare_hosts_get_https(value: str, url: str) -> None:
    assert http_url(value) == url


@pytest.mark.parametrize("value", [
    "javascript:alert(1)", "JavaScript://%0Aalert(1)", "data:text/html,x", "vbscript:x", "mailto:a@b.kz",
    "file:///etc/passwd", "ftp://x.kz", "https://", "https://a b.kz", "https://x.kz:port", "java\tscript:x",
])
def test_other_urls_are_refused(value: str) -> None:
    with pytest.raises(ValueError):
        http_url(value)

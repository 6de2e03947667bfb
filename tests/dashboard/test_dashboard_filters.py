"""What the filter box accepts and which lines it keeps (pure)."""

from __future__ import annotations

import pytest

from dashboard.errors import FilterInvalid
from dashboard.filters import parse_filter
from dashboard.lines import LogLine

LINE = LogLine(
    at=0.0,
    kind="bounced",
    workspace="ws_5f1c0d9e8a7b6c5d4e3f2a1b",
    recipient="Ada@Example.com",
    detail="hard: 550 5.1.1 user unknown",
    message_id="msg_01jtj8m4t6v2k9c3x5b7n1p0rd",
    tags=("Onboarding", "welcome"),
    program="newsletter",
)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "type:bounced",
        "type:sent,bounced",
        "type:sent type:bounced",
        "ws:ws_5f1c",
        "workspace:5F1C0D",
        "to:ada@",
        "recipient:@example.com",
        "tag:onboarding",
        "program:NEWSLETTER",
        "msg:msg_01jtj",
        "message:p0rd",
        "user unknown",
        "5.1.1 type:bounced ws:ws_5f1c",
        '"user unknown"',
        "ADA",
    ],
)
def test_filters_that_keep_the_line(text: str):
    assert parse_filter(text).matches(LINE)


@pytest.mark.parametrize(
    "text",
    [
        "type:sent",
        "ws:ws_0c9d",
        "to:bob@",
        "tag:billing",
        "program:transactional",
        "msg:msg_02",
        "mailbox full",
        "user unknown type:sent",
    ],
)
def test_filters_that_drop_the_line(text: str):
    assert not parse_filter(text).matches(LINE)


def test_a_filter_remembers_its_text_and_knows_when_it_is_empty():
    assert parse_filter("  ").empty
    f = parse_filter(" type:bounced  ada ")
    assert not f.empty
    assert f.text == "type:bounced  ada"
    assert f.terms == ("ada",)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("type:bouncy", "unknown event type 'bouncy'"),
        ("colour:red", "unknown field 'colour'"),
        ("type:", "type: needs a value"),
        ('"unclosed', "cannot read the filter"),
    ],
)
def test_a_filter_that_cannot_be_right_says_why(text: str, says: str):
    with pytest.raises(FilterInvalid, match=says):
        parse_filter(text)


def test_a_search_word_may_contain_a_colon_when_it_is_no_field():
    f = parse_filter("https://example.com/x 12:30")
    assert f.terms == ("https://example.com/x", "12:30")


def test_malformed_is_a_type_the_filter_knows():
    bad = LogLine(0.0, "malformed", "", "herald.events[0]@1", "not a valid Event")
    assert parse_filter("type:malformed").matches(bad)
    assert not parse_filter("type:malformed").matches(LINE)

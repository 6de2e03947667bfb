"""The pure checks behind POST /v1/emails (no app, no database)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from api.schemas import SendEmail, _base32, new_ids
from api.validation import FieldError, ValidSend, validate_send
from tests.support.seed import SEED


def check(**changes: Any) -> ValidSend | list[FieldError]:
    request = msgspec.convert({**SEED, **changes}, SendEmail)
    return validate_send(request, max_recipients=50)


def valid(**changes: Any) -> ValidSend:
    result = check(**changes)
    assert isinstance(result, ValidSend), result
    return result


def errors(**changes: Any) -> dict[str, str]:
    result = check(**changes)
    assert isinstance(result, list), result
    return {error.field: error.message for error in result}


def test_seed_is_valid_and_normalised() -> None:
    send = valid()
    assert send.sender == "hello@yourdomain.com"
    assert send.to == ("customer@example.com",)
    assert send.tags == ("onboarding", "welcome")


def test_to_may_be_a_single_string() -> None:
    assert valid(to="Customer@EXAMPLE.com").to == ("Customer@example.com",)


def test_international_domains_are_accepted() -> None:
    # The ASCII (punycode) spelling of the same domain is the same recipient.
    assert valid(to=["kunde@bücher.de", "kunde@xn--bcher-kva.de"]).to == ("kunde@bücher.de",)


def test_display_names_are_kept_for_from_and_reply_to() -> None:
    send = valid(**{"from": '"Brand, Inc." <hello@yourdomain.com>', "reply_to": "Ann <a@b.co>"})
    assert send.sender == '"Brand, Inc." <hello@yourdomain.com>'
    assert send.reply_to == ("Ann <a@b.co>",)


def test_recipients_are_bare_addresses() -> None:
    assert "to[0]" in errors(to=["Customer <customer@example.com>"])


def test_duplicates_collapse_to_the_first_occurrence() -> None:
    send = valid(to=["a@example.com"], cc=["b@example.com", "A@Example.com"], bcc="b@example.com")
    assert (send.to, send.cc, send.bcc) == (("a@example.com",), ("b@example.com",), ())


def test_bcc_alone_is_enough() -> None:
    send = valid(to=None, bcc=["hidden@example.com"])
    assert send.to == ()
    assert send.bcc == ("hidden@example.com",)


def test_recipient_limit_counts_to_cc_and_bcc_after_deduplication() -> None:
    request = msgspec.convert(
        {**SEED, "to": ["a@x.io", "b@x.io"], "cc": ["c@x.io", "A@x.io"]}, SendEmail
    )
    assert isinstance(validate_send(request, max_recipients=3), ValidSend)
    refused = validate_send(request, max_recipients=2)
    assert isinstance(refused, list)
    assert [e.field for e in refused] == ["to"]


def test_text_alone_is_enough_but_one_body_is_required() -> None:
    assert valid(html=None, text="Hi").text == "Hi"
    assert "html" in errors(html="", text=None)


@pytest.mark.parametrize("subject", ["", "   ", None, "x" * 999, "a\x00b"])
def test_bad_subjects(subject: str | None) -> None:
    assert "subject" in errors(subject=subject)


def test_longest_subject_is_accepted() -> None:
    assert len(valid(subject="x" * 998).subject) == 998


@pytest.mark.parametrize("name", ["To", "message-id", "Return-Path", "Content-Type"])
def test_reserved_headers_are_refused(name: str) -> None:
    assert f"headers.{name}" in errors(headers={name: "x"})


def test_ordinary_headers_pass_through() -> None:
    headers = {"X-Campaign": "spring", "List-Unsubscribe": "<mailto:u@yourdomain.com>"}
    assert valid(headers=headers).headers == headers


def test_header_name_with_a_line_break_is_named_escaped() -> None:
    assert "headers.X-A\\r\\nBcc" in errors(headers={"X-A\r\nBcc": "x"})


def test_tag_rules() -> None:
    assert "tags" in errors(tags=[f"t{i}" for i in range(11)])
    assert "tags[0]" in errors(tags=["x" * 65])
    assert "tags[0]" in errors(tags=["a\nb"])
    assert "tags[1]" in errors(tags=["ok", "not ok"])
    assert valid(tags=["A-b_9", "x" * 64]).tags == ("A-b_9", "x" * 64)


def test_metadata_rules() -> None:
    assert "metadata" in errors(metadata={f"k{i}": "v" for i in range(21)})
    assert "metadata.k" in errors(metadata={"k": "v" * 257})
    assert "metadata.a\\nb" in errors(metadata={"a\nb": "v"})
    assert valid(metadata={"user_id": "v" * 256}).metadata == {"user_id": "v" * 256}


def test_every_error_is_reported() -> None:
    result = validate_send(SendEmail(), max_recipients=50)
    assert isinstance(result, list)
    assert {e.field for e in result} == {"from", "to", "subject", "html"}


def test_id_digits_are_crockford_base32_like_ulid() -> None:
    # The ULID specification's example: its first 10 digits are the time 1469918176385.
    assert _base32(1469918176385, 10) == "01aryz6s41"
    assert _base32(2**80 - 1, 16) == "z" * 16
    assert _base32(1, 16) == "0" * 15 + "1"


def test_ids_are_time_ordered_and_distinct() -> None:
    first = new_ids("msg", 3)
    later = new_ids("msg", 1)
    assert all(len(i) == len("msg_") + 26 for i in first + later)
    assert first == sorted(first)
    assert len(set(first)) == 3
    assert later[0][:14] >= first[0][:14]

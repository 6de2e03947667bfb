"""Recipient addresses: the shortcut for plain ``local@domain`` (one domain check per domain,
not per address) answers exactly what email_validator answers for the whole address."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from api import validation

LONG_LABEL = "d" * 63

ADDRESSES = [
    "ada@example.com",
    "Ada.Lovelace+invoices@Example.COM",
    "o'brien@example.ie",
    "x!#$%&'*+/=?^_`{|}~-@example.org",
    "Postmaster@example.com",  # a role name: lowercased
    "ABUSE@example.com",
    "ada@xn--bcher-kva.example",  # IDNA ASCII: normalised to Unicode
    "ada@bücher.example",
    "ada@EXAMPLE.com.",
    "ada@localhost",  # special-use domains are refused
    "ada@printer.local",
    "ada@example.123",
    "ada@-example.com",
    "ada@exa_mple.com",
    "ada@example..com",
    "ada@",
    "@example.com",
    "ada",
    "ada..lovelace@example.com",
    ".ada@example.com",
    "ada.@example.com",
    "a@b@example.com",
    '"ada lovelace"@example.com',
    "ada @example.com",
    "ada@example.com ",
    "Ada <ada@example.com>",
    "ada@[192.0.2.1]",
    "ådå@example.com",
    "l" * 64 + "@example.com",
    "l" * 65 + "@example.com",  # long local parts pass unless strict
    "a" * 60 + "@" + ".".join([LONG_LABEL] * 3) + ".com",  # 256 bytes: too long
    "a" * 50 + "@" + ".".join([LONG_LABEL] * 3) + ".com",  # 246 bytes
    "a" * 50 + "@" + "ü" + ".".join([LONG_LABEL] * 3)[1:] + ".com",  # longer in UTF-8
]


def email_validator_says(value: str) -> tuple[str, str] | str:
    try:
        checked = validate_email(value, check_deliverability=False, allow_display_name=False)
    except EmailNotValidError as exc:
        return str(exc)
    return checked.normalized, ""


@pytest.mark.parametrize("value", ADDRESSES)
def test_a_recipient_is_judged_as_email_validator_judges_it(value: str) -> None:
    validation._address.cache_clear()
    assert validation._address(value, named=False) == email_validator_says(value)


def test_the_shortcut_takes_plain_addresses_and_leaves_the_rest() -> None:
    assert validation._simple_address("Ada+x@Example.COM") == "Ada+x@example.com"
    assert validation._simple_address("Postmaster@example.com") is None
    assert validation._simple_address("ada@localhost") is None
    assert validation._simple_address('"ada"@example.com') is None

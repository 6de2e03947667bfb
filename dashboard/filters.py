"""What the operator typed into the filter box, and which log lines it keeps (pure).

``type:bounced,complained ws:ws_5f1c to:@example.com tag:welcome program:news msg:msg_01``
plus any bare words: fields are ANDed, the values of one field ORed; bare words must all occur
somewhere in the line (search). Everything compares without case; ``ws``, ``to`` and ``msg``
match a part of the value, so the shortened ids the log shows can be typed as seen.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from dashboard.errors import FilterInvalid
from dashboard.lines import MALFORMED, LogLine
from streams.records import EVENT_TYPES

KINDS: tuple[str, ...] = (*EVENT_TYPES, MALFORMED)

# Every spelling the box accepts, and the field it sets.
FIELDS = {
    "type": "types",
    "ws": "workspaces",
    "workspace": "workspaces",
    "to": "recipients",
    "recipient": "recipients",
    "tag": "tags",
    "program": "programs",
    "msg": "messages",
    "message": "messages",
}


@dataclass(frozen=True, slots=True)
class Filter:
    text: str = ""  # as typed, to show it and to edit it again
    types: tuple[str, ...] = ()
    workspaces: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    terms: tuple[str, ...] = ()  # search words

    @property
    def empty(self) -> bool:
        return not self.text.strip()

    def matches(self, line: LogLine) -> bool:
        if self.types and line.kind not in self.types:
            return False
        if self.workspaces and not _contains(line.workspace, self.workspaces):
            return False
        if self.recipients and not _contains(line.recipient, self.recipients):
            return False
        if self.messages and not _contains(line.message_id, self.messages):
            return False
        if self.programs and line.program.lower() not in self.programs:
            return False
        if self.tags and not any(t.lower() in self.tags for t in line.tags):
            return False
        if self.terms:
            haystack = line.haystack()
            return all(term in haystack for term in self.terms)
        return True


def _contains(value: str, wanted: tuple[str, ...]) -> bool:
    value = value.lower()
    return any(w in value for w in wanted)


def parse_filter(text: str) -> Filter:
    """The filter ``text`` describes; :class:`FilterInvalid` says what is wrong with it."""
    try:
        words = shlex.split(text)
    except ValueError as exc:  # an unclosed quote
        raise FilterInvalid(f"cannot read the filter: {exc}") from exc
    found: dict[str, list[str]] = {name: [] for name in FIELDS.values()}
    terms: list[str] = []
    for word in words:
        name, colon, value = word.partition(":")
        if not colon or name.lower() not in FIELDS:
            if colon and name.isalpha() and value and not value.startswith("/"):
                raise FilterInvalid(f"unknown field {name!r}: use {', '.join(sorted(FIELDS))}")
            terms.append(word.lower())
            continue
        values = [v.strip().lower() for v in value.split(",") if v.strip()]
        if not values:
            raise FilterInvalid(f"{name}: needs a value")
        found[FIELDS[name.lower()]].extend(values)
    unknown = [t for t in found["types"] if t not in KINDS]
    if unknown:
        raise FilterInvalid(f"unknown event type {unknown[0]!r}: use {', '.join(KINDS)}")
    return Filter(
        text=text.strip(),
        types=tuple(found["types"]),
        workspaces=tuple(found["workspaces"]),
        recipients=tuple(found["recipients"]),
        tags=tuple(found["tags"]),
        programs=tuple(found["programs"]),
        messages=tuple(found["messages"]),
        terms=tuple(terms),
    )

"""Service rules without a database: the status machine, text limits, cursors and page arguments."""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from models import FINAL_STATUSES, Role, TicketStatus
from services import policy, validation
from services.errors import BadRequest, ErrorCode, FieldError, UserInputError
from services.pagination import MAX_PAGE, PageArgs, decode_cursor, encode_cursor
from services.validation import SUMMARY_DERIVED_MAX, clean_text, derive_summary
from services.viewer import Viewer
from services.workflow import TRANSITIONS, is_final

# The status machine -----------------------------------------------------------------------------

S = TicketStatus
ADMIN = Viewer(id="boss", name="Boss", role=Role.ADMIN)


def test_every_status_has_a_transition_entry() -> None:
    assert set(TRANSITIONS) == set(TicketStatus)


def test_transitions_stay_within_the_status_set() -> None:
    for current, targets in TRANSITIONS.items():
        assert targets <= set(TicketStatus), current
        assert current not in targets, f"{current} may not transition to itself"


def test_expected_transitions() -> None:
    """The documented machine, spelled out so an accidental edit of TRANSITIONS is noticed."""
    assert dict(TRANSITIONS) == {
        S.OPEN: {S.IN_PROGRESS, S.REJECTED, S.CLOSED},
        S.IN_PROGRESS: {S.AWAITING_REPLY, S.CLOSED, S.REJECTED},
        S.AWAITING_REPLY: {S.IN_PROGRESS, S.CLOSED, S.REJECTED},
        S.CLOSED: set(),
        S.REJECTED: set(),
    }


@pytest.mark.parametrize(
    ("current", "target"),
    list(itertools.product(TicketStatus, repeat=2)),
    ids=lambda s: s.value,
)
def test_check_transition(current: TicketStatus, target: TicketStatus) -> None:
    """An admin may make every legal move, and only those."""
    facts = policy.TicketFacts(number=7, status=current, owner_id="c", assignee_id="a")
    decision = policy.change_status(ADMIN, facts, target, field="toStatus")
    if target in TRANSITIONS[current]:
        assert decision.allowed
        decision.enforce()
        return
    with pytest.raises(UserInputError) as raised:
        decision.enforce()
    error = raised.value
    if is_final(current):
        assert error.code == ErrorCode.TICKET_FINAL
        return
    assert error.code == ErrorCode.INVALID_TRANSITION
    assert error.errors == [FieldError(ErrorCode.INVALID_TRANSITION, error.message, "toStatus")]
    assert current.value in error.message and target.value in error.message


def test_final_statuses_have_no_way_out() -> None:
    assert {S.CLOSED, S.REJECTED} == FINAL_STATUSES
    for status in TicketStatus:
        assert is_final(status) == (status in FINAL_STATUSES)
        if is_final(status):
            assert TRANSITIONS[status] == frozenset()
        else:
            assert TRANSITIONS[status], f"{status} is not final but has no way out"


@pytest.mark.parametrize("status", sorted(FINAL_STATUSES))
def test_final_ticket_takes_no_changes(status: TicketStatus) -> None:
    facts = policy.TicketFacts(number=7, status=status, owner_id="c", assignee_id=None)
    with pytest.raises(UserInputError) as raised:
        policy.reply(ADMIN, facts).enforce()
    error = raised.value
    assert error.code == ErrorCode.TICKET_FINAL
    assert "#7" in error.message
    assert status.value in error.message
    assert "new ticket" in error.message.lower()
    assert error.errors[0].field == "ticketId"


@pytest.mark.parametrize("status", sorted(set(TicketStatus) - FINAL_STATUSES))
def test_open_ticket_takes_changes(status: TicketStatus) -> None:
    facts = policy.TicketFacts(number=7, status=status, owner_id="c", assignee_id=None)
    assert policy.reply(ADMIN, facts).allowed


# Derived summaries ------------------------------------------------------------------------------


def first_line(question: str) -> str:
    lines = question.splitlines()
    return lines[0].strip() if lines else ""


@given(st.text())
@example("")
@example("\n\nsecond line only")
@example("word " * 60)
@example("x" * 500)
@example("a" * 119 + " tail")
@example(" " * 10 + "y" * 200 + "\nrest")
@example("first\r\nsecond")
@example("first\u2028second")
def test_derived_summary_is_a_short_prefix_of_the_first_line(question: str) -> None:
    summary = derive_summary(question)
    assert len(summary) <= SUMMARY_DERIVED_MAX
    assert "\n" not in summary and "\r" not in summary
    assert len(summary.splitlines()) <= 1
    line = first_line(question)
    shortened = summary.endswith("…") and summary != line
    body = summary[:-1] if shortened else summary
    assert line.startswith(body)
    assert body == body.strip()
    if not shortened:
        assert summary == line
    if line.strip():
        assert summary.strip()


@given(st.text(min_size=1).filter(lambda s: bool(s.strip())))
def test_derived_summary_of_a_cleaned_question_is_never_empty(question: str) -> None:
    """Questions are stripped before summarising, so their first line always has text."""
    assert derive_summary(question.strip())


def test_long_first_line_is_cut_on_a_word_boundary() -> None:
    question = " ".join(["lorem"] * 40) + "\nmore"
    summary = derive_summary(question)
    assert summary.endswith("lorem…")
    assert len(summary) <= SUMMARY_DERIVED_MAX


# Text limits ------------------------------------------------------------------------------------


@given(
    value=st.text(),
    max_length=st.integers(min_value=1, max_value=50),
    required=st.booleans(),
)
@example(value="", max_length=5, required=False)
@example(value="  \t\n ", max_length=5, required=True)
@example(value="abc\x00", max_length=5, required=True)
@example(value="  abcde  ", max_length=5, required=True)
@example(value="abcdef", max_length=5, required=True)
def test_clean_text_returns_clean_text_or_reports(
    value: str, max_length: int, required: bool
) -> None:
    errors: list[FieldError] = []
    result = clean_text(
        value, field="body", max_length=max_length, errors=errors, required=required
    )
    if result is None:
        assert len(errors) == 1, errors
        assert errors[0].code == ErrorCode.VALIDATION
        assert errors[0].field == "body"
    else:
        assert errors == []
        assert result == result.strip()
        assert result
        assert len(result) <= max_length
        assert "\x00" not in result
        assert result == value.strip()


def test_clean_text_missing_value() -> None:
    errors: list[FieldError] = []
    assert clean_text(None, field="reason", max_length=10, errors=errors, required=False) is None
    assert errors == []
    assert clean_text(None, field="reason", max_length=10, errors=errors, required=True) is None
    assert [(e.code, e.field) for e in errors] == [(ErrorCode.VALIDATION, "reason")]


def test_clean_text_appends_to_earlier_errors() -> None:
    earlier = FieldError(ErrorCode.VALIDATION, "earlier", "other")
    errors = [earlier]
    assert clean_text("x" * 11, field="body", max_length=10, errors=errors, required=True) is None
    assert errors[0] is earlier
    assert len(errors) == 2
    assert "11" in errors[1].message and "10" in errors[1].message


# Cursors ----------------------------------------------------------------------------------------

ROW_IDS = st.integers(min_value=0, max_value=2**63 - 1)
OFFSETS = st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23))
AWARE = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30)).flatmap(
    lambda dt: OFFSETS.map(lambda offset: dt.replace(tzinfo=timezone(offset)))
)


@given(AWARE, ROW_IDS)
@example(datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=UTC), 1)
@example(datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))), 0)
def test_datetime_cursor_round_trip(value: datetime, row_id: int) -> None:
    cursor = encode_cursor(value, row_id)
    assert cursor.isascii()
    decoded, decoded_id = decode_cursor(cursor, is_datetime=True)
    assert decoded_id == row_id
    assert decoded == value  # the same instant (cursors carry it in UTC)
    assert decoded.utcoffset() == timedelta(0)


@given(st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(), st.none()), ROW_IDS)
def test_plain_cursor_round_trip(value: object, row_id: int) -> None:
    assert decode_cursor(encode_cursor(value, row_id), is_datetime=False) == (value, row_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


@given(st.text(), st.booleans())
@example("", True)
@example("not a cursor", False)
@example("\ud800", True)
@example(_b64(b"[1, 2, 3]"), False)
@example(_b64(b'["2024-01-01T00:00:00+00:00", "7"]'), True)
@example(_b64(b'["not a date", 7]'), True)
@example(_b64(b"[null, 7]"), True)
@example(_b64(b'{"a": 1}'), False)
@example(_b64(b"\xff\xfe"), False)
def test_garbage_cursor_is_a_bad_request(text: str, is_datetime: bool) -> None:
    try:
        raw, row_id = orjson.loads(base64.urlsafe_b64decode(text.encode("utf-8", "replace")))
        genuine = isinstance(row_id, int) and (not is_datetime or bool(datetime.fromisoformat(raw)))
    except Exception:
        genuine = False
    if genuine:  # hypothesis will practically never write a real cursor by chance
        return
    with pytest.raises(BadRequest) as raised:
        decode_cursor(text, is_datetime=is_datetime)
    assert raised.value.code == ErrorCode.VALIDATION


# Page arguments ---------------------------------------------------------------------------------

CURSOR = encode_cursor(datetime(2024, 1, 1, tzinfo=UTC), 1)


@pytest.mark.parametrize(
    "args",
    [
        PageArgs(first=1, last=1),
        PageArgs(first=0, last=0),
        PageArgs(first=MAX_PAGE + 1),
        PageArgs(last=MAX_PAGE + 1),
        PageArgs(first=-1),
        PageArgs(last=-1),
        PageArgs(last=5, after=CURSOR),
        PageArgs(first=5, before=CURSOR),
    ],
    ids=repr,
)
def test_bad_page_args(args: PageArgs) -> None:
    with pytest.raises(BadRequest):
        args.check()


@pytest.mark.parametrize(
    "args",
    [
        PageArgs(),
        PageArgs(first=0),
        PageArgs(first=MAX_PAGE),
        PageArgs(last=MAX_PAGE),
        PageArgs(first=10, after=CURSOR),
        PageArgs(last=10, before=CURSOR),
        PageArgs(after=CURSOR, before=CURSOR),
    ],
    ids=repr,
)
def test_good_page_args(args: PageArgs) -> None:
    args.check()


@given(
    first=st.one_of(st.none(), st.integers(-1000, 1000)),
    last=st.one_of(st.none(), st.integers(-1000, 1000)),
)
def test_page_size_bounds(first: int | None, last: int | None) -> None:
    args = PageArgs(first=first, last=last)
    valid = (first is None or last is None) and all(
        v is None or 0 <= v <= MAX_PAGE for v in (first, last)
    )
    if valid:
        args.check()
    else:
        with pytest.raises(BadRequest):
            args.check()


@given(st.text(st.characters(exclude_categories=())))
@example("\x00")
@example("\ud800")
@example("x" * (validation.USER_ID_MAX + 1))
def test_a_bounded_value_is_storable_and_fits_its_column(text: str) -> None:
    for bound, limit in (
        (validation.as_slug, validation.SLUG_MAX),
        (validation.as_user_id, validation.USER_ID_MAX),
    ):
        value = bound(text)
        if value is not None:
            assert 0 < len(value) <= limit
            assert "\x00" not in value
            value.encode("utf-8")  # no lone surrogate


@given(st.one_of(st.integers().map(str), st.text(alphabet="0123456789", max_size=40)))
@example(str(2**63 - 1))
@example(str(2**63))
def test_an_id_is_within_the_bigint_range(text: str) -> None:
    number = validation.as_row_number(text)
    assert number is None or 0 <= number <= 2**63 - 1
    if text.isdigit() and len(text) <= 19 and int(text) < 2**63 and str(int(text)) == text:
        assert number == int(text)
    # Inside a global id, the same key names the same row, or nothing.
    assert validation.as_id(validation.global_id(validation.TICKET, text), "Ticket") == number


@given(st.one_of(st.text(), st.binary().map(lambda raw: base64.b64encode(raw).decode())))
@example(base64.b64encode(b"Ticket:1").decode())
@example(base64.b64encode(b"Ticket:01").decode())
@example("VGlja2V0OjE")
def test_a_global_id_has_one_spelling(text: str) -> None:
    """Any text names at most one object, and that object's id is exactly this text."""
    parsed = validation.parse_global_id(text)
    if parsed is not None:
        assert validation.global_id(*parsed) == text
        assert parsed[0] in validation.NODE_KEYS

"""Property tests of the masking (issue 12, finding 5): valid card, resident ID and mobile numbers,
typed in every form the validators and the value extractor read (separators inside the number,
full-width and other compatibility digits, Chinese digits, mixes, words around), never appear in
full in masked text, in a handoff ticket, in log output or in the `bot` command's output.

"In full" is judged on digits after the validators' normalisation: a ticket that says
`6222.0210.0000.0000.124` or `六二二二…` holds the number as much as one that says `6222021000000000124`.
"""
from __future__ import annotations

import csv
import io
import itertools
import json
import logging
import re
import unicodedata
import warnings
from datetime import date
from pathlib import Path
from typing import Callable, Iterable, List

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import text as sql
from sqlalchemy.orm import Session
from stdnum import luhn
from stdnum.cn import ric

from bot.agents import handoff
from bot.extraction.values import extract_values
from bot.masking import RedactingFilter, install_redaction, redact
from bot.ops import cli
from bot.ops.demo import DEMO_MERCHANTS
from bot.validation import bank_card, banks, phone, resident_id
from bot.validation.errors import Invalid
from bot.validation.normalize import (
    CHINESE_DIGITS,
    SEPARATORS,
    WEAK_CHINESE_DIGITS,
    compact_number,
    normalize_digits,
)

# --- valid numbers -------------------------------------------------------------------------------


def _debit_bins() -> List[tuple[str, int]]:
    with open(banks.DATA_DIR / "bin.csv", encoding="utf-8", newline="") as handle:
        rows = {(row["bin"].strip(), int(row["length"])) for row in csv.DictReader(handle)
                if row["type"].strip() == bank_card.DEBIT and bank_card.MIN_LENGTH <= int(row["length"]) <= bank_card.MAX_LENGTH}
    return sorted(rows)


DEBIT_BINS = _debit_bins()
# Address codes of the demo merchants' IDs and a few more counties that exist since the 1980s.
ADDRESS_CODES = sorted({merchant.id_number[:6] for merchant in DEMO_MERCHANTS} | {"110101", "110105", "330106"})


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    """A debit card the validator accepts: a known BIN, that BIN's length, the Luhn check digit."""
    prefix, length = draw(st.sampled_from(DEBIT_BINS))
    body = prefix + draw(st.text("0123456789", min_size=length - len(prefix) - 1, max_size=length - len(prefix) - 1))
    number = body + luhn.calc_check_digit(body)
    assume(bank_card.is_valid(number))
    return number


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    """An 18-character resident ID stdnum and the validator accept (a county, a birth date, the
    ISO 7064 check character, X included)."""
    born = draw(st.dates(date(1985, 1, 1), date(2005, 12, 31)))
    body = f"{draw(st.sampled_from(ADDRESS_CODES))}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    number = body + ric.calc_check_digit(body + "0")
    assume(resident_id.is_valid(number))
    return number


phone_numbers = st.builds(lambda second, rest: "1" + second + rest, st.sampled_from("3456789"),
                          st.text("0123456789", min_size=9, max_size=9))
any_number = st.one_of(card_numbers(), resident_ids(), phone_numbers)

# --- the forms merchants type ------------------------------------------------------------------------


def _compatibility_forms() -> dict[str, List[str]]:
    """Every character that NFKC makes a digit or an X (`６`, `𝟔`, `⑥`, `Ｘ` ...): the validators read them all."""
    forms: dict[str, List[str]] = {}
    for code in itertools.chain(range(0x80, 0x10000), range(0x1D400, 0x1D800), range(0x1F100, 0x1FC00)):
        folded = unicodedata.normalize("NFKC", chr(code))
        if len(folded) == 1 and folded in "0123456789Xx":
            forms.setdefault(folded.upper(), []).append(chr(code))
    return forms


_COMPATIBILITY = _compatibility_forms()
_CHINESE = {digit: [char for char, value in {**CHINESE_DIGITS, **WEAK_CHINESE_DIGITS}.items() if value == digit]
            for digit in "0123456789"}


def _digit_forms(char: str) -> st.SearchStrategy[str]:
    if char == "X":
        return st.sampled_from(["X", "x", *_COMPATIBILITY["X"]])
    return st.one_of(st.just(char), st.sampled_from(_COMPATIBILITY[char]), st.sampled_from(_CHINESE[char]))


@st.composite
def typed(draw: st.DrawFn, number: str) -> str:
    """`number` as a merchant may type it: each digit in any form, in groups with any of the
    separators the validators accept (one or several) between them."""
    chars = [draw(_digit_forms(char)) for char in number]
    style = draw(st.sampled_from(["ascii", "full-width", "chinese", "mixed"]))
    if style == "ascii":
        chars = list(number)
    elif style == "full-width":
        chars = [chr(ord(char) + 0xFEE0) for char in number]
    elif style == "chinese":
        chars = [draw(st.sampled_from(_CHINESE[char])) if char in _CHINESE else char for char in number]
    groups, start = [], 0
    while start < len(chars):
        size = draw(st.integers(1, 8))
        groups.append("".join(chars[start:start + size]))
        start += size
    separators = st.one_of(st.just(""), st.text(alphabet=SEPARATORS, min_size=1, max_size=3))
    return groups[0] + "".join(draw(separators) + group for group in groups[1:])


BEFORE = ["", "卡号", "我的卡号是", "新卡：", "身份证 ", "身份证号码是", "手机号", "电话：", "请改成", "帐号是 "]
AFTER = ["", "，谢谢", " 工行的", "。", "！", "，开户行是北京分行", "吧"]
_WORDS = "我的是号码请帮改成谢好吧银行工建农招商卡手机身份证开户行分支北京上海"


@st.composite
def sentences(draw: st.DrawFn) -> tuple[str, str]:
    """(number, a message holding it as typed), words around it or not."""
    number = draw(any_number)
    before = draw(st.sampled_from(BEFORE)) + draw(st.text(alphabet=_WORDS, max_size=6))
    after = draw(st.sampled_from(AFTER)) + draw(st.text(alphabet=_WORDS, max_size=6))
    return number, before + draw(typed(number)) + after


# --- "in full" -----------------------------------------------------------------------------------

_RUN = re.compile("[0-9Xx](?:[" + re.escape(SEPARATORS + "()[]") + r"\s]*[0-9Xx])*")


def readable_numbers(text: str) -> List[str]:
    """Every digit string a reader can take from `text` after the validators' normalisation: runs
    of digits across separators, the whole message compacted, the runs `in_text` finds."""
    runs = [re.sub("[^0-9X]", "", run.upper()) for run in _RUN.findall(normalize_digits(text))]
    return runs + [compact_number(text).upper()]


def shows(number: str, text: str) -> bool:
    return any(number in readable for readable in readable_numbers(text))


def read_by_validators(number: str, text: str) -> bool:
    """The validator of the number's kind, or the value extractor, reads `number` in `text`."""
    checks: List[Callable[[str], object]] = [
        lambda value: bank_card.validate(value).number, resident_id.validate, phone.validate]
    for check in checks:
        try:
            if check(text) == number:
                return True
        except Invalid:
            pass
    return any(value.value == number for value in extract_values(text))


def assert_hidden(numbers: Iterable[str], output: str) -> None:
    for number in numbers:
        assert not shows(number, output), f"{number} in full in {output!r}"


# --- properties ------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(sentences())
def test_masked_text_never_holds_a_number_a_validator_reads(example: tuple[str, str]) -> None:
    number, message = example
    read = read_by_validators(number, message)
    assume(read or shows(number, message))  # weak digits alone (幺, 两) in a sentence: no number
    assert_hidden([number], redact(message))
    assert_hidden([number], handoff.mask_text(message))
    assert_hidden([number], str(handoff.mask_value("opening_branch", message)))
    assert_hidden([number], str(handoff.mask_value("new_account_number", message)))


def test_the_forms_are_read_by_the_validators_and_the_extractor() -> None:
    """The strategies above produce what the bot reads: a sample of each kind, read both ways."""
    for number, message in [
        ("6222021000000000124", "卡号6222.0210.0000.0000.124"),
        ("6222021000000000124", "我的卡号是六二二二 零二一零 〇〇〇〇 ００００ 一二四，谢谢"),
        ("61010319880214567X", "身份证号码是６１０１０３—１９８８０２１４—５６７ｘ"),
        ("13800000001", "手机号幺三八．零零零零．零零零一"),
    ]:
        assert read_by_validators(number, message) and shows(number, message)
        assert any(value.value == number for value in extract_values(message)), message
        assert not shows(number, redact(message))


_conversations = itertools.count(1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(sentences(), min_size=1, max_size=3))
def test_a_handoff_ticket_never_holds_a_number(demo: Session, examples: List[tuple[str, str]]) -> None:
    numbers = [number for number, _ in examples]
    messages = [message for _, message in examples]
    ticket = handoff.open_handoff(
        demo, f"properties-{next(_conversations)}", "rest", handoff.REPEATED_VALIDATION_FAILURE,
        collected_values={"new_account_number": messages[0], "holder_id_number": messages[-1],
                          "merchant_phone": messages[0], "change_reason": messages[-1],
                          "opening_branch": {"typed": messages}},
        transcript=[*messages, {"from": "bot", "text": "请核对"}, {"from": "merchant", "text": messages[0]}],
        failed_inputs={"new_account_number": messages, "holder_name": messages},
        note=" ".join(messages),
    ).handoff
    row = demo.execute(sql("SELECT * FROM handoffs WHERE id = :id"), {"id": ticket.id}).one()
    stored = [json.dumps(json.loads(value), ensure_ascii=False) if isinstance(value, str) and value[:1] in "{[" else str(value)
              for value in row]
    assert_hidden(numbers, "\n".join(stored))
    assert_hidden(numbers, json.dumps(ticket.context, ensure_ascii=False))


@pytest.fixture
def log_output() -> Iterable[io.StringIO]:
    """A logger whose handler writes to a buffer, in a process with the redaction installed."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("tests.masking.properties")
    logger.addHandler(handler)
    logger.propagate = False
    install_redaction()  # undone after the test (tests/conftest.py)
    yield buffer
    logger.removeHandler(handler)


def _log_every_way(logger: logging.Logger, message: str) -> None:
    logger.warning("merchant typed %s", message)
    logger.error(f"merchant typed {message}")
    logger.warning("%(text)s", {"text": message})
    # Rasa's structlog lines: JSON, non-ASCII characters as \\u escapes.
    logger.warning(json.dumps({"event": "processor.message", "text": message, "parse_data_text": f"/inform{{\"x\":\"{message}\"}}"}))
    try:
        raise ValueError(f"cannot parse {message!r}")
    except ValueError:
        logger.exception("failed on %s", message[:3])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sentences())
def test_logs_never_hold_a_number(log_output: io.StringIO, example: tuple[str, str]) -> None:
    number, message = example
    assume(read_by_validators(number, message) or shows(number, message))
    log_output.seek(0)
    log_output.truncate()
    _log_every_way(logging.getLogger("tests.masking.properties"), message)
    output = log_output.getvalue()
    assert output.count("merchant typed") == 2 and "Traceback" in output
    assert_hidden([number], output)


@settings(max_examples=100, deadline=None)
@given(sentences())
def test_warnings_never_hold_a_number(example: tuple[str, str]) -> None:
    """Rasa warns with the whole text of an intent message it cannot parse (`warnings`, not logging)."""
    import rasa.shared.utils.io

    number, message = example
    assume(read_by_validators(number, message) or shows(number, message))
    shown: List[str] = []
    plain = warnings.showwarning
    warnings.showwarning = lambda text, *args, **kwargs: shown.append(str(text))
    try:
        install_redaction()  # wraps what `warnings` shows with; undone after the test (tests/conftest.py)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            rasa.shared.utils.io.raise_warning(f"Failed to parse arguments in line '/inform{{\"x\":\"{message}\"}}'.")
    finally:
        warnings.showwarning = plain
    assert len(shown) == 1 and "Failed to parse arguments" in shown[0]
    assert_hidden([number], shown[0])


@settings(max_examples=100, deadline=None)
@given(sentences())
def test_the_redacting_filter_on_one_handler(example: tuple[str, str]) -> None:
    """Without the process-wide hooks, the filter alone masks the records of its handler."""
    number, message = example
    assume(read_by_validators(number, message) or shows(number, message))
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.masking.filter")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        _log_every_way(logger, message)
    finally:
        logger.removeHandler(handler)
    assert_hidden([number], buffer.getvalue())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(sentences(), min_size=1, max_size=2))
def test_the_bot_command_never_prints_a_number(demo: Session, var_dir: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch,
                                               examples: List[tuple[str, str]]) -> None:
    """`bot handoffs list` on a database holding such tickets, one of them in a conversation whose id
    is a number as typed (a REST client may name its sender anything)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{var_dir / 'bot.db'}")
    numbers = [number for number, _ in examples]
    for _, message in examples:
        handoff.open_handoff(demo, f"rest-{message}-{next(_conversations)}", "rest", handoff.MERCHANT_REQUEST,
                             collected_values={"new_account_number": message}, transcript=[message], note=message)
    capsys.readouterr()
    assert cli.main(["handoffs", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    assert json.loads(listed)
    assert cli.main(["handoffs", "list"]) == 0
    table = capsys.readouterr().out
    assert_hidden(numbers, listed + table)


def test_the_bot_command_keeps_merchant_numbers(demo: Session, var_dir: Path, capsys: pytest.CaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{var_dir / 'bot.db'}")
    merchant = demo.execute(sql("SELECT id FROM merchants WHERE merchant_number = '822100000000004'")).scalar_one()
    from bot.db.models import Merchant

    handoff.open_handoff(demo, "webchat-822100000000004", "webchat", handoff.MERCHANT_REQUEST,
                         merchant=demo.get(Merchant, merchant))
    # A phone number, not a card: the database keeps conversation ids as given, and scripts/scan_secrets.py
    # looks for the card and ID numbers of tests/ in every database the tests leave.
    handoff.open_handoff(demo, "rest-139.1234.5678", "rest", handoff.MERCHANT_REQUEST)
    assert cli.main(["handoffs", "list", "--json"]) == 0
    rows = {row["channel"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["webchat"]["conversation_id"] == "webchat-822100000000004"
    assert rows["webchat"]["merchant_id"] == "822100000000004"
    assert rows["rest"]["conversation_id"] == "rest-****5678"

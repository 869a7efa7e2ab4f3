"""`bot trainer story --key KEY`: from an inbox group to the test story of its latest conversation.

The inbox shows conversation ids masked (a REST sender that is a phone number reads `rest-****0001`),
so the group's key is what a trainer can copy; `inbox.conversation_of` finds the real id inside, and
nothing the command prints names it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.ops import cli
from bot.training import inbox
from bot.training.inbox import group_key, normalise
from bot.training.story_redaction import masked_conversation_id

from .tracker_script import Conversation, store

OLDER, LATEST, OTHER = "rest-13800000001", "rest-13800000002", "rest-13800000003"
MISUNDERSTOOD = "换卡要多久才好"  # fell back in both conversations: one group
KEY = group_key(normalise(MISUNDERSTOOD))


@pytest.fixture
def tracker(var_dir: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Two conversations whose fallback is one inbox group, and a later one with another message;
    what each said first tells them apart in a story."""
    monkeypatch.delenv("TRACKER_DATABASE_URL", raising=False)
    monkeypatch.delenv("TRAINER_LOW_CONFIDENCE", raising=False)
    url = f"sqlite:///{var_dir / 'rasa_tracker.db'}"
    store(url,
          Conversation(OLDER).user("你好", "greet").answered("utter_greet")
          .user(MISUNDERSTOOD, "nlu_fallback", 0.3).answered("utter_default", action="action_fallback"),
          Conversation(LATEST, start=1_800_000_100.0).user("谢谢", "thank").answered("utter_you_are_welcome")
          .user(MISUNDERSTOOD, "nlu_fallback", 0.3).answered("utter_default", action="action_fallback"),
          Conversation(OTHER, start=1_800_000_200.0)
          .user("押金怎么退", "faq", 0.4, faq="faq/fees").answered("utter_faq/fees"))
    return url


def no_real_id(text: str) -> None:
    for sender in (OLDER, LATEST, OTHER):
        assert sender not in text and sender.split("-")[1] not in text


def test_conversation_of_names_the_latest_conversation_of_the_group(tracker: str) -> None:
    [entry] = [entry for entry in inbox.read_inbox(None, tracker) if entry.key == KEY]
    assert entry.conversations == ("rest-****0002", "rest-****0001")  # what the inbox shows: masked
    assert inbox.conversation_of(KEY, tracker) == LATEST
    assert inbox.conversation_of("0123456789abcdef", tracker) is None
    assert inbox.conversation_of(KEY, tracker, threshold=0.5) == LATEST  # a fallback whatever the threshold
    other = group_key(normalise("押金怎么退"))
    assert inbox.conversation_of(other, tracker) == OTHER
    assert inbox.conversation_of(other, tracker, threshold=0.3) is None  # not unsure enough at 0.3
    no_real_id(repr(entry) + str(entry.as_json()))


def test_cli_prints_the_story_of_the_latest_conversation_only(tracker: str, capsys) -> None:
    assert cli.main(["trainer", "story", "--key", KEY]) == 0
    printed = capsys.readouterr()
    no_real_id(printed.out + printed.err)
    [story] = yaml.safe_load(printed.out)["stories"]
    assert story["story"] == masked_conversation_id(LATEST)
    said = [step["user"] for step in story["steps"] if "user" in step]
    assert said == ["谢谢", MISUNDERSTOOD]  # LATEST's, not OLDER's (你好)
    assert {"user": MISUNDERSTOOD, "intent": "nlu_fallback"} in story["steps"]


def test_cli_writes_the_file_and_names_the_conversation_only_by_its_digest(tracker: str, tmp_path: Path,
                                                                            capsys) -> None:
    out = tmp_path / "test_inbox.yml"
    assert cli.main(["trainer", "story", "--key", KEY, "--out", str(out)]) == 0
    printed = capsys.readouterr()
    no_real_id(printed.out + printed.err + out.read_text(encoding="utf-8"))
    assert f"of conversation {masked_conversation_id(LATEST)} (the latest of inbox group {KEY})" in printed.out


@pytest.mark.parametrize("args, code, words", [
    (["--key", "0123456789abcdef"], 1, ["no group 0123456789abcdef in the inbox"]),
    (["--key", "押金怎么退"], 2, ["16 hex digits"]),
    (["--key", KEY, OLDER], 2, ["not allowed with argument"]),
    ([], 2, ["one of the arguments CONVERSATION_ID --key is required"]),
    ([OLDER, "--threshold", "0.5"], 2, ["--threshold goes with --key only"]),
    (["--key", KEY, "--threshold", "3"], 2, ["--threshold must be from 0 to 1"]),
])
def test_bad_or_unknown_keys_are_one_line(tracker: str, capsys, args: list[str], code: int,
                                          words: list[str]) -> None:
    assert cli.main(["trainer", "story", *args]) == code
    printed = capsys.readouterr()
    assert printed.out == ""
    [line] = printed.err.strip().splitlines()
    assert line.startswith("bot: ") and all(word in line for word in words), line
    no_real_id(line)

"""`bot trainer story` (bot.rasa.story_export, bot/ops/cli.py) on tracker stores written as the
assistant writes them: Rasa's own reader reads the output back as test stories holding exactly the
redacted conversation, one story per session; unknown conversations exit with code 1. Whether the
stories pass `rasa test core` on a real model: tests/e2e/test_trainer_story.py."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from rasa.shared.core.events import ActionExecuted, ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader

from bot.db.engine import make_engine
from bot.ops import cli
from bot.rasa.story_export import ConversationNotFound, NothingToExport, conversation_stories, stories_yaml
from bot.training import tracker_events
from bot.training.story_redaction import masked_conversation_id, redact_conversation, sessions

from .test_story_redaction import CARD, CODE, ID_NUMBER, MERCHANT, NAME, action, conversation, flattened, slot, user

SENDER = f"rest-{MERCHANT}-u42"


def _store(url: str, sender: str, events: List[Dict[str, Any]]) -> None:
    engine = make_engine(url)
    tracker_events._metadata.create_all(engine)
    with engine.begin() as connection:
        for number, event in enumerate(events):
            connection.execute(tracker_events.events_table.insert().values(
                sender_id=sender, type_name=event["event"], timestamp=float(number),
                data=json.dumps(event, ensure_ascii=False)))
    engine.dispose()


def _read_back(text: str):
    """The stories as `rasa test core` reads them: from a test_*.yml file (which may hold FAQ
    sub-intents), in a folder of its own that is gone afterwards (the story holds test card
    numbers, which scripts/scan_secrets.py looks for under var/, where pytest's folders are)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "test_exported.yml")
        path.write_text(text, encoding="utf-8")
        return YAMLStoryReader(source_name=str(path)).read_from_file(path)


def test_rasa_reads_the_story_back_as_the_redacted_conversation():
    text = stories_yaml(conversation(), SENDER)
    assert text.startswith('version: "3.1"\n')
    [story] = _read_back(text)
    assert story.block_name == masked_conversation_id(SENDER)

    expected = [event for event in redact_conversation(conversation())
                if event["event"] in ("user", "slot", "active_loop")
                or (event["event"] == "action" and event["name"] not in ("action_listen", "action_session_start"))]
    read = story.events
    assert len(read) == len(expected)
    for event, step in zip(expected, read):
        if event["event"] == "user":
            assert isinstance(step, UserUttered)
            assert step.intent_name == event["parse_data"]["intent"]["name"]
            if event["text"] is None:  # triggered over the API: the intent alone
                assert step.text is None
            elif not event["text"].startswith("/"):
                assert step.text == event["text"]
                assert [(e["entity"], e["start"], e["end"], e["value"]) for e in step.entities] == \
                       [(e["entity"], e["start"], e["end"], e["value"]) for e in event["parse_data"]["entities"]]
        elif event["event"] == "action":
            assert isinstance(step, ActionExecuted) and step.action_name == event["name"]
        elif event["event"] == "slot":
            assert isinstance(step, SlotSet) and (step.key, step.value) == (event["name"], event["value"])
        else:
            assert isinstance(step, ActiveLoop) and step.name == event["name"]


def test_the_story_is_written_for_people_to_edit():
    text = stories_yaml(conversation(), SENDER)
    for real in (CARD, ID_NUMBER, MERCHANT, CODE, NAME, "203.0.113.7", SENDER):
        assert real not in flattened(text)
    steps = yaml.safe_load(text)["stories"][0]["steps"]
    assert all(list(step)[:2] == ["user", "intent"] for step in steps if "user" in step)
    assert not any("slot_was_set" in first and "slot_was_set" in second for first, second in zip(steps, steps[1:]))
    assert {"action": "action_listen"} not in steps and {"action": "action_session_start"} not in steps
    assert "\\u" not in text  # entity annotations with their characters, not JSON escapes
    assert "# Exported by `bot trainer story`" in text


def test_each_session_and_what_follows_a_restart_is_a_story_of_its_own():
    events = conversation()[:13] + [
        action("action_session_start"), {"event": "session_started"}, slot("merchant_verified", False),
        action("action_listen"), user("审核要几天", "faq"), action("utter_faq"),
        {"event": "restart"}, action("action_listen"), user("你好", "greet"), action("utter_greet"),
    ]
    events[-6]["parse_data"]["intent"]["full_retrieval_intent_name"] = "faq/processing_time"
    stories = _read_back(stories_yaml(events, SENDER))
    name = masked_conversation_id(SENDER)
    assert [story.block_name for story in stories] == [f"{name}, session {n}" for n in (1, 2, 3)]
    assert [[e.intent_name for e in story.events if isinstance(e, UserUttered)] for story in stories] == \
           [["change_account"], ["faq"], ["greet"]]
    assert stories[1].events[0] == SlotSet("merchant_verified", False)  # carried over: the story starts with it
    raw = yaml.safe_load(stories_yaml(events, SENDER))["stories"][1]["steps"]
    assert {"user": "审核要几天", "intent": "faq/processing_time"} in raw  # the FAQ sub-intent is checked too
    assert len(sessions(redact_conversation(events))) == 3


def test_a_turn_an_action_ended_by_itself_is_pointed_out():
    """A FollowupAction(action_listen) (pre-checks refused after identification) cannot be written
    in a story, and the rules predict the next form there: the header says where."""
    events = conversation()[:25] + [
        action("action_after_identify"), {**action("action_listen"), "policy": "followup_action"},
        user("你好", "greet"), action("utter_greet")]
    text = stories_yaml(events, SENDER)
    assert "# Note: action_after_identify ended the turn by itself, with a FollowupAction" in text
    assert "# Note:" not in stories_yaml(conversation()[:25], SENDER)


def test_unknown_and_empty_conversations_are_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'rasa_tracker.db'}"
    with pytest.raises(ConversationNotFound):
        conversation_stories("nobody", url)
    _store(url, "silent", conversation()[:5])  # a session started, nothing said
    with pytest.raises(NothingToExport):
        conversation_stories("silent", url)


def _short_conversation() -> List[Dict[str, Any]]:
    """Merchant number and code only: no card or ID number, so the file it writes may stay."""
    return conversation()[:25]


def test_cli_prints_the_story_and_exits_1_for_an_unknown_conversation(var_dir, capsys):
    _store(f"sqlite:///{var_dir / 'rasa_tracker.db'}", SENDER, _short_conversation())
    assert cli.main(["trainer", "story", SENDER]) == 0
    printed = capsys.readouterr()
    assert [story.block_name for story in _read_back(printed.out)] == [masked_conversation_id(SENDER)]
    assert MERCHANT not in flattened(printed.out) and printed.err == ""

    assert cli.main(["trainer", "story", "rest-13800000009"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith("bot: no conversation 'rest-****0009' in the tracker store")


def test_cli_writes_a_new_file_only(var_dir, tmp_path, capsys):
    _store(f"sqlite:///{var_dir / 'rasa_tracker.db'}", SENDER, _short_conversation())
    out = tmp_path / "test_misunderstood.yml"
    assert cli.main(["trainer", "story", SENDER, "--out", str(out)]) == 0
    assert "Wrote 1 test story" in capsys.readouterr().out
    written = out.read_text(encoding="utf-8")
    assert _read_back(written)

    assert cli.main(["trainer", "story", SENDER, "--out", str(out)]) == 2  # never over an existing file
    assert "exists already" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == written
    assert cli.main(["trainer", "story", SENDER, "--out", str(Path(tmp_path, "no", "such.yml"))]) == 2

"""Every test story, walked over REST against the real assistant: no merchant message goes without
a reply (issue 9, "no silent turns anywhere").

`rasa test core` checks that the stories' actions are predicted; this checks what a merchant would
see when typing the stories' user lines, in order, in a conversation of their own: each gets an
answer from the dialogue, neither nothing nor the channels' apology for a turn that produced none
(bot/rasa/channels/safety_net.py). The stories' codes are fixed and do not match the codes sent by SMS,
so those conversations go another way than the story; wrong codes are answered too, and that is
the point. Run against the sandbox assistant: the wrong codes lock demo merchants.
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from e2e.conftest import is_apology

pytestmark = pytest.mark.servers

STORIES = PROJECT_ROOT / "tests" / "stories"
# Entity annotations of a user line: [text](entity) and [text]{"entity": ...}.
_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def merchant_text(line: str) -> str:
    """What the merchant typed: the user line without its entity annotations.

    >>> merchant_text("卡号 [6225883000000005](card_number)")
    '卡号 6225883000000005'
    >>> merchant_text('[招商银行]{"entity": "bank"}深圳科技园支行')
    '招商银行深圳科技园支行'
    """
    return _ANNOTATION.sub(r"\1", line).strip()


def _user_lines(steps: List[Any]) -> Iterator[str]:
    for step in steps:
        if not isinstance(step, dict):
            continue
        if "user" in step:
            yield merchant_text(str(step["user"]))
        elif "or" in step:  # alternatives: the first one is as good as any
            yield from _user_lines(step["or"][:1])


def story_walks() -> List[Tuple[str, List[str]]]:
    """(file: story name, user lines) of every story under tests/stories/."""
    stories = []
    for path in sorted(STORIES.glob("*.yml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for story in content.get("stories") or []:
            lines = list(_user_lines(story.get("steps") or []))
            if lines:
                stories.append((f"{path.stem}: {story['story']}", lines))
    return stories


WALKS = story_walks()


def test_annotations_are_not_typed_by_the_merchant():
    assert merchant_text("卡号 [6225883000000005](card_number)") == "卡号 6225883000000005"
    assert merchant_text('[招商银行]{"entity": "bank"}深圳科技园支行') == "招商银行深圳科技园支行"
    assert len(WALKS) >= 20 and all(lines for _, lines in WALKS)


@pytest.mark.parametrize("name, lines", WALKS, ids=[name for name, _ in WALKS])
def test_every_message_of_the_story_gets_a_reply(sandbox_assistant, name, lines):
    sender = f"story-{uuid.uuid4().hex[:12]}"
    silent = []
    for number, line in enumerate(lines, start=1):
        # assistant.post, not assistant.say: one run lists every silent message of the story.
        status, replies = sandbox_assistant.post("/webhooks/rest/webhook", {"sender": sender, "message": line})
        assert status == 200, replies
        if not replies:
            silent.append(f"{number}. {line!r}: no reply at all")
        elif is_apology(replies):
            silent.append(f"{number}. {line!r}: no reply from the dialogue (the channel apologised)")
    assert not silent, f"story {name!r}, conversation {sender}:\n" + "\n".join(silent)

"""A real conversation from the tracker store as a redacted test story (`bot trainer story`).

The trainer saw the bot misunderstand a merchant; once the data is fixed, the conversation should
stay understood. This writes it in Rasa's test-story format (`rasa test core`), ready to add to
tests/stories/, with no merchant's data in it (bot.training.story_redaction: each card, ID, phone
number, code, name... replaced by a documented test value of the same kind and shape, so the NLU
reads each sentence as it read the real one).

The story records what the model did then, misunderstanding included, so it passes on the model
that had the conversation; the trainer corrects the misunderstood step (its intent, the actions
after it) to what it should have been, and from then on `rasa test core` fails until the model does
that.

Rasa's own writer writes the steps (`YAMLStoryWriter`, as `GET /conversations/<id>/story` does),
then two changes for people who read and edit them: a step's consecutive slots in one
`slot_was_set`, and `user:` before `intent:`, as in the project's hand-written stories.

Sessions: every session of the conversation becomes a story of its own (`…, session 2`), and so
does what follows a restart (an agent closing the conversation). Rasa's story endpoint exports only
the last session by default, but the misunderstanding a trainer is looking at may be in any of
them, and each session is a fresh start for the policies (only the slots carried over, which stay
at the story's start as `slot_was_set`), so each passes or fails on its own and the trainer deletes
the ones that test nothing new.

Limits: an action that another action chose with a FollowupAction is written as the next step,
as the project's stories do, and the rules predict it too. An action that ended the turn itself
(FollowupAction(action_listen): pre-checks refused after identification) cannot be written: the
rules predict the next form there, so `rasa test core` fails on that step; the story's header
points it out.
"""
from __future__ import annotations

import json
import re
from collections import OrderedDict
from typing import Any, Dict, List, Sequence

from rasa.shared.core.constants import ACTION_LISTEN_NAME, FOLLOWUP_ACTION
from rasa.shared.core.events import deserialise_events
from rasa.shared.core.training_data.story_reader.yaml_story_reader import KEY_STORIES, KEY_STEPS
from rasa.shared.core.training_data.story_writer.yaml_story_writer import YAMLStoryWriter
from rasa.shared.core.training_data.structures import Story, StoryStep
from rasa.shared.utils.io import write_yaml
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString
from ruamel.yaml.compat import StringIO

from bot.training.story_redaction import masked_conversation_id, redact_conversation, sessions
from bot.training.tracker_events import read_events

SLOT_STEP = "slot_was_set"
HEADER = """\
# Exported by `bot trainer story` from conversation {name} ({sessions}).
# Every card, ID, licence, phone and merchant number, one-time code, request reference and name
# was replaced by a documented test value of the same kind (bot/training/test_values.py), the
# same value everywhere. The story records what the model did then: correct the misunderstood
# step, name the story after what it checks, and add it to tests/stories/ (rasa test --e2e reads
# only files named test_*.yml).
"""
NOTE = """\
# Note: {action} ended the turn by itself{where}, with a FollowupAction, which a story
# cannot hold: where the rules predict another action after it, rasa test core fails there.
"""

class ConversationNotFound(LookupError):
    """No event of this conversation in the tracker store."""


class NothingToExport(ValueError):
    """The conversation holds no message of the merchant."""


def conversation_stories(conversation_id: str, url: str | None = None) -> str:
    """The conversation's test stories (YAML), read from the tracker store at `url` (default:
    `tracker_events.tracker_database_url()`)."""
    events = [stored.data for stored in read_events(url, conversation_id=conversation_id)]
    if not events:
        raise ConversationNotFound(conversation_id)
    return stories_yaml(events, conversation_id)


def stories_yaml(events: Sequence[Dict[str, Any]], conversation_id: str) -> str:
    """Test stories (YAML text) of a conversation given as Rasa's event dicts."""
    parts = sessions(redact_conversation(events))
    if not parts:
        raise NothingToExport(conversation_id)
    name = masked_conversation_id(conversation_id)
    steps: List[StoryStep] = []
    for number, part in enumerate(parts, 1):
        title = name if len(parts) == 1 else f"{name}, session {number}"
        steps += Story.from_events(deserialise_events(part), title).story_steps
    data = YAMLStoryWriter().stories_to_yaml(steps, is_test_story=True)
    for story in data.get(KEY_STORIES, []):
        story[KEY_STEPS] = _tidy(story[KEY_STEPS])
    stream = StringIO()
    write_yaml(data, stream, True)
    version, rest = stream.getvalue().split("\n", 1)
    count = "1 session" if len(parts) == 1 else f"{len(parts)} sessions"
    notes = "".join(NOTE.format(action=action, where=f" (session {number})" if len(parts) > 1 else "")
                    for number, part in enumerate(parts, 1) for action in _turns_ended_by_actions(part))
    return f"{version}\n\n{HEADER.format(name=name, sessions=count)}{notes}{rest}"


def _turns_ended_by_actions(events: Sequence[Dict[str, Any]]) -> List[str]:
    """The actions that ended the merchant's turn themselves (FollowupAction(action_listen)):
    a story step cannot say so, and the policies predict what the rules say comes next."""
    ended, previous = [], None
    for event in events:
        if event["event"] == "action":
            if event["name"] == ACTION_LISTEN_NAME and event.get("policy") == FOLLOWUP_ACTION and previous:
                ended.append(previous)
            previous = event["name"]
    return ended


# Rasa writes an entity whose value differs from the text as `[工行]{"entity": "bank", "value":
# "\\u4e2d…"}`: the same annotation with the characters themselves reads better and parses alike.
_ANNOTATION = re.compile(r'(?<=\])\{"entity": [^{}]*\}')


def _readable_annotation(match: re.Match) -> str:
    try:
        return json.dumps(json.loads(match.group()), ensure_ascii=False)
    except ValueError:
        return match.group()


def _tidy(steps: List[Any]) -> List[Any]:
    """Consecutive `slot_was_set` steps as one; `user:` before `intent:`."""
    tidied: List[Any] = []
    for step in steps:
        if SLOT_STEP in step and tidied and SLOT_STEP in tidied[-1]:
            tidied[-1][SLOT_STEP].extend(step[SLOT_STEP])
            continue
        if "user" in step:
            text = LiteralScalarString(_ANNOTATION.sub(_readable_annotation, str(step["user"])))
            reordered = CommentedMap([("user", text)])
            reordered.update((key, value) for key, value in step.items() if key != "user")
            step = reordered
        elif SLOT_STEP in step:
            step = OrderedDict([(SLOT_STEP, list(step[SLOT_STEP]))])
        tidied.append(step)
    return tidied

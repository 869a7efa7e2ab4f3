"""20 simulated merchants over REST against the real assistant (tests/simulation/merchant.py): the
happy path and the six detours, answers drawn at random (fixed seed) from the phrasing tables. Each
conversation must end as its scenario expects, every merchant message must get a reply, and the
happy path must file within 11 merchant turns."""
from __future__ import annotations

import pytest

from simulation.merchant import HAPPY_PATH_MAX_TURNS, SCENARIOS, run_conversations

pytestmark = pytest.mark.servers

CONVERSATIONS = 20
FIRST_MERCHANT = 10000  # provision.py numbering; the phrasing tests take theirs from 0


def _story(conversation) -> str:
    return (f"{conversation.scenario}: ended {conversation.end} ({conversation.error or 'no error'}); "
            f"silent after {conversation.silent}\n    " + "\n    ".join(conversation.transcript[-12:]))


def test_twenty_simulated_merchants(assistant):
    report = run_conversations(assistant.base_url, assistant.var_dir, CONVERSATIONS, first_merchant=FIRST_MERCHANT)
    print(f"simulated merchants: {report['completed']}/{report['conversations']} as expected, by scenario "
          f"{report['by_scenario']}; happy path {report['happy_path_turns_max']} turns, filed in "
          f"{report['turns_to_file_mean']:.1f} turns on average; turn latency p50 {report['p50_ms']:.0f} ms, "
          f"p95 {report['p95_ms']:.0f} ms")
    assert report["conversations"] == CONVERSATIONS
    assert set(report["by_scenario"]) == set(SCENARIOS)
    assert report["silent_turns"] == 0, "\n".join(_story(c) for c in report["failures"] if c.silent)
    assert not report["failures"], (f"{report['completed']}/{CONVERSATIONS} as expected, by scenario "
                                    f"{report['by_scenario']}:\n" + "\n".join(map(_story, report["failures"])))
    assert 0 < report["happy_path_turns_max"] <= HAPPY_PATH_MAX_TURNS

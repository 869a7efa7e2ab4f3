"""The slow SMS provider part of `make bench` (scripts/bench.py): does a slow SMS gateway stall the
turns that send no SMS?

The assistant runs with the Yunpian gateway (`SMS_GATEWAY=bot.sms.yunpian:YunpianSmsGateway`) aimed
at the fake Yunpian of tests/sms/fake_yunpian.py on loopback, once per setting of `GATEWAYS`: the
fake answering at once, then 2 s after each message (each message on its own, as a slow provider
does). Each time `CONCURRENCY` fresh load-test merchants go through the whole change conversation
at once (bench.py `HAPPY_PATH`), reading their codes from the messages the fake accepted.

Each merchant pauses before each message (`PAUSE_S`, as if typing; drawn with a fixed seed, the
same in both runs). Sent as fast as the replies come, the merchants move in lockstep: all of them
give their merchant number together, the SMS turns stall one another (16 s instead of 2 s, measured
before the fix) and the turns without SMS never meet an SMS in flight, so they look unaffected.
Out of step, as real merchants are, a turn without SMS arrives while another conversation's SMS
is out, which is what the measurement is for.

A turn is an SMS turn when it sends one and waits for the gateway (bench.py `SMS_TURNS`): the
merchant number (identification code), 确认 (signing code), and the signing code itself, which files
the request and sends the filing notice. The goal, from the issue: with the 2 s gateway, p95 of the
other turns stays within `MAX_RATIO` of the instant run's.

bench.py starts the servers and runs the conversations (`measure_sms`); this module holds the fake,
the servers' settings, the code reader, the numbers of a run and the section of docs/BENCHMARKS.md.
`scripts/bench.py --only sms` runs just this part and prints its section.
"""
from __future__ import annotations

import random
import re
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Set

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "tests"

GATEWAYS = {"instant": 0.0, "2 s per message": 2.0}  # run name -> seconds the fake takes per message
CONCURRENCY = 8
FIRST_MERCHANT = 200  # load-test merchants 822100000000200.., never those of the other runs
MAX_RATIO = 1.5  # p95 of the turns without SMS, slow gateway / instant gateway
TURN_TIMEOUT_S = 120  # a stalled turn is measured, not cut off at the bench's usual 60 s
CODE_TIMEOUT_S = 30  # from asking for a code to its SMS at the fake
PAUSE_S = (0.5, 2.5)  # a merchant's pause before each message, drawn uniformly (the first: 0 to the upper bound)
SEED = 7

SIX_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")  # the code is the SMS's only 6-digit run (CONTRACTS.md)


def _tests_on_path() -> None:
    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))


def start_fake_yunpian(answer_delay_s: float) -> Any:
    """The fake Yunpian with the bot's templates, answering every message `answer_delay_s` late."""
    _tests_on_path()
    from sms.fake_yunpian import NOTICE_TEMPLATES, TEMPLATES, FakeYunpian

    return FakeYunpian(templates=TEMPLATES + NOTICE_TEMPLATES, answer_delay_s=answer_delay_s).start()


def server_env(fake: Any) -> Dict[str, Optional[str]]:
    """What `bot serve` needs to send its SMS through the fake (None: remove from the environment)."""
    _tests_on_path()
    from sms.fake_yunpian import APIKEY

    return {
        "SMS_GATEWAY": "bot.sms.yunpian:YunpianSmsGateway",
        "YUNPIAN_APIKEY": APIKEY,
        "YUNPIAN_API_BASE": fake.url,
        "YUNPIAN_TIMEOUT_S": None,  # the default 10 s: well above the slow run's 2 s
        "NO_PROXY": "127.0.0.1,localhost",  # a proxy configured on the machine must not take loopback
        "no_proxy": "127.0.0.1,localhost",
        "BRAND_NAME": None,  # the templates are the default brand's
        "WEBCHAT_SOCKETIO_REDIS_URL": None,  # one server: rooms in the process
    }


class CodeReader:
    """phone -> the code in the newest SMS to it at the fake, as the merchant reads their phone.

    The n-th code a merchant asks for waits for the n-th code SMS to their phone, so a code sent
    after the reply (not today) is still the one read, never the previous one. Notices hold no
    6-digit run and are passed over."""

    def __init__(self, fake: Any, timeout: float = CODE_TIMEOUT_S) -> None:
        self._fake = fake
        self._timeout = timeout
        self._read: Dict[str, int] = defaultdict(int)  # phone -> codes read; one thread per phone

    def __call__(self, phone: str) -> str:
        self._read[phone] += 1
        deadline = time.monotonic() + self._timeout
        seen = 0
        while True:
            try:
                messages = self._fake.sent_to(phone, seen + 1, timeout=max(0.0, deadline - time.monotonic()))
            except AssertionError:  # no such SMS: the conversation fails at this turn and says so
                return ""
            codes = [code.group() for code in map(SIX_DIGITS.search, (sms.text for sms in messages)) if code]
            if len(codes) >= self._read[phone]:
                return codes[-1]
            seen = len(messages)


def pauses(merchants: int, turns: int) -> List[List[float]]:
    """Each merchant's pause before each turn, in seconds: the same for a given (merchants, turns)."""
    low, high = PAUSE_S
    drawn = []
    for index in range(merchants):
        rng = random.Random(f"{SEED}:{index}")
        drawn.append([rng.uniform(0, high)] + [rng.uniform(low, high) for _ in range(turns - 1)])
    return drawn


def summarize(run: dict, sms_indices: Set[int], fake: Any,
              percentiles_ms: Callable[[Sequence[float]], Dict[str, float]]) -> dict:
    """One gateway setting's numbers: bench.change_conversations' `run`, its turns split into those
    at `sms_indices` of the script and the others."""
    sms = [d for index, turn in enumerate(run["by_turn"]) if index in sms_indices for d in turn]
    other = [d for index, turn in enumerate(run["by_turn"]) if index not in sms_indices for d in turn]
    return {
        "conversations": run["conversations"], "completed": run["completed"], "wall_s": run["wall_s"],
        "errors": run["errors"], "filed": run["filed"], "lost": run["lost"], "duplicated": run["duplicated"],
        "sms_turns": len(sms), "other_turns": len(other),
        "sms": percentiles_ms(sms), "other": percentiles_ms(other),
        "sms_requests": len(fake.requests), "sms_accepted": len(fake.sent),
    }


def verdict(results: Dict[str, dict]) -> Optional[dict]:
    """p95 of the turns without SMS, slow gateway over instant, and whether it meets MAX_RATIO."""
    instant, slow = (results.get("runs") or {}).get("instant"), (results.get("runs") or {}).get("2 s per message")
    if not instant or not slow or not instant["other_turns"] or not slow["other_turns"]:
        return None
    ratio = slow["other"]["p95_ms"] / instant["other"]["p95_ms"]
    return {"ratio": ratio, "passed": ratio <= MAX_RATIO}


def failed(results: Optional[dict]) -> bool:
    """The goal missed, or a measurement that did not run cleanly."""
    if not results or results.get("error"):
        return True
    runs = results.get("runs", {}).values()
    judged = verdict(results)
    return (judged is None or not judged["passed"]
            or any(run["errors"] or run["completed"] < run["conversations"] for run in runs))


def _ms(p: Dict[str, float]) -> str:
    return f"{p['p50_ms']:.0f} ms / {p['p95_ms']:.0f} ms"


def render(results: Optional[dict]) -> List[str]:
    """The section of docs/BENCHMARKS.md."""
    lines = [
        "## A slow SMS provider",
        "",
        "Whether a slow SMS provider stalls the turns that send no SMS. The assistant runs with the",
        "Yunpian gateway aimed at a fake Yunpian on loopback (tests/sms/fake_yunpian.py), started afresh",
        "for each setting: the fake answering at once, then 2 s after each message (each message on its",
        f"own, as a slow provider does). Each time {CONCURRENCY} load-test merchants go through the whole change",
        "conversation above at once, reading their codes from the messages the fake accepted, each",
        f"pausing {PAUSE_S[0]:g} to {PAUSE_S[1]:g} s before each message (fixed seed, the same in both runs): in",
        "lockstep they would all send their SMS together and the other turns would never meet one.",
        "SMS turns send an SMS and wait for the gateway: the merchant number (identification code), 确认",
        "(signing code) and the signing code (the request is filed and the filing notice sent). The other",
        f"turns should keep their latency: p95 with the slow gateway within {MAX_RATIO}x of the instant run's.",
        "`.venv/bin/python scripts/bench.py --only sms` runs just this and prints it without writing",
        "this file; about 3 minutes.",
        "",
    ]
    if not results:
        return lines + ["Not measured yet: the next `make bench` fills this in.", ""]
    if results.get("error"):
        return lines + [f"Not measured: {results['error']}", ""]
    lines += [
        "| SMS gateway | completed | other turns p50 / p95 | SMS turns p50 / p95 | wall time "
        "| SMS accepted (requests) | errors | requests filed (lost, duplicated) |",
        "|---|---|---|---|---|---|---|---|",
        *[f"| {name} | {run['completed']}/{run['conversations']} | {_ms(run['other'])} ({run['other_turns']} turns) "
          f"| {_ms(run['sms'])} ({run['sms_turns']} turns) | {run['wall_s']:.1f} s "
          f"| {run['sms_accepted']} ({run['sms_requests']}) | {len(run['errors'])} "
          f"| {run['filed']} ({run['lost']}, {run['duplicated']}) |"
          for name, run in results["runs"].items()],
        "",
    ]
    judged = verdict(results)
    if judged is None:
        lines.append("p95 of the other turns, 2 s gateway / instant: not measured (a run has no such turns).")
    else:
        lines.append(f"p95 of the other turns, 2 s gateway / instant: **{judged['ratio']:.2f}x** "
                     f"(goal at most {MAX_RATIO}x): **{'PASS' if judged['passed'] else 'FAIL'}**.")
    errors = [f"- {name}: {error}" for name, run in results["runs"].items() for error in run["errors"][:10]]
    return lines + ([""] + errors if errors else []) + [""]

"""A simulated merchant: changes the settlement card over REST the way a real one would, with one
detour per scenario, answering each question with a phrasing drawn at random (fixed seed) from the
phrasing tables of tests/phrasings/.

The merchant looks at what the bot is doing, not at its wording: after every message it reads the
tracker (GET /conversations/<sender>/tracker: `requested_slot`, `active_loop`, slots) and the
replies with their buttons, and answers the question asked. Codes come from the SMS outbox of the
assistant's var dir, as a merchant reads them on the registered phone.

Scenarios (`SCENARIOS`): the happy path and six detours, each taken once at a random question of
the change form (or where it belongs: the wrong code at the identification code, the credit card
at the card number):

| scenario | detour | expected end |
|---|---|---|
| happy | none | filed |
| correction | a value already given is wrong ("卡号输错了"), typed again | filed |
| faq | a question mid-form ("审核要几天"), then the form goes on | filed |
| cancel | "算了不改了" mid-form | cancelled, nothing filed |
| human_and_back | "转人工", a message while waiting, "不等了，继续自助办理" | filed |
| wrong_code | a wrong identification code first | filed |
| credit_card | a credit card first, refused, then a debit card | filed |

`run_conversations` runs N of them (scenarios in turn) and reports the completion rate, the
merchant turns to file, per-turn latency and every failure; the servers test runs 20
(tests/e2e/test_simulated_merchants.py), `make bench` 200 (scripts/bench.py).
"""
from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import phrasings
from bot.validation import bank_card
from simulation import provision

SCENARIOS = ("happy", "correction", "faq", "cancel", "human_and_back", "wrong_code", "credit_card")
EXPECTED_END = {scenario: "filed" for scenario in SCENARIOS} | {"cancel": "cancelled"}
HAPPY_PATH_MAX_TURNS = 11

CODE = re.compile(r"(?<!\d)\d{6}(?!\d)")
REFERENCE = re.compile(r"CR\d{8}-[0-9A-Z]{4}")
MAX_TURNS = 40
MAX_SAME_QUESTION = 4  # the same question asked this often in a row: the conversation is stuck

# What the merchant says for the detours (small fixed lists: the tables are for answers).
OPENINGS = ("我要换结算卡", "我想换一下收款的银行卡", "结算卡要换一张", "帮我改下结算账户")
FAQS = ("审核要几天", "换卡收费吗", "钱什么时候到账", "需要准备什么材料")
CANCELS = ("算了不改了", "取消", "不办了")
HUMANS = ("转人工", "我要找人工客服")
WAITING = ("在吗", "还要等多久")
BACK_TO_BOT = "不等了，继续自助办理"
CORRECTIONS = {"new_account_number": ("卡号输错了", "刚才卡号填错了"),
               "holder_id_number": ("身份证号输错了",)}
CREDIT_CARD = "6225751000000004"  # 招商银行 credit card: must be refused
FORM_SLOTS = ("route", "change_reason", "holder_id_number", "new_account_number", "holder_name",
              "opening_branch", "change_confirmed")
# Where each detour may happen (one of these questions, drawn at random); a correction needs a
# value given before it, so it comes after the card.
DETOUR_PLACES = {
    "correction": ("holder_name", "opening_branch", "change_confirmed"),
    "faq": FORM_SLOTS,
    "cancel": FORM_SLOTS,
    "human_and_back": FORM_SLOTS,
    "wrong_code": ("identify_code",),
    "credit_card": ("new_account_number",),
    "happy": (),
}


def _apology() -> str:
    from bot.rasa.channels.safety_net import INTERNAL_ERROR_RESPONSE
    from bot.responses import response_text

    return response_text(INTERNAL_ERROR_RESPONSE)


def _answers(question: str) -> List[phrasings.Phrasing]:
    """The phrasings a micro merchant whose operator is the holder (张伟) answers with: online, a
    debit card, the operator's own name, a known branch, a yes to the summary."""
    table = phrasings.load(question)
    usable = []
    for phrasing in table.phrasings:
        if question == "route" and phrasing.value != "online":
            continue
        if question == "holder_name" and phrasing.value != table.operator:
            continue
        if question == "opening_branch" and phrasing.flag("unknown"):
            continue
        if question == "change_confirmed" and phrasing.value is not True:
            continue
        usable.append(phrasing)
    return usable


class Assistant:
    """The running assistant as a merchant's phone sees it: REST, the tracker, the SMS outbox."""

    def __init__(self, base_url: str, var_dir: Path) -> None:
        self.base_url = base_url.rstrip("/")
        self.var_dir = Path(var_dir)

    def _call(self, path: str, body: Any = None, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.base_url + path, data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            return json.loads(reply.read())

    def say(self, sender: str, text: str) -> List[dict]:
        return self._call("/webhooks/rest/webhook", {"sender": sender, "message": text})

    def tracker(self, sender: str) -> Dict[str, Any]:
        return self._call(f"/conversations/{sender}/tracker")

    def codes(self, phone: str) -> List[str]:
        """Codes sent to `phone`, oldest first."""
        outbox = self.var_dir / "sms_outbox.jsonl"
        found = []
        for line in outbox.read_text(encoding="utf-8").splitlines() if outbox.exists() else []:
            try:
                message = json.loads(line)
            except ValueError:  # a line being written right now
                continue
            if message.get("to") == phone:
                found += CODE.findall(message.get("text", ""))
        return found


@dataclass
class Conversation:
    scenario: str
    merchant: str
    sender: str
    end: str = "unfinished"  # filed, cancelled, stuck, error, unfinished
    turns: int = 0  # merchant messages
    latencies: List[float] = field(default_factory=list)
    silent: List[str] = field(default_factory=list)  # merchant messages that got no reply
    reference: Optional[str] = None
    transcript: List[str] = field(default_factory=list)
    error: Optional[str] = None
    detour_at: Optional[str] = None  # the question where the scenario's detour was taken

    @property
    def ok(self) -> bool:
        detoured = self.scenario == "happy" or self.detour_at is not None
        return self.end == EXPECTED_END[self.scenario] and not self.silent and detoured


class SimulatedMerchant:
    def __init__(self, assistant: Assistant, number: str, phone: str, scenario: str, seed: int) -> None:
        self.assistant = assistant
        self.number = number
        self.phone = phone
        self.rng = random.Random(seed)
        self.result = Conversation(scenario, number, f"sim-{uuid.uuid4().hex[:12]}")
        places = DETOUR_PLACES[scenario]
        self.detour_at = self.rng.choice(places) if places else None
        self.detour_done = not places
        self.card: Optional[str] = None
        self.codes_used = 0

    # --- talking -----------------------------------------------------------------------------
    def say(self, text: str) -> List[dict]:
        started = time.perf_counter()
        replies = self.assistant.say(self.result.sender, text)
        self.result.latencies.append(time.perf_counter() - started)
        self.result.turns += 1
        said = " / ".join(reply.get("text", "") for reply in replies)
        self.result.transcript += [f"商户: {text}", f"助手: {said}"]
        # no reply, or only the channels' apology for a turn the dialogue left unanswered
        if not any(reply.get("text") or reply.get("buttons") or reply.get("image") for reply in replies) \
                or [reply.get("text") for reply in replies] == [_apology()]:
            self.result.silent.append(text)
        reference = REFERENCE.search(said)
        if reference and self.result.reference is None:
            self.result.reference = reference.group()
        return replies

    def state(self) -> tuple:
        tracker = self.assistant.tracker(self.result.sender)
        slots = tracker.get("slots") or {}
        loop = (tracker.get("active_loop") or {}).get("name")
        return slots.get("requested_slot") if loop else None, loop, slots

    def newest_code(self) -> str:
        codes = self.assistant.codes(self.phone)
        if not codes:
            raise AssertionError(f"no code was sent to {self.phone}")
        return codes[-1]

    # --- answers -----------------------------------------------------------------------------
    def answer(self, question: str, slots: Dict[str, Any]) -> str:
        if question == "merchant_number":
            phrasing = self.rng.choice(phrasings.load(question).phrasings)
            return phrasings.retarget_merchant_number(phrasing.text, self.number)
        if question in phrasings.CODE_QUESTIONS:
            return phrasings.render(self.rng.choice(phrasings.load(question).phrasings).text, self.newest_code())
        if question == "new_bank":  # asked when a bank named before disagrees with the card: the card's
            return bank_card.validate(self.card).bank_name if self.card else "工商银行"
        phrasing = self.rng.choice(_answers(question))
        if question == "new_account_number":
            self.card = phrasing.value
        return phrasing.text

    # --- detours -----------------------------------------------------------------------------
    def detour(self, question: str, slots: Dict[str, Any]) -> Optional[str]:
        """Take the scenario's detour now if this is its place; returns the end it led to, if any."""
        scenario = self.result.scenario
        if self.detour_done or question != self.detour_at:
            return None
        self.result.detour_at = question
        if scenario == "wrong_code":
            real = self.newest_code()
            self.say("000000" if real != "000000" else "111111")
        elif scenario == "credit_card":
            self.say(f"卡号是{CREDIT_CARD}")
        elif scenario == "faq":
            self.say(self.rng.choice(FAQS))
        elif scenario == "cancel":
            self.say(self.rng.choice(CANCELS))
            self.detour_done = True
            requested, loop, _ = self.state()
            return "cancelled" if loop is None and self.result.reference is None else None
        elif scenario == "human_and_back":
            self.say(self.rng.choice(HUMANS))
            self.say(self.rng.choice(WAITING))
            self.say(BACK_TO_BOT)
        elif scenario == "correction":
            corrected = self.rng.choice(sorted(CORRECTIONS))
            self.say(self.rng.choice(CORRECTIONS[corrected]))
        self.detour_done = True
        return None

    # --- the conversation --------------------------------------------------------------------
    def run(self) -> Conversation:
        result = self.result
        try:
            self.say(self.rng.choice(OPENINGS))
            last, repeats = None, 0
            while result.turns < MAX_TURNS:
                if result.reference:
                    result.end = "filed"
                    break
                question, loop, slots = self.state()
                if question is None:
                    result.end = "stuck"
                    result.error = f"no question asked and nothing filed (active loop {loop})"
                    break
                repeats = repeats + 1 if question == last else 0
                last = question
                if repeats >= MAX_SAME_QUESTION:
                    result.end = "stuck"
                    result.error = f"{question} asked {repeats + 1} times in a row"
                    break
                end = self.detour(question, slots)
                if end:
                    result.end = end
                    break
                if self.state()[0] != question:  # the detour moved the form on (or closed it)
                    continue
                self.say(self.answer(question, slots))
        except (OSError, ValueError, AssertionError, urllib.error.URLError) as error:
            result.end, result.error = "error", f"{type(error).__name__}: {error}"
        if result.end == EXPECTED_END[result.scenario] and not result.ok:
            result.error = result.error or "the scenario's detour never came"
        return result


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else float("nan")


def run_conversations(base_url: str, var_dir: Path, count: int, *, seed: int = 20261125,
                      first_merchant: int = 20000, concurrency: int = 1,
                      scenarios: Sequence[str] = SCENARIOS) -> Dict[str, Any]:
    """`count` simulated merchants (scenarios in turn, each a merchant of its own, numbered from
    `first_merchant`, see provision.py) against the assistant at `base_url` whose state is `var_dir`.

    Returns completion_rate (share of conversations that ended as their scenario expects, with a
    reply to every message), the merchant turns to file (max and mean over filed conversations,
    and the happy path's max), per-turn latency p50/p95 in ms, and the failed conversations."""
    assistant = Assistant(base_url, var_dir)
    provider = provision.Provider(Path(var_dir), start=first_merchant)
    plans = [(scenarios[index % len(scenarios)], seed + index) for index in range(count)]
    results: List[Optional[Conversation]] = [None] * count
    next_plan = iter(range(count))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                index = next(next_plan, None)
            if index is None:
                return
            scenario, conversation_seed = plans[index]
            number, phone = provider.new()
            results[index] = SimulatedMerchant(assistant, number, phone, scenario, conversation_seed).run()

    threads = [threading.Thread(target=worker) for _ in range(max(1, concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done = [result for result in results if result is not None]
    filed = [result for result in done if result.end == "filed"]
    happy = [result.turns for result in filed if result.scenario == "happy"]
    latencies = [latency for result in done for latency in result.latencies]
    return {
        "conversations": len(done),
        "completed": sum(result.ok for result in done),
        "completion_rate": sum(result.ok for result in done) / len(done) if done else 0.0,
        "turns_to_file_max": max((result.turns for result in filed), default=0),
        "turns_to_file_mean": sum(result.turns for result in filed) / len(filed) if filed else 0.0,
        "happy_path_turns_max": max(happy, default=0),
        "merchant_turns": len(latencies),
        "p50_ms": 1000 * _percentile(latencies, 0.5),
        "p95_ms": 1000 * _percentile(latencies, 0.95),
        "silent_turns": sum(len(result.silent) for result in done),
        "by_scenario": {scenario: f"{sum(r.ok for r in done if r.scenario == scenario)}/"
                                  f"{sum(r.scenario == scenario for r in done)}" for scenario in scenarios},
        "failures": [result for result in done if not result.ok],
    }

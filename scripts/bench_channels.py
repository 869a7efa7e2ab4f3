"""The channel part of `make bench` (scripts/bench.py): the WeChat Official Account channel and the
web chat page's socket.io channel, measured against the real `bot serve` the bench starts.

- WeChat, in safe mode: pushes signed and AES-encrypted as WeChat's servers send them
  (tests/wechat/pusher.py), the bot's customer-service replies received by the fake WeChat API of
  tests/wechat/fake_server.py on loopback (WECHAT_API_BASE). Per push: acknowledgement latency
  (POST to `success`) and push-to-reply latency (POST to the first reply at the fake's send
  endpoint). Every push is posted twice (a replay, as WeChat retries); the dialogue turns in the
  trackers show whether a replay was answered again.
- Web chat: python-socketio's AsyncClient over the websocket transport, one demo merchant per
  connection (a merchant has one conversation, `webchat-<number>`); turn latency is emit
  `user_uttered` to the first `bot_uttered`.

`scripts/bench.py --only channels` runs just this part and prints its section.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from bot.ops.demo import DEMO_MERCHANTS
from bot.channel_trust import wechat_conversation_id

ROOT = Path(__file__).resolve().parent.parent
TESTS_DIR = ROOT / "tests"

# WeChat: what each follower sends, one after the other (distinct texts, so that a replay answered
# a second time shows as a repeated message in the follower's tracker).
WECHAT_TEXTS = ("你好", "审核要几天", "需要什么材料", "信用卡可以做结算卡吗", "钱什么时候到账", "谢谢")
# name -> (concurrent followers, followers each of them plays one after another); a new OpenID each.
WECHAT_RUNS = {"1": (1, 3), "8": (8, 1)}
# Web chat: name -> (concurrent merchants, turns each). Demo merchants 01 (alone), then 02..09.
WEBCHAT_RUNS = {"1": (1, 18), "8": (8, 6)}
WEBCHAT_MERCHANTS = [merchant.number for merchant in DEMO_MERCHANTS][:9]

HTTP_TIMEOUT_S = 15  # a push's acknowledgement, a demo login, a tracker
REPLY_TIMEOUT_S = 30  # from a push (or an emit) to the first reply
PROCESSED_TIMEOUT_S = 60  # from a push to the channel having finished its turn
CONNECT_TIMEOUT_S = 15  # socket.io connection
SETTLE_S = 1.5  # after the last push: time for a wrongly accepted replay to be answered

_msg_ids = itertools.count(int(time.time() * 1000) * 100)


class ChannelError(RuntimeError):
    """A channel that does not answer at all: the measurement cannot go on."""


def _tests_on_path() -> None:
    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))


def start_fake_wechat() -> Any:
    """The fake WeChat API (tests/wechat/fake_server.py), noting when each reply arrives."""
    _tests_on_path()
    from wechat.fake_server import FakeWeChat

    class TimedFakeWeChat(FakeWeChat):
        def __post_init__(self) -> None:
            super().__post_init__()
            self.arrivals: Dict[str, List[float]] = defaultdict(list)  # OpenID -> perf_counter()s

        def _send(self, token: str, body: bytes) -> dict:
            arrived = time.perf_counter()
            with self._lock:  # reentrant: waiters wake once the arrival is noted too
                result = super()._send(token, body)
                if result.get("errcode") == 0:
                    self.arrivals[json.loads(body.decode("utf-8"))["touser"]].append(arrived)
            return result

        def replies_to(self, openid: str) -> int:
            with self._lock:
                return len(self.arrivals[openid])

        def reply_arrival(self, openid: str, index: int, timeout: float) -> float:
            """When reply number `index` (from 0) to `openid` arrived; waits for it up to `timeout`."""
            deadline = time.monotonic() + timeout
            with self._lock:
                while len(self.arrivals[openid]) <= index:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no reply within {timeout:.0f} s")
                    self._lock.wait(left)
                return self.arrivals[openid][index]

    return TimedFakeWeChat().start()


def server_env(fake: Any) -> Dict[str, Optional[str]]:
    """What `bot serve` needs for the two channels (None: remove from the environment). Safe mode."""
    _tests_on_path()
    from wechat.pusher import AES_KEY, TOKEN

    return {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": fake.app_id,
        "WECHAT_APP_SECRET": fake.app_secret,
        "WECHAT_AES_KEY": AES_KEY,
        "WECHAT_API_BASE": fake.url,
        "WEBCHAT_DEMO_LOGIN": "1",  # the demo login even if WEBCHAT_JWT_SECRET is set
        "WEBCHAT_SOCKETIO_REDIS_URL": None,  # one server: rooms in the process
    }


# --- WeChat ------------------------------------------------------------------------------------


def _post_push(url: str, pusher: Any, openid: str, xml: str) -> Tuple[int, str]:
    query, body = pusher.push(xml, openid=openid)
    request = urllib.request.Request(url + "?" + urllib.parse.urlencode(query), data=body,
                                     headers={"Content-Type": "text/xml"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
            return reply.status, reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def _wait_processed(database: sqlite3.Connection, dedup_key: str) -> None:
    """Until the channel has finished the push's turn (`processed_at` in its inbound table)."""
    deadline = time.monotonic() + PROCESSED_TIMEOUT_S
    while time.monotonic() < deadline:
        row = database.execute("SELECT processed_at FROM wechat_inbound_messages WHERE dedup_key = ?",
                               (dedup_key,)).fetchone()
        if row and row[0] is not None:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{dedup_key} not processed within {PROCESSED_TIMEOUT_S} s")


def _follower(base_url: str, var_dir: Path, fake: Any, openid: str, texts: Sequence[str]) -> dict:
    """One follower sends `texts`, each pushed twice (the replay right after the first `success`),
    the next one once the channel has finished the previous turn."""
    _tests_on_path()
    from wechat.pusher import AES_KEY, Pusher

    pusher = Pusher(aes_key=AES_KEY, app_id=fake.app_id)
    url = base_url + "/webhooks/wechat/webhook"
    outcome: dict = {"ack": [], "reply": [], "pushes": 0, "replays": 0, "error": None, "at": 0}
    database = sqlite3.connect(str(var_dir / "bot.db"), timeout=10)
    try:
        for number, text in enumerate(texts, 1):
            outcome["at"] = number
            msg_id = next(_msg_ids)
            xml = pusher.text(openid, text, msg_id=msg_id)
            before = fake.replies_to(openid)
            started = time.perf_counter()
            answer = _post_push(url, pusher, openid, xml)
            acked = time.perf_counter()
            outcome["pushes"] += 1
            if answer != (200, "success"):
                raise ChannelError(f"push answered HTTP {answer[0]} {answer[1][:80]!r}, not `success`")
            replay = _post_push(url, pusher, openid, xml)
            outcome["replays"] += 1
            if replay != (200, "success"):
                raise ChannelError(f"replay answered HTTP {replay[0]} {replay[1][:80]!r}, not `success`")
            first_reply = fake.reply_arrival(openid, before, REPLY_TIMEOUT_S)
            outcome["ack"].append(acked - started)
            outcome["reply"].append(first_reply - started)
            _wait_processed(database, f"msg:{msg_id}")
    except (ChannelError, OSError, TimeoutError) as error:
        outcome["error"] = f"{openid[:12]}… message {outcome['at']} of {len(texts)}: {error}"
    finally:
        database.close()
    return outcome


def _turns_in_tracker(base_url: str, openid: str) -> Tuple[int, int, int]:
    """(user turns, repeated user turns, bot messages after repeated ones) of a follower: the texts
    a follower sends are distinct, so a repeated one is a replay that was answered."""
    conversation = urllib.parse.quote(wechat_conversation_id(openid))
    with urllib.request.urlopen(f"{base_url}/conversations/{conversation}/tracker", timeout=HTTP_TIMEOUT_S) as reply:
        events = json.loads(reply.read())["events"]
    seen, turns, repeated, replies_to_repeated, in_repeat = set(), 0, 0, 0, False
    for event in events:
        if event.get("event") == "user":
            turns += 1
            in_repeat = event.get("text") in seen
            repeated += in_repeat
            seen.add(event.get("text"))
        elif event.get("event") == "bot" and in_repeat:
            replies_to_repeated += 1
    return turns, repeated, replies_to_repeated


def wechat_run(base_url: str, var_dir: Path, fake: Any, concurrency: int, rounds: int,
               percentiles: Callable[[Sequence[float]], Dict[str, float]]) -> dict:
    openids = [[f"oBench{uuid.uuid4().hex[:22]}" for _ in range(rounds)] for _ in range(concurrency)]
    outcomes: List[dict] = []
    lock = threading.Lock()

    def play(mine: List[str]) -> None:
        for openid in mine:
            outcome = _follower(base_url, var_dir, fake, openid, WECHAT_TEXTS)
            with lock:
                outcomes.append(outcome)

    started = time.perf_counter()
    threads = [threading.Thread(target=play, args=(mine,), daemon=True) for mine in openids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    time.sleep(SETTLE_S)
    everyone = [openid for mine in openids for openid in mine]
    errors = [outcome["error"] for outcome in outcomes if outcome["error"]]
    turns = repeated = replies_to_repeated = 0
    for openid in everyone:
        try:
            counted = _turns_in_tracker(base_url, openid)
        except (OSError, ValueError, KeyError) as error:
            errors.append(f"{openid[:12]}… tracker not read: {error}")
            continue
        turns += counted[0]
        repeated += counted[1]
        replies_to_repeated += counted[2]
    ack = [duration for outcome in outcomes for duration in outcome["ack"]]
    reply = [duration for outcome in outcomes for duration in outcome["reply"]]
    return {"concurrency": concurrency, "followers": len(everyone), "texts": len(WECHAT_TEXTS),
            "ack": percentiles(ack), "reply": percentiles(reply), "answered": len(reply),
            "pushes": sum(outcome["pushes"] for outcome in outcomes),
            "replays": sum(outcome["replays"] for outcome in outcomes),
            "replies": sum(fake.replies_to(openid) for openid in everyone),
            "turns": turns, "duplicate_turns": repeated, "duplicate_replies": replies_to_repeated,
            "wall_s": wall, "errors": errors}


def measure_wechat(base_url: str, var_dir: Path, fake: Any,
                   percentiles: Callable[[Sequence[float]], Dict[str, float]]) -> Dict[str, dict]:
    # Warm-up, and a clear error when the channel does not answer at all.
    warm = _follower(base_url, var_dir, fake, f"oBenchWarm{uuid.uuid4().hex[:18]}", WECHAT_TEXTS[:1])
    if warm["error"]:
        raise ChannelError(f"WeChat channel at {base_url}/webhooks/wechat/webhook, replies expected at the fake "
                           f"WeChat API {fake.url}: {warm['error']} (Rasa log: {var_dir / 'logs' / 'rasa.log'})")
    return {name: wechat_run(base_url, var_dir, fake, concurrency, rounds, percentiles)
            for name, (concurrency, rounds) in WECHAT_RUNS.items()}


# --- web chat ----------------------------------------------------------------------------------


def _allow_socketio_client() -> None:
    """python-engineio's websocket client names aiohttp.ClientWSTimeout (aiohttp >= 3.10); Rasa pins
    aiohttp 3.9, whose ws_connect takes the close timeout as a plain number (as in
    tests/webchat/conftest.py)."""
    import aiohttp

    if not hasattr(aiohttp, "ClientWSTimeout"):
        aiohttp.ClientWSTimeout = lambda ws_close: ws_close


def demo_token(base_url: str, merchant: str) -> str:
    request = urllib.request.Request(base_url + "/webhooks/webchat/demo-login",
                                     data=json.dumps({"merchant": merchant}).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
            return json.loads(reply.read())["token"]
    except urllib.error.HTTPError as error:
        raise ChannelError(f"demo login for {merchant} answered HTTP {error.code}") from error
    except (OSError, ValueError, KeyError) as error:
        raise ChannelError(f"demo login for {merchant} failed: {error}") from error


class _ChatClient:
    """One merchant's page: a socket.io connection that notes when the bot's first answer arrives."""

    def __init__(self, base_url: str, merchant: str) -> None:
        import socketio

        self.base_url = base_url
        self.merchant = merchant
        self.sio = socketio.AsyncClient(reconnection=False)
        self.first_answer = asyncio.Event()
        self.turn_complete = asyncio.Event()
        self.answered_at = 0.0
        self.sio.on("bot_uttered", self._bot_uttered)
        self.sio.on("turn_complete", self._turn_complete)

    async def _bot_uttered(self, _data: Any = None) -> None:
        if not self.first_answer.is_set():
            self.answered_at = time.perf_counter()
            self.first_answer.set()

    async def _turn_complete(self, _data: Any = None) -> None:
        self.turn_complete.set()

    async def connect(self, token: str) -> None:
        try:
            await asyncio.wait_for(self.sio.connect(self.base_url, auth={"token": token}, transports=["websocket"],
                                                    wait_timeout=CONNECT_TIMEOUT_S), CONNECT_TIMEOUT_S + 5)
        except Exception as error:  # socketio.exceptions.ConnectionError, timeouts
            raise ChannelError(f"merchant {self.merchant}: socket.io connection to {self.base_url}/socket.io "
                               f"failed: {type(error).__name__} {error}") from error

    async def turn(self, text: str) -> float:
        """Seconds from the emit to the first bot_uttered; returns once the turn is complete."""
        self.first_answer.clear()
        self.turn_complete.clear()
        started = time.perf_counter()
        await self.sio.emit("user_uttered", {"message": text})
        try:
            await asyncio.wait_for(self.first_answer.wait(), REPLY_TIMEOUT_S)
            await asyncio.wait_for(self.turn_complete.wait(), REPLY_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise ChannelError(f"merchant {self.merchant}: no answer to {text!r} within {REPLY_TIMEOUT_S} s") from None
        return self.answered_at - started

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


async def _webchat_run(base_url: str, merchants: Sequence[str], turns: int, texts: Sequence[str],
                       percentiles: Callable[[Sequence[float]], Dict[str, float]]) -> dict:
    clients = [_ChatClient(base_url, merchant) for merchant in merchants]
    durations: List[float] = []
    errors: List[str] = []
    try:
        await asyncio.gather(*(client.connect(demo_token(base_url, client.merchant)) for client in clients))

        async def chat(client: _ChatClient) -> None:
            for index in range(turns):
                try:
                    durations.append(await client.turn(texts[index % len(texts)]))
                except ChannelError as error:
                    errors.append(str(error))
                    return
                except Exception as error:  # noqa: BLE001 - e.g. disconnected: counted, the others go on
                    errors.append(f"merchant {client.merchant}: {type(error).__name__} {error}")
                    return

        started = time.perf_counter()
        await asyncio.gather(*(chat(client) for client in clients))
        wall = time.perf_counter() - started
    finally:
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
    return {"merchants": len(merchants), "turns": len(durations), **percentiles(durations),
            "turns_per_s": len(durations) / wall, "errors": errors}


async def _measure_webchat(base_url: str, texts: Sequence[str],
                           percentiles: Callable[[Sequence[float]], Dict[str, float]]) -> Dict[str, dict]:
    warm = _ChatClient(base_url, WEBCHAT_MERCHANTS[0])  # warm-up, and a clear error if nothing answers
    try:
        await warm.connect(demo_token(base_url, warm.merchant))
        await warm.turn(texts[0])
    finally:
        await warm.close()
    results, next_merchant = {}, 0
    for name, (count, turns) in WEBCHAT_RUNS.items():
        merchants = WEBCHAT_MERCHANTS[next_merchant:next_merchant + count]
        next_merchant += count
        results[name] = await _webchat_run(base_url, merchants, turns, texts, percentiles)
    return results


def measure_webchat(base_url: str, texts: Sequence[str],
                    percentiles: Callable[[Sequence[float]], Dict[str, float]]) -> Dict[str, dict]:
    _allow_socketio_client()
    return asyncio.run(_measure_webchat(base_url, texts, percentiles))


# --- both, and the report ---------------------------------------------------------------------


def measure(base_url: str, var_dir: Path, fake: Any, texts: Sequence[str],
            percentiles: Callable[[Sequence[float]], Dict[str, float]],
            log: Callable[[str], None] = print) -> Dict[str, dict]:
    """{"wechat": runs or {"error": ...}, "webchat": the same}; a channel that fails does not stop
    the other one."""
    results: Dict[str, dict] = {}
    try:
        results["wechat"] = measure_wechat(base_url, var_dir, fake, percentiles)
        for name, run in results["wechat"].items():
            log(f"[bench] WeChat, {name} concurrent: ack p50 {run['ack']['p50_ms']:.0f} ms, "
                f"p95 {run['ack']['p95_ms']:.0f} ms; reply p50 {run['reply']['p50_ms']:.0f} ms, "
                f"p95 {run['reply']['p95_ms']:.0f} ms; {run['pushes']} pushes + {run['replays']} replays, "
                f"{run['replies']} replies, {run['duplicate_turns']} duplicate turns")
            for error in run["errors"]:
                log(f"[bench]   error: {error}")
    except ChannelError as error:
        results["wechat"] = {"error": str(error)}
        log(f"[bench] WeChat not measured: {error}")
    try:
        results["webchat"] = measure_webchat(base_url, texts, percentiles)
        for name, run in results["webchat"].items():
            log(f"[bench] web chat, {name} concurrent: p50 {run['p50_ms']:.0f} ms, p95 {run['p95_ms']:.0f} ms "
                f"({run['turns']} turns)")
            for error in run["errors"]:
                log(f"[bench]   error: {error}")
    except ChannelError as error:
        results["webchat"] = {"error": str(error)}
        log(f"[bench] web chat not measured: {error}")
    return results


def failed(results: Dict[str, dict]) -> bool:
    """Whether a channel could not be measured, or a run had errors."""
    return any("error" in channel or any(run["errors"] for run in channel.values()) for channel in results.values())


def _ms(run: Dict[str, float]) -> str:
    return f"{run['p50_ms']:.0f} ms / {run['p95_ms']:.0f} ms"


def render(results: Dict[str, dict]) -> List[str]:
    """The "Channels" section of docs/BENCHMARKS.md."""
    wechat, webchat = results["wechat"], results["webchat"]
    lines = [
        "## Channels: WeChat and web chat",
        "",
        "Against the same `bot serve`, after the measurements above. `.venv/bin/python scripts/bench.py",
        "--only channels` runs just these (servers included, about a minute) and prints this section",
        "without writing this file.",
        "",
        "**WeChat Official Account**, in safe mode (WECHAT_AES_KEY set): pushes signed and AES-encrypted",
        "as WeChat's servers send them (tests/wechat/pusher.py); the bot's customer-service replies go to",
        "the fake WeChat API of tests/wechat/fake_server.py on loopback (WECHAT_API_BASE). Each follower,",
        f"an OpenID of its own, sends {len(WECHAT_TEXTS)} texts one after the other:",
        f"{'、'.join(WECHAT_TEXTS)}.",
        "Every push is posted twice, the replay right after the first `success` (as a WeChat retry),",
        "and the next text goes once the channel has finished the turn. 1 follower at a time (3",
        "followers, one after another), then 8 at once.",
        "",
        "- Acknowledgement: POST to `success`. The channel answers before the dialogue runs; WeChat",
        "  retries a push it has no answer to within 5 s, so this is the number to keep far below 5 s.",
        "  It shares the Rasa server's event loop and database with the turns in progress, so it grows",
        "  with the number of followers talking at once.",
        "- Push to first reply: POST to the first reply reaching the fake's send endpoint: the whole",
        "  turn (decryption, NLU, dialogue, action server, access token, customer-service API).",
        "- Duplicates: dialogue turns in the followers' trackers beyond one per push, and the replies",
        "  those turns sent. A replay must add none: 0 means every replay was recognised.",
        "",
    ]
    if "error" in wechat:
        lines += [f"Not measured: {wechat['error']}", ""]
    else:
        lines += [
            "| run | acknowledgement p50 / p95 | push to first reply p50 / p95 | pushes + replays | turns | replies "
            "| duplicate turns (their replies) | wall time | errors |",
            "|---|---|---|---|---|---|---|---|---|",
            *[f"| {run['concurrency']} concurrent follower(s), {run['followers']} in all "
              f"| {_ms(run['ack'])} | {_ms(run['reply'])} ({run['answered']} pushes) "
              f"| {run['pushes']} + {run['replays']} | {run['turns']} | {run['replies']} "
              f"| {run['duplicate_turns']} ({run['duplicate_replies']}) | {run['wall_s']:.1f} s "
              f"| {len(run['errors'])} |"
              for run in wechat.values()],
            "",
        ]
    lines += [
        "**Web chat page**: python-socketio's AsyncClient over the websocket transport, as the page",
        "connects, with tokens from `POST /webhooks/webchat/demo-login`. A merchant has one conversation",
        "(`webchat-<merchant number>`), so concurrent clients are distinct demo merchants: 822100000000001",
        "alone, then 822100000000002..09 at once. Turn latency: emit `user_uttered` to the first",
        "`bot_uttered` pushed back over the socket; the next message goes after `turn_complete`. Same",
        "message mix as the REST runs (which time the whole turn, to the HTTP response).",
        "",
    ]
    if "error" in webchat:
        lines += [f"Not measured: {webchat['error']}", ""]
    else:
        lines += [
            "| run | turn latency p50 / p95 | turns | throughput | errors |",
            "|---|---|---|---|---|",
            *[f"| {run['merchants']} concurrent merchant(s) | {_ms(run)} | {run['turns']} "
              f"| {run['turns_per_s']:.1f} turns/s | {len(run['errors'])} |" for run in webchat.values()],
            "",
        ]
    return lines

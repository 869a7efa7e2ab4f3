"""Delivering the outbox (bot.agents.outbox) from a channel of the Rasa server: an agent's reply, the
bot's words after a hand-back, a reviewer's decision, none of which a merchant's message started.

Every replica runs an `OutboxPoller` per pushing channel (web chat, WeChat), started with the
server. About once a second (OUTBOX_POLL_SECONDS) it reads the channel's undelivered messages,
of the conversations it can reach (web chat: those with a page connected to this process), and
claims each with `outbox.mark_delivered`, whose single conditional UPDATE lets exactly one replica
win a message; the winner sends it. The database work runs in a worker thread, never on the event
loop. Claimed, then sent: a message goes out at most once. A page that closes in the instant
between the two misses it; sending first and claiming after would let two replicas both send it.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import Awaitable, Callable, Collection, List, Optional

from sqlalchemy.orm import Session, sessionmaker

from bot.agents import outbox
from bot.agents.outbox import Outgoing
from bot.db.engine import in_session

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 1.0

Deliver = Callable[[Outgoing], Awaitable[None]]
# The conversations this process can deliver to now; None: any of the channel's.
Reachable = Callable[[], Optional[Collection[str]]]


def poll_interval_s() -> float:
    return float(os.environ.get("OUTBOX_POLL_SECONDS") or DEFAULT_INTERVAL_S)


def claim_undelivered(session: Session, channel: str, conversation_ids: Optional[Collection[str]]) -> List[Outgoing]:
    """The channel's undelivered messages (of these conversations) that this process won, oldest first."""
    return [message for message in outbox.undelivered(session, channel, conversation_ids)
            if outbox.mark_delivered(session, message.id)]


class OutboxPoller:
    """Polls one channel's outbox on the running event loop and hands each message it wins to `deliver`."""

    def __init__(self, channel: str, deliver: Deliver, reachable: Reachable = lambda: None,
                 sessions: Optional[sessionmaker] = None, interval_s: Optional[float] = None) -> None:
        self.channel = channel
        self.deliver = deliver
        self.reachable = reachable
        self.sessions = sessions  # None: the configured database
        self.interval_s = interval_s if interval_s is not None else poll_interval_s()
        self._task: Optional[asyncio.Task] = None
        self._failing = False  # log a broken database once, not every second

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"outbox-{self.channel}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def poll_once(self) -> int:
        """One round: claim what is waiting and deliver it; how many messages went out."""
        conversations = self.reachable()
        if conversations is not None and not conversations:
            return 0  # nobody connected here: no query at all
        claimed = await in_session(self.sessions, claim_undelivered, self.channel,
                                   list(conversations) if conversations is not None else None)
        for message in claimed:
            try:
                await self.deliver(message)
            except Exception as error:  # noqa: BLE001 - one message must not stop the others
                logger.error("%s outbox message %d not delivered: %s", self.channel, message.id,
                             type(error).__name__)
        return len(claimed)

    async def _run(self) -> None:
        while True:
            try:
                await self.poll_once()
                if self._failing:
                    logger.info("%s outbox: polling works again", self.channel)
                self._failing = False
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - the poller outlives a database outage
                if not self._failing:
                    logger.error("%s outbox not polled: %s; retrying every %s s", self.channel,
                                 type(error).__name__, self.interval_s)
                self._failing = True
            await asyncio.sleep(self.interval_s)

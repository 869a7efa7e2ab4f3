"""Merchants of their own for tests that identify many times against a running assistant.

The SMS limits (60 s between codes, 5 an hour, 10 a day per phone) hold in tests too, so every
conversation that identifies takes a merchant nobody else uses: a micro merchant like demo merchant
822100000000001 (operator 张伟, ID 310101198503171233, current card ABC ...0781), or a copy of the
sole trader or company of the demo, each under a number and phone of its own:

    number 8221000002NNNNN, phone 136NNNNNNNN  (NNNNN: the index; apart from the demo's 8221000000000NN
                                                  and the load-test merchants' 822100000000NNN)

The rows are written with the assistant's own data key (its var dir's secret.key), or the servers
could not read the card and ID numbers.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Tuple

from bot.ops.demo import DEMO_MERCHANTS, DemoMerchant

OPERATOR = "张伟"
OPERATOR_ID_NUMBER = "310101198503171233"
CURRENT_CARD = "6228485000000000781"
_TEMPLATES = {merchant.number: merchant for merchant in DEMO_MERCHANTS}
_lock = threading.Lock()


def merchant_number(index: int) -> str:
    return f"8221000002{index:05d}"


def phone(index: int) -> str:
    return f"136{index:08d}"


def like(template: str, index: int) -> DemoMerchant:
    """Demo merchant `template` (e.g. the sole trader 822100000000002) under number and phone `index`."""
    return dataclasses.replace(_TEMPLATES[template], number=merchant_number(index), phone=phone(index))


@contextmanager
def _assistant_environment(var_dir: Path) -> Iterator[None]:
    """This process works on the assistant's database with the assistant's data key."""
    saved = {name: os.environ.get(name) for name in ("BOT_VAR_DIR", "DATABASE_URL", "BOT_DATA_KEY")}
    os.environ["BOT_VAR_DIR"] = str(var_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("BOT_DATA_KEY", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def add(var_dir: Path, merchants: list) -> None:
    """Add the merchants that are missing to the database of the assistant whose state is var_dir."""
    from bot.db.engine import make_engine, session_factory, session_scope
    from bot.db.models import Merchant
    from bot.ops.demo import _add_merchant  # the demo's own row builder: terminal, current account

    with _lock, _assistant_environment(var_dir):
        engine = make_engine(f"sqlite:///{var_dir / 'bot.db'}")
        try:
            with session_scope(session_factory(engine)) as session:
                for merchant in merchants:
                    if session.query(Merchant).filter_by(merchant_number=merchant.number).first() is None:
                        _add_merchant(session, merchant)
        finally:
            engine.dispose()


class Provider:
    """Hands out merchants `start`, `start + 1` ... of one kind, adding each to the assistant first."""

    def __init__(self, var_dir: Path, start: int) -> None:
        self.var_dir = var_dir
        self._indices = itertools.count(start)

    def new(self, template: str = "822100000000001") -> Tuple[str, str]:
        """(merchant number, registered phone) of a merchant nobody used yet."""
        with _lock:
            index = next(self._indices)
        merchant = like(template, index)
        add(self.var_dir, [merchant])
        return merchant.number, merchant.phone

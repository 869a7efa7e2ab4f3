"""Reading the tracker store back: decrypted events in order, per conversation, and nothing
created when there is no tracker store yet."""
import json

import sqlalchemy as sa

from bot.db.engine import make_engine
from bot.training import tracker_events


def _write(url, rows):
    engine = make_engine(url)
    tracker_events._metadata.create_all(engine)
    with engine.begin() as connection:
        for sender, type_name, timestamp, data in rows:
            connection.execute(tracker_events.events_table.insert().values(
                sender_id=sender, type_name=type_name, timestamp=timestamp, data=json.dumps(data)))
    engine.dispose()


def test_events_come_back_decrypted_and_in_order(tmp_path):
    url = f"sqlite:///{tmp_path / 'rasa_tracker.db'}"
    _write(url, [("b", "user", 2.0, {"event": "user", "text": "你好"}),
                 ("a", "user", 1.0, {"event": "user", "text": "换卡"}),
                 ("a", "bot", 1.5, {"event": "bot", "text": "好的"})])
    raw = (tmp_path / "rasa_tracker.db").read_bytes()
    assert "换卡".encode() not in raw  # stored encrypted

    events = list(tracker_events.read_events(url))
    assert [(e.conversation_id, e.data.get("text")) for e in events] == [("a", "换卡"), ("a", "好的"), ("b", "你好")]
    assert [e.data["text"] for e in tracker_events.read_events(url, conversation_id="b")] == ["你好"]
    assert [e.type_name for e in tracker_events.read_events(url, since=1.2)] == ["bot", "user"]
    assert sorted(tracker_events.conversation_ids(url)) == ["a", "b"]


def test_no_tracker_store_yet_reads_nothing_and_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    assert list(tracker_events.read_events(url)) == []
    assert tracker_events.conversation_ids(url) == []
    assert not (tmp_path / "none.db").exists()

"""The WeChat Official Account (公众号) channel's machinery, free of Rasa:

- `config`: settings from the environment (WECHAT_TOKEN, WECHAT_AES_KEY, ...);
- `protocol`: signatures, the flat XML of pushes, safe-mode encryption, passive replies;
- `replies`: buttons as numbered lines, long replies split at 2048 bytes;
- `store`: what the database keeps (deduplicated pushes, the shared access token, bindings);
- `client`: the WeChat API (blocking, over requests), with retries and token renewal.

`bot/rasa/channels/wechat.py` is the thin Rasa adapter on top. Actions use `bind_openid` after a
follower identified with a code, and `openid_from_conversation_id` to know whether a conversation
is a WeChat one.
"""
from bot.wechat.store import bind_openid, bound_merchant_number, openid_from_conversation_id

__all__ = ["bind_openid", "bound_merchant_number", "openid_from_conversation_id"]

"""The REST channel tells the actions the client's address, as the socket (or a trusted proxy) gave
it, for the limits on who asks for codes (bot.codes.request_limits): a client cannot choose it in
its metadata, and a signing backend, which speaks for many merchants from one address, has none."""
from __future__ import annotations

from bot.channel_trust import CLIENT_ADDRESS_KEY, client_address

from channels.test_rest_auth import Dialogue, body, exchange, production, signed  # noqa: F401 - fixtures


def test_the_address_is_the_channels_not_the_clients() -> None:
    dialogue = Dialogue()
    exchange(dialogue, (body(metadata={CLIENT_ADDRESS_KEY: "198.51.100.77", "app": "pos"}), {}))
    [message] = dialogue.messages
    assert client_address(message.metadata) == "127.0.0.1"
    assert message.metadata["app"] == "pos"


def test_a_signing_backend_has_no_address(production) -> None:  # noqa: F811 - the fixture
    dialogue = Dialogue()
    exchange(dialogue, signed(body(metadata={CLIENT_ADDRESS_KEY: "198.51.100.77"})))
    [message] = dialogue.messages
    assert client_address(message.metadata) is None


def test_only_a_non_empty_string_is_an_address() -> None:
    assert client_address({CLIENT_ADDRESS_KEY: ""}) is None
    assert client_address({CLIENT_ADDRESS_KEY: ["1.2.3.4"]}) is None
    assert client_address(None) is None

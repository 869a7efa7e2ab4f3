"""The web chat's framework-free parts: the merchant portal's signed token (`portal_token`) and the
page itself (`page/`: HTML, script, styles). The Sanic/socket.io channel is bot/rasa/channels/webchat.py."""

"""Rasa input channels: where merchants' messages come in and replies go out."""

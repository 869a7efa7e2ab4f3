"""Thin Rasa SDK adapters: read slots, call `bot`, utter responses from the domain."""

"""The request store: tables (`models`), engine and sessions (`engine`), migrations (`migrate`) and
column encryption (`crypto`)."""

"""Tests of the agent console (console/).

This package is imported as `console` too (pytest puts tests/ on sys.path), so import the code
under test by its modules, `from console.app import create_app`, never `from console import
create_app`: the modules are found in the real package (the editable install's finder), names
defined in console/__init__.py are not. tests/actions lives with the same arrangement."""

"""Finding the values merchants type (card numbers, banks, names, IDs ...) in their messages."""
from bot.extraction.values import ExtractedValue, ValueExtractor, extract_values

__all__ = ["ExtractedValue", "ValueExtractor", "extract_values"]

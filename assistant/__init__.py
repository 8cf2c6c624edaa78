"""calf-assistant: an offline voice companion for calf cramps and pain while walking."""

__version__ = "0.1.0"

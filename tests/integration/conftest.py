"""The alert tests' real parts (tests/helpers/alert_parts.py): broker, subscriber, receiver."""

from alert_parts import broker, receiver, subscriber  # noqa: F401  (pytest fixtures)

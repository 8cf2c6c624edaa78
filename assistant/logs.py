"""The private log file: rotating, readable by the user only, and free of symptom text by default.

What a person says about their body is health information. It reaches the log only when the
caregiver turned `debug` on; everywhere else code logs `symptom_text(...)`, which hides it.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

from assistant.config import config_dir, data_home, state_home

LOG_NAME = "calf-assistant.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_debug = False


class _PrivateRotatingHandler(logging.handlers.RotatingFileHandler):
    """Every file it creates, rotated ones included, starts as 0600 whatever the umask is."""

    def _open(self):
        descriptor = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.chmod(self.baseFilename, 0o600)  # an older file may have been created before this rule
        return os.fdopen(descriptor, self.mode.replace("w", "a"), encoding=self.encoding, errors=self.errors)


def log_path() -> Path:
    return state_home() / LOG_NAME


def make_private(folder: Path) -> None:
    """Create `folder` as 0700, or tighten it when we own it and others can look inside."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    info = folder.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        folder.chmod(0o700)


def tighten_existing_folders() -> None:
    # Other modules create their folders with the default umask (e.g. the models folder inside
    # data_home); the folders that hold settings, diary and logs must not stay world-readable.
    for folder in (config_dir(), data_home(), state_home()):
        if folder.is_dir():
            try:
                make_private(folder)
            except OSError:
                pass


def setup_logging(debug: bool = False) -> Path | None:
    """Attach the file handler once per log path; returns the path, or None when it cannot be written."""
    global _debug
    _debug = debug
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    path = log_path()
    for handler in list(root.handlers):
        if isinstance(handler, _PrivateRotatingHandler):
            if handler.baseFilename == str(path):
                return path
            root.removeHandler(handler)
            handler.close()
    tighten_existing_folders()
    try:
        make_private(path.parent)
        handler = _PrivateRotatingHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    except OSError:
        return None  # a read-only home must not stop the assistant from helping
    handler.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(handler)
    return path


def symptom_text(text: str) -> str:
    """What to write in a log line in place of what the person said."""
    return repr(text) if _debug else f"<{len(text)} characters hidden; turn on debug to log them>"

"""Where the packaged data folders (intents/, voices/) are found.

In the wheel they sit inside the package; in a source checkout or an editable install they sit at
the repository root. Looking in both keeps one code path for developers and users.
"""

from __future__ import annotations

from pathlib import Path

from assistant.errors import KnowledgeError

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    for candidate in (_PACKAGE_DIR / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise KnowledgeError(
        f"the '{name}' data folder is missing from the installation; reinstall with ./scripts/setup"
    )

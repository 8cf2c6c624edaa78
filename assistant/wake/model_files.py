"""A wake-word model's files, checked before an engine loads them: its name as spoken, its
.tflite and (for microWakeWord) its JSON."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.errors import ModelError


def spoken_form(wake_word: str) -> str:
    """'hey_rhasspy' -> 'Hey Rhasspy'; 'okay_nabu' -> 'Okay Nabu'."""
    return " ".join(part.capitalize() for part in Path(wake_word).stem.replace("-", "_").split("_") if part)


def check_model_file(path: Path, library) -> None:
    """A missing, empty or corrupt .tflite is named in one line here: handed to TensorFlow Lite as
    it is, it would crash the whole process rather than raise."""
    if not path.is_file():
        raise ModelError(f"the wake-word model {path} is missing; choose a built-in wake word or fix activation.wake_model")
    model = library.TfLiteModelCreateFromFile(str(path.resolve()).encode("utf-8"))
    if not model:
        raise ModelError(f"the wake-word model {path} is not a TensorFlow Lite model (damaged or cut short); "
                         "copy it again or choose a built-in wake word")
    library.TfLiteModelDelete(model)


def read_model_json(path: Path) -> dict:
    """A microWakeWord model's JSON (wake word, .tflite name, cutoff), with a one-line reason if broken."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        return {"wake_word": str(config.get("wake_word") or spoken_form(path.stem)),
                "model": path.parent / config["model"],
                "cutoff": float(config["micro"]["probability_cutoff"]),
                "window": int(config["micro"]["sliding_window_size"])}
    except FileNotFoundError:
        raise ModelError(f"the wake-word model {path} is missing; fix activation.wake_model") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelError(f"the wake-word model's JSON {path} cannot be read ({type(error).__name__}: {error}); "
                         "it needs \"model\" and \"micro\": {\"probability_cutoff\", \"sliding_window_size\"}") from None

"""openWakeWord models through pyopen-wakeword: mel frames, a shared speech embedding, then the
wake word's own small classifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures
from pyopen_wakeword import openwakeword as _package
from pyopen_wakeword.wakeword import TfLiteWakeWord

from assistant.errors import ModelError
from assistant.wake.model_files import check_model_file, spoken_form

THRESHOLD = 0.5
"""openWakeWord's own suggested score for a detection."""


class OpenEngine:
    def __init__(self, model: OpenWakeWord, features: OpenWakeWordFeatures, spoken: str):
        self._model = model
        self._features = features
        self.spoken = spoken

    @classmethod
    def load(cls, wake_word: str, custom: Path | None) -> "OpenEngine":
        path = custom if custom is not None else Path(_package._MODELS_DIR) / f"{Model(wake_word).value}.tflite"
        if path.suffix != ".tflite":
            raise ModelError(f"activation.wake_model for the open engine is the model's .tflite, not {path.name}")
        try:
            library = _package._find_tensorflowlite_c()
        except Exception:  # the package raises a bare ValueError when its library is missing
            raise ModelError("pyopen-wakeword has no TensorFlow Lite library for this machine; reinstall it "
                             "with ./scripts/setup") from None
        try:
            check_model_file(path, TfLiteWakeWord(library).lib)
            return cls(OpenWakeWord.from_model(path, library), OpenWakeWordFeatures.from_builtin(libtensorflowlite_c_path=library),
                       spoken_form(wake_word if custom is None else path.stem))
        except OSError as error:
            raise ModelError(f"the open wake-word engine cannot start ({error})") from None

    def hears(self, block: np.ndarray) -> bool:
        heard = False
        for embeddings in self._features.process_streaming(np.asarray(block, dtype=np.int16).tobytes()):
            for score in self._model.process_streaming(embeddings):
                heard = heard or score >= THRESHOLD
        return heard

    def reset(self) -> None:
        self._features.reset()
        self._model.reset()

"""microWakeWord models through pymicro-wakeword: 10 ms feature frames into a streaming model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model
from pymicro_wakeword import microwakeword as _package
from pymicro_wakeword.wakeword import TfLiteWakeWord

from assistant.errors import ModelError
from assistant.wake.model_files import check_model_file, read_model_json


class MicroEngine:
    def __init__(self, model: MicroWakeWord, spoken: str):
        self._model = model
        self._features = MicroWakeWordFeatures()
        self.spoken = spoken

    @classmethod
    def load(cls, wake_word: str, custom: Path | None) -> "MicroEngine":
        config_path = custom if custom is not None else Path(_package._MODELS_DIR) / f"{Model(wake_word).value}.json"
        if config_path.suffix != ".json":
            raise ModelError(f"activation.wake_model for the micro engine is the model's .json (next to its "
                             f".tflite), not {config_path.name}")
        config = read_model_json(config_path)
        library = next(iter(Path(_package._MODULE_LIB_DIR).glob("*tensorflowlite_c.*")), None)
        if library is None:
            raise ModelError("pymicro-wakeword has no TensorFlow Lite library for this machine; reinstall it with ./scripts/setup")
        try:
            check_model_file(Path(config["model"]), TfLiteWakeWord(library).lib)
            model = MicroWakeWord(Path(config["model"]).stem, wake_word=config["wake_word"], tflite_model=config["model"],
                                  probability_cutoff=config["cutoff"], sliding_window_size=config["window"],
                                  trained_languages=[], libtensorflowlite_c_path=library)
        except OSError as error:
            raise ModelError(f"the micro wake-word engine cannot start ({error})") from None
        except ValueError as error:
            raise ModelError(f"{config['model']} is not a microWakeWord model ({error})") from None
        return cls(model, config["wake_word"])

    def hears(self, block: np.ndarray) -> bool:
        heard = False
        for features in self._features.process_streaming(np.asarray(block, dtype=np.int16).tobytes()):
            heard = bool(self._model.process_streaming(features)) or heard
        return heard

    def reset(self) -> None:
        self._features.reset()
        self._model.reset()

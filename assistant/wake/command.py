"""`calf-assistant wake --wav FILE`: when the wake word was heard in a recording, to check a wake
word and its engine on real recordings from the home (or from a walk) before relying on it."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from assistant.audio import load_wav
from assistant.wake import RATE, detection_times, load_engine


def wake_command(args, settings) -> int:
    activation = settings.activation
    if args.engine:
        activation = replace(activation, wake_engine=args.engine)
    if args.wake_word:
        activation = replace(activation, wake_word=args.wake_word, wake_model="")
    if args.model:
        activation = replace(activation, wake_model=str(args.model))
    if activation.wake_engine == "phrase":
        activation = replace(activation, wake_engine="micro")  # the phrase is the recogniser's, not a model's
    engine = load_engine(activation)
    samples = load_wav(args.wav)
    started = time.process_time()
    times = detection_times(engine, samples)
    seconds = len(samples) / RATE
    cpu = time.process_time() - started
    if args.json:
        print(json.dumps({"wav": str(args.wav), "engine": activation.wake_engine, "wake_word": engine.spoken,
                          "model": activation.wake_model or activation.wake_word, "seconds": round(seconds, 2),
                          "detections": times, "real_time_factor": round(cpu / seconds, 4) if seconds else 0.0}))
        return 0
    if not times:
        print(f"'{engine.spoken}' was not heard in {seconds:.1f} s of {args.wav}")
    for at in times:
        print(f"'{engine.spoken}' heard at {at:.2f} s")
    return 0

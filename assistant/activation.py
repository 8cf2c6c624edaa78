"""When the live loop starts listening: push-to-talk (Enter, or a GPIO button) or a wake phrase.

Each activation has one method, `wait() -> bool`: block until the person wants to speak; False
ends the loop. Hardware is optional: without gpiozero (or off a Raspberry Pi) the button falls
back to the Enter key with one line for the caregiver, never a crash.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO

from rapidfuzz import fuzz

from assistant.errors import DeviceError
from assistant.knowledge import canonical_phrase, load_knowledge

log = logging.getLogger(__name__)

POLL = 0.25
"""Seconds between checks while waiting, so Ctrl-C is noticed at once."""
WAKE_MATCH = 80
"""How close a heard phrase must be to the wake phrase (recognisers drop or bend a sound)."""


def _note(message: str) -> None:
    print(f"calf-assistant: {message}", file=sys.stderr, flush=True)


class PushToTalk:
    """Enter in the terminal and, when gpiozero can reach it, a push button on a GPIO pin.

    Presses from either end up in one queue. The end of the terminal's input ends the loop only
    when there is no button: a boxed device started at boot has no terminal, just the button.
    """

    def __init__(self, stdin: TextIO | None, pin: int | None = None, *, button_factory: Callable | None = None):
        self._presses: queue.Queue[bool] = queue.Queue()
        self._button = self._connect(pin, button_factory) if pin is not None else None
        self._stdin = stdin
        if stdin is not None:
            threading.Thread(target=self._read_keys, name="enter-key", daemon=True).start()

    def _connect(self, pin: int, factory: Callable | None):
        try:
            if factory is None:
                from gpiozero import Button as factory  # noqa: N813 (the library's own name)
            button = factory(pin)
            button.when_pressed = lambda *_: self._presses.put(True)
            return button
        except Exception as error:  # ImportError, no GPIO chip, pin busy: all mean "no button"
            _note(f"the push button on GPIO {pin} is not available ({type(error).__name__}: {error}); "
                  "press Enter instead")
            return None

    @property
    def has_button(self) -> bool:
        return self._button is not None

    def _read_keys(self) -> None:
        for _ in iter(self._stdin.readline, ""):
            self._presses.put(True)
        if self._button is None:
            self._presses.put(False)

    def wait(self) -> bool:
        while True:
            try:
                return self._presses.get(timeout=POLL)
            except queue.Empty:
                continue

    def close(self) -> None:
        if self._button is not None:
            try:
                self._button.close()
            except Exception:  # releasing a pin at exit must not hide the real reason for exiting
                log.debug("closing the GPIO button failed", exc_info=True)


def wake_phrases(configured: str) -> list[str]:
    """The configured phrase, or each language's default; canonical forms for matching."""
    if configured.strip():
        return [canonical_phrase(configured)]
    knowledge = load_knowledge()
    return sorted({canonical_phrase(pack.reply("wake_phrase_default")) for pack in knowledge.packs.values()})


def heard_wake_phrase(text: str, phrases: list[str]) -> bool:
    heard = canonical_phrase(text)
    if not heard:
        return False
    return any(phrase in heard or fuzz.partial_ratio(phrase, heard) >= WAKE_MATCH for phrase in phrases)


@dataclass
class WakePhrase:
    """Listens all the time with a grammar of only the wake phrase(s); anything else is ignored.

    listen(phrases) captures one utterance and returns what the recogniser made of it under that
    grammar ("" for silence or other words). A device error pauses, lets the loop recover the
    microphone, and listening goes on.
    """

    phrases: list[str]
    listen: Callable[[list[str]], str]
    recover: Callable[[], None] = lambda: None
    sleep: Callable[[float], None] = time.sleep
    heard: list[str] = field(default_factory=list)

    def wait(self) -> bool:
        while True:
            try:
                text = self.listen(self.phrases)
            except DeviceError as error:
                _note(str(error))
                self.sleep(1.0)
                self.recover()
                continue
            if text:
                self.heard.append(text)
            if heard_wake_phrase(text, self.phrases):
                return True


@dataclass
class WakeWord:
    """Listens all the time with a small wake-word model; only the wake word starts a turn.

    `blocks()` is the microphone's audio (muted while the assistant speaks, so its own voice never
    reaches the model); `chime()` tells the person at once that it is listening. A device error
    pauses, lets the loop recover the microphone, and listening goes on.
    """

    engine: object
    blocks: Callable[[], object]
    flush: Callable[[], None]
    chime: Callable[[], None] = lambda: None
    recover: Callable[[], None] = lambda: None
    sleep: Callable[[float], None] = time.sleep

    def wait(self) -> bool:
        while True:
            self.flush()  # what was said before (or during) the last reply is not a wake word
            self.engine.reset()
            try:
                for block in self.blocks():
                    if self.engine.hears(block):
                        self.chime()
                        return True
            except DeviceError as error:
                _note(str(error))
                self.sleep(1.0)
                self.recover()

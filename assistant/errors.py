"""The few kinds of failure the assistant reports to a person.

Every error carries a one-line message a caregiver can act on; the command line prints that line
and exits with the error's code instead of showing a traceback.
"""


class AssistantError(Exception):
    """Base class: something went wrong that we can explain in one line."""

    exit_code = 1


class InputError(AssistantError):
    """The person or caller gave us something we cannot use (text, audio file, arguments)."""

    exit_code = 2


class ConfigError(InputError):
    """The settings file or an override is invalid."""


class AudioFileError(InputError):
    """A recording is missing, broken or not audio."""


class KnowledgeError(AssistantError):
    """A file in intents/ or voices/ is broken; names the file, the entry and the problem."""


class ModelError(AssistantError):
    """A speech recognition model is missing, corrupt or cannot be loaded."""


class DeviceError(AssistantError):
    """A microphone or speaker is missing, unplugged or busy."""


class SynthesisError(AssistantError):
    """Text could not be turned into speech."""

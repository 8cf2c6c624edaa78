"""The helpers that read a real process's output say why it ended, whatever its stderr was."""

from __future__ import annotations

import subprocess
import sys

import pytest

from processes import LineReader


@pytest.mark.parametrize("stderr", [None, subprocess.PIPE])
def test_a_process_that_ends_early_is_reported_with_or_without_a_stderr_pipe(stderr):
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stderr.write('gone'); sys.exit(3)"],
                               stdout=subprocess.PIPE, stderr=stderr)
    try:
        with pytest.raises(AssertionError, match="ended early") as ended:
            LineReader(process, timeout=30).line()
        assert ("gone" in str(ended.value)) == (stderr is not None)
    finally:
        process.wait(timeout=30)

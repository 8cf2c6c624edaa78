import contextlib
import logging
import os
import sys

from assistant.cli import main

code = main()
if "sounddevice" in sys.modules:
    # PortAudio torn down by the interpreter's own exit (sounddevice's atexit hook, with the
    # sound server's client threads still running) now and then crashes the process after a
    # clean Ctrl-C or SIGTERM (SIGSEGV, SIGABRT): a service manager would read a clean end as a
    # failure. Everything that matters (the diary, the log) is closed by now, so end here.
    with contextlib.suppress(OSError, ValueError):  # a reader gone (BrokenPipe) or a closed stream
        sys.stdout.flush()
        sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
raise SystemExit(code)

"""Protocol events on the real stdout; everything else anyone prints goes to stderr."""

import json
import os
import sys
import threading


class Channel:
    """The worker's stdout, kept for protocol events.

    Model libraries (diffusers, transformers, tqdm) may write to stdout, and a line that is not
    an event fails the job, so file descriptor 1 is pointed at stderr and events go to a copy
    of the original. Made before anything else is imported, it catches their output too."""

    def __init__(self):
        self.events = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        self.lock = threading.Lock()

    def emit(self, event, **fields):
        """Writes one event line; safe from any thread."""
        line = json.dumps({"event": event, **fields}, separators=(",", ":"))
        with self.lock:
            self.events.write(line + "\n")
            self.events.flush()

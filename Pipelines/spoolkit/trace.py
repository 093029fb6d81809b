"""What reached a model, as JSON lines in a file a test or an operator names ($SPOOL_<FAMILY>_TRACE)."""

import json


class Trace:
    """JSON lines describing what reached the pipeline, or nothing when no file is named:
    for tests, and for anyone asking "did my image reach the model?"."""

    def __init__(self, path):
        self.handle = open(path, "a", buffering=1) if path else None

    def __bool__(self):
        return self.handle is not None

    def write(self, record, **fields):
        if self.handle:
            self.handle.write(json.dumps({"record": record, **fields}, separators=(",", ":")) + "\n")

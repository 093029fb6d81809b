"""The worker's life: load, `ready`, then one job (protocol 1) or job after job (protocol 2)."""

import json
import os
import queue
import sys
import threading
import time

from .channel import Channel
from .job import Job, JobCancelled, JobFailed

EX_DATAERR = 65  # a request that is not JSON, or of another protocol
EX_CONFIG = 78   # the host lacks what the model needs (a GPU, a library, the weights)


# The worker's name, as main() was given it: how die() introduces a message.
_name = None


def die(message, code=EX_CONFIG, name=None):
    """Ends the worker with `message` on stderr (Spool quotes it in the job's error)."""
    prefix = f"{name or _name or os.path.basename(sys.argv[0])} worker: "
    sys.stderr.write(prefix + message + "\n")
    sys.stderr.flush()
    sys.exit(code)


class Model:
    """What a model family implements. __init__(arguments) loads it; run(job) makes one job."""

    description = "a spoolkit model"

    def run(self, job):
        raise NotImplementedError

    def recover(self, error):
        """After a job failed with an unexpected error (out of GPU memory, say): tidy up
        before the next job. By default, CUDA's cached memory is given back if the model uses
        PyTorch on a GPU (what every diffusers worker needs); nothing otherwise."""
        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_initialized():
            torch.cuda.empty_cache()


class Requests:
    """Reads a resident worker's stdin on a thread of its own, so a cancel arrives while a job
    runs: job requests queue up, a cancel marks the job it names."""

    def __init__(self, name):
        self.name = name
        self.jobs = queue.Queue()
        self.current = None
        self.cancelled = set()
        self.lock = threading.Lock()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
            except json.JSONDecodeError as error:
                self.jobs.put(("bad", f"cannot read a request line on stdin: {error}"))
                return
            if not isinstance(message, dict):
                self.jobs.put(("bad", f"a request line is not a JSON object: {line.strip()[:200]}"))
                return
            if message.get("type") == "cancel":
                with self.lock:
                    job_id = message.get("job_id")
                    if self.current is not None and self.current.id == job_id:
                        self.current.cancelled.set()
                    else:
                        # Its request is read but its job not started yet: it starts cancelled.
                        self.cancelled.add(job_id)
            else:
                self.jobs.put(("job", message))
        self.jobs.put(("end", None))

    def running(self, job):
        with self.lock:
            self.current = job
            if job is not None and job.id in self.cancelled:
                self.cancelled.discard(job.id)
                job.cancelled.set()


def run_job(model, request, channel, protocol, requests=None):
    """Runs one job. Returns None when it is done (`done` printed), else why it ended:
    ("cancelled", None) or ("failed", message)."""
    try:
        job = Job(request, channel, protocol)
    except JobFailed as error:
        return "failed", str(error)
    if requests:
        requests.running(job)
    try:
        model.run(job)
        if not job.finished:
            return "failed", "the model returned without finishing the job (it never called done)"
        return None
    except JobCancelled:
        return "cancelled", None
    except JobFailed as error:
        return "failed", str(error)
    except Exception as error:  # the library's own errors: out of memory, a bad shape, ...
        if os.environ.get("SPOOL_WORKER_TRACEBACK"): import traceback; traceback.print_exc()
        model.recover(error)
        return "failed", f"{type(error).__name__}: {error}"
    finally:
        if requests:
            requests.running(None)


def main(load, name, protocol=None):
    """Loads the model (`load()`, which may call die()), says `ready`, and serves.

    Exit codes: 0 stdin closed (or protocol 1 done); 1 a protocol 1 job that failed or was
    cancelled; 65 a request that is not JSON or of another protocol; 78 whatever `load` dies of."""
    global _name
    _name = name
    channel = Channel()
    protocol = int(protocol or os.environ.get("SPOOL_PROTOCOL", "1"))
    if protocol not in (1, 2):
        die(f"protocol {protocol} is not supported; this worker speaks 1 and 2", EX_DATAERR, name)
    started = time.monotonic()
    model = load()
    load_seconds = round(time.monotonic() - started, 3)
    channel.emit("ready", protocol=protocol, worker=model.description, load_seconds=load_seconds, pid=os.getpid())

    if protocol == 1:
        try:
            request = json.load(sys.stdin)
        except json.JSONDecodeError as error:
            die(f"cannot read the job request on stdin: {error}", EX_DATAERR, name)
        ending = run_job(model, request, channel, protocol)
        if ending is not None:
            die(ending[1] or "cancelled", 1, name)
        return
    requests = Requests(name)
    while True:
        kind, request = requests.jobs.get()
        if kind == "end":
            return
        if kind == "bad":
            die(request, EX_DATAERR, name)
        if request.get("protocol") != 2 or request.get("type") != "job":
            die(f"expected a protocol 2 job request, got {json.dumps(request)[:200]}", EX_DATAERR, name)
        ending = run_job(model, request, channel, protocol, requests)
        if ending is not None:
            event, message = ending
            fields = {"message": message} if message else {}
            channel.emit(event, job_id=request.get("job_id", "?"), **fields)

"""spoolkit: Spool's worker protocols (Pipelines/README.md), written once for every Python worker.

A model family's worker is its model code and one call:

    import spoolkit

    class MyModel(spoolkit.Model):
        def __init__(self, arguments):          # load the weights once
            ...
        description = "my-model 1.0 on cuda"     # what `ready` says

        def run(self, job):                      # one job; job is a spoolkit.Job
            for index in range(chunks):
                for step in range(steps):
                    job.progress(index, step + 1, steps)   # raises JobCancelled once Spool cancels
                    ...
                job.write_chunk(frames)          # uint8 [T, H, W, 3], numpy or bytes
            job.done()

    spoolkit.main(MyModel, name="my-model")

The kit speaks protocol 1 (one job per process) and 2 (resident: `ready` once, then a job per
request line until stdin closes) from $SPOOL_PROTOCOL; keeps stdout for protocol events only
(anything a library prints goes to stderr); reads cancels on a thread of its own while a job
runs; writes chunks under a temporary name and renames them into place; and turns a job's end
into `done`, `failed` (JobFailed, or any exception: the worker stays up) or `cancelled`.

It needs only Python's standard library (numpy when a model hands it arrays or reads frames).
"""

from . import chain, options
from .job import Job, JobCancelled, JobFailed
from .serve import EX_CONFIG, EX_DATAERR, Model, die, main
from .loading import choose_device, model_arguments, require_libraries, resolve_checkpoint
from .trace import Trace

__all__ = ["chain", "options", "Job", "JobCancelled", "JobFailed", "Model", "main", "die", "EX_CONFIG", "EX_DATAERR", "Trace",
           "choose_device", "resolve_checkpoint", "require_libraries", "model_arguments"]

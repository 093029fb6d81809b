#!/usr/bin/env python3
"""A model-free worker on Pipelines/spoolkit, for the kit's own tests (WorkerKitTests.swift).

    kit_worker.py [--die-loading]

Each job's `options` pick what its "model" does:
    mode=ok          chunk_frames-frame chunks of a solid grey per frame index, `steps` steps each
    mode=print       the same, printing to stdout (Python and a child process) on the way
    mode=refuse      raises JobFailed
    mode=raise       raises a library error (ValueError)
    mode=no-done     writes its chunks and returns without done
    mode=wrong-size  hands the kit a chunk a byte short of whole frames
    mode=hold        steps until cancelled (at most 120 s)
    mode=checkpoint  as ok, with a checkpoint after every chunk (its state: the next frame), and
                     going on from one when resumed
    mode=sound       as ok, each chunk with a mono 440 Hz sine at the request's rate, 37 samples
                     longer than its frames need (the kit cuts it to fit)
    mode=sound-rate  as sound, at the wrong sample rate
    mode=sound-none  as ok on a pipeline that makes sound: no sound given
    mode=checkpoint-early / checkpoint-missing / checkpoint-link
                     a checkpoint after a chunk not yet announced / naming a file that is not
                     there / naming a symbolic link
"""

import json

import os
import sys
import time

sys.path.insert(0, os.environ["SPOOL_KIT_PATH"])
import spoolkit  # noqa: E402


class KitModel(spoolkit.Model):
    description = "kit-test-worker"

    def __init__(self):
        self.jobs = 0

    def run(self, job):
        self.jobs += 1
        mode = job.options.get("mode", "ok")
        steps = int(job.options.get("steps", "2"))
        if mode == "refuse":
            raise spoolkit.JobFailed("refused by the model")
        if mode == "raise":
            raise ValueError("boom")
        if mode == "hold":
            deadline = time.monotonic() + 120
            step = 0
            while time.monotonic() < deadline:
                step += 1
                job.progress(0, min(step, 1000), 1000)
                time.sleep(0.01)
            raise spoolkit.JobFailed("held for 120 s and never cancelled")
        if mode.startswith("checkpoint-"):
            return self.bad_checkpoint(job, mode)
        if job.resume:
            state = json.loads(job.read_state())
            if state.get("next_frame") != job.resume["first_frame"]:
                raise spoolkit.JobFailed(f"the state goes on at frame {state.get('next_frame')}, the request at "
                                         f"{job.resume['first_frame']}")
        size = job.chunk_frames or 8
        frames_left = job.frames - job.frames_written
        index = job.chunks_written
        while frames_left > 0:
            count = min(size, frames_left)
            for step in range(steps):
                job.progress(index, step + 1, steps)
                if mode == "print":
                    print(f"noise from the model, chunk {index}")
                    os.system("echo noise from a child process")
            frame_bytes = job.width * job.height * 3
            data = b"".join(bytes([(job.frames_written + i) % 256]) * frame_bytes for i in range(count))
            if mode == "wrong-size":
                data = data[:-1]
            if mode in ("sound", "sound-rate"):
                import numpy

                rate = job.audio["sample_rate"] if job.audio else 48000
                start = job.audio_start(job.frames_written) if job.audio else 0
                samples = (job.audio_start(job.frames_written + count) - start if job.audio else 100) + 37
                times = (start + numpy.arange(samples)) / rate
                sine = 0.5 * numpy.sin(2 * numpy.pi * 440 * times)
                job.write_chunk(data, audio=sine, sample_rate=rate + (1000 if mode == "sound-rate" else 0))
            else:
                job.write_chunk(data)
            if mode == "checkpoint":
                job.checkpoint(index, json.dumps({"next_frame": job.frames_written}).encode())
            frames_left -= count
            index += 1
        if mode != "no-done":
            job.done()


    @staticmethod
    def bad_checkpoint(job, mode):
        frame_bytes = job.width * job.height * 3
        job.write_chunk(bytes(job.chunk_frames * frame_bytes))
        if mode == "checkpoint-early":
            job.checkpoint(1, b"{}")
        elif mode == "checkpoint-missing":
            job.emit("checkpoint", after_chunk=0, state_file="state-missing.bin")
        elif mode == "checkpoint-link":
            os.symlink(os.path.join(job.work_dir, "chunk-00000.rgb"), os.path.join(job.work_dir, "state-link.bin"))
            job.emit("checkpoint", after_chunk=0, state_file="state-link.bin")
        job.done()


def load():
    if "--die-loading" in sys.argv:
        spoolkit.die("this host has no GPU for the kit test worker")
    return KitModel()


if __name__ == "__main__":
    spoolkit.main(load, name="kit-test")

"""One job, as a model's code sees it: its request, and the events and files it owes Spool."""

import os
import threading


class JobFailed(Exception):
    """A job this worker cannot make (a bad input or option); the worker goes on to the next."""


class JobCancelled(Exception):
    """Spool cancelled the job; raised by Job.progress and Job.check_cancelled."""


class Job:
    """A job's request (the fields of Pipelines/README.md, as attributes) and its outputs.

    A model calls progress() at each denoising step, write_chunk() for each chunk in order,
    and done() at the end. Chunk files go in the job's work folder, written under a temporary
    name and renamed, so Spool never reads half a chunk."""

    def __init__(self, request, channel, protocol):
        self.request = request
        self.channel = channel
        self.protocol = protocol
        self.cancelled = threading.Event()
        try:
            self.id = request["job_id"]
            self.width, self.height = int(request["width"]), int(request["height"])
            self.frames = int(request["frames"])
            self.work_dir = request["work_dir"]
            self.seed = int(request.get("seed") or 0)
        except (KeyError, TypeError, ValueError) as error:
            raise JobFailed(f"the request lacks a usable {error}")
        self.attempt = int(request.get("attempt") or 1)
        self.fps = int(request.get("fps") or 24)
        self.prompt = request.get("prompt") or ""
        self.negative_prompt = request.get("negative_prompt")
        self.chunk_frames = int(request.get("chunk_frames") or 0)
        self.overlap = int(request.get("overlap") or 0)
        self.options = dict(request.get("options") or {})
        self.image_file = request.get("image_file")
        self.video_file = request.get("video_file")
        self.video_frames = int(request.get("video_frames") or 0)
        self.prompts = request.get("prompts")
        self.transition_chunks = int(request.get("transition_chunks") or 0)
        self.resume = self._resume(request.get("resume"))
        # The sound every chunk must carry ({sample_rate, channels}), when the pipeline makes sound.
        audio = request.get("audio")
        self.audio = {"sample_rate": int(audio["sample_rate"]), "channels": int(audio["channels"])} if audio else None
        # A resumed job goes on after its checkpoint's chunk, at its first frame.
        self.chunks_written = self.resume["after_chunk"] + 1 if self.resume else 0
        self.frames_written = self.resume["first_frame"] if self.resume else 0
        self.finished = False

    @staticmethod
    def _resume(resume):
        """The request's `resume` ({after_chunk, first_frame, state_file}), checked, or None."""
        if resume is None:
            return None
        try:
            checked = {"after_chunk": int(resume["after_chunk"]), "first_frame": int(resume["first_frame"]),
                       "state_file": str(resume["state_file"])}
        except (KeyError, TypeError, ValueError) as error:
            raise JobFailed(f"the request's resume lacks a usable {error}")
        if checked["after_chunk"] < 0 or checked["first_frame"] < 0:
            raise JobFailed(f"the request's resume is after chunk {checked['after_chunk']} at frame "
                            f"{checked['first_frame']}; neither may be negative")
        return checked

    def read_state(self):
        """The bytes of the state file a resumed job goes on from. A state that cannot be read
        fails the job with the reason (Spool then starts the job afresh); never go on from
        anything else."""
        if not self.resume:
            raise JobFailed("the job is not resumed; it has no state to read")
        try:
            with open(self.resume["state_file"], "rb") as handle:
                return handle.read()
        except OSError as error:
            raise JobFailed(f"cannot resume after chunk {self.resume['after_chunk']}: the state file "
                            f"{self.resume['state_file']} cannot be read: {error.strerror}")

    # -- events -----------------------------------------------------------------------------

    def emit(self, event, **fields):
        self.channel.emit(event, job_id=self.id, **fields)

    def check_cancelled(self):
        if self.cancelled.is_set():
            raise JobCancelled()

    def progress(self, chunk, step, steps):
        """A denoising step of `chunk` is done; stops the job here if Spool cancelled it."""
        self.check_cancelled()
        self.emit("progress", chunk=int(chunk), step=int(step), steps=int(steps))

    def done(self, frames=None, chunks=None):
        """Every chunk is written: the job's last event."""
        self.finished = True
        self.emit("done", frames=int(self.frames_written if frames is None else frames),
                  chunks=int(self.chunks_written if chunks is None else chunks))

    # -- files ------------------------------------------------------------------------------

    def audio_start(self, frame):
        """The first sample (per channel) of `frame` on the job's sound timeline: frame n plays
        samples audio_start(n) up to audio_start(n + 1), as Spool counts them."""
        return frame * self.audio["sample_rate"] // self.fps

    def write_chunk(self, frames, first_frame=None, index=None, audio=None, sample_rate=None):
        """Writes one chunk of raw RGB24 frames and announces it.

        `frames` is uint8 [T, H, W, 3] (a numpy array, or bytes of T whole frames); the chunk
        starts at `first_frame` on the model's frame timeline (by default right after the
        previous chunk). Returns the chunk's index.

        A pipeline that makes sound (the request's `audio`) gives the chunk's sound too: `audio`
        as floats in -1..1, [samples, channels] (or [samples] for mono), at `sample_rate`, which
        must be the pipeline file's. It is fitted to the chunk's frames exactly (a model's
        sound can run a few samples long or short: the end is cut, or padded with silence) and
        written beside the frames as 16-bit PCM."""
        self.check_cancelled()
        frame_bytes = self.width * self.height * 3
        if hasattr(frames, "shape"):
            if tuple(frames.shape[1:]) != (self.height, self.width, 3):
                raise JobFailed(f"the model made {frames.shape[2]}x{frames.shape[1]} frames for a "
                                f"{self.width}x{self.height} job")
            count = int(frames.shape[0])
            data = frames.tobytes()
        else:
            data = bytes(frames)
            count = len(data) // frame_bytes
            if count * frame_bytes != len(data) or count == 0:
                raise JobFailed(f"a chunk of {len(data)} bytes is not whole {self.width}x{self.height} RGB24 frames")
        index = self.chunks_written if index is None else int(index)
        first = self.frames_written if first_frame is None else int(first_frame)
        sound = self._sound(audio, sample_rate, index, first, count)
        name = f"chunk-{index:05d}.rgb"
        self._write_file(name, data)
        fields = {}
        if sound is not None:
            audio_name = f"chunk-{index:05d}.pcm"
            self._write_file(audio_name, sound.tobytes())
            fields["audio"] = {"file": audio_name, "sample_rate": self.audio["sample_rate"],
                               "channels": self.audio["channels"], "format": "s16le", "samples": int(sound.shape[0])}
        self.emit("chunk", index=index, first_frame=first, frames=count, width=self.width,
                  height=self.height, pixel_format="rgb24", file=name, **fields)
        self.chunks_written = max(self.chunks_written, index + 1)
        self.frames_written = max(self.frames_written, first + count)
        return index

    def _sound(self, audio, sample_rate, index, first, count):
        """The chunk's sound as int16 [samples, channels], exactly its frames' samples; None
        for a pipeline without sound. A mismatch with the pipeline file fails the job."""
        if self.audio is None:
            if audio is not None:
                raise JobFailed("the model made sound, but its pipeline file declares no \"audio\"")
            return None
        if audio is None:
            raise JobFailed(f"chunk {index} has no sound; the pipeline file declares \"audio\", so every chunk needs it")
        import numpy

        if sample_rate is not None and int(sample_rate) != self.audio["sample_rate"]:
            raise JobFailed(f"the model's sound is {int(sample_rate)} Hz; the pipeline file declares "
                            f"{self.audio['sample_rate']} Hz")
        samples = numpy.asarray(audio, dtype=numpy.float32)
        if samples.ndim == 1:
            samples = samples[:, None]
        channels = self.audio["channels"]
        if samples.shape[1] != channels:
            if samples.shape[1] == 1:
                samples = numpy.repeat(samples, channels, axis=1)
            elif channels == 1:
                samples = samples.mean(axis=1, keepdims=True)
            else:
                raise JobFailed(f"the model's sound has {samples.shape[1]} channels; the pipeline file declares {channels}")
        needed = self.audio_start(first + count) - self.audio_start(first)
        if samples.shape[0] >= needed:
            samples = samples[:needed]
        else:
            samples = numpy.concatenate([samples, numpy.zeros((needed - samples.shape[0], channels), numpy.float32)])
        return (numpy.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2")

    def checkpoint(self, after_chunk, state):
        """After chunk `after_chunk` (already written), `state` (bytes) is what this worker
        needs to go on from the chunk after it: written atomically beside the chunks, then
        announced (Spool makes its own copy durable before it relies on it). Only for pipelines
        with "checkpoints": true."""
        self.check_cancelled()
        after_chunk = int(after_chunk)
        name = f"state-{after_chunk:05d}.bin"
        self._write_file(name, bytes(state))
        self.emit("checkpoint", after_chunk=after_chunk, state_file=name)
        return name

    def _write_file(self, name, data):
        temporary = os.path.join(self.work_dir, f".{name}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.rename(temporary, os.path.join(self.work_dir, name))

    def read_frames(self, path, count, field):
        """`count` raw RGB24 frames of the job's size from a file Spool prepared, as a numpy
        array [count, H, W, 3]; a file of the wrong size fails the job, naming `field`."""
        import numpy

        expected = count * self.width * self.height * 3
        try:
            size = os.path.getsize(path)
        except OSError as error:
            raise JobFailed(f"{field} {path} cannot be read: {error.strerror}")
        if size != expected:
            raise JobFailed(f"{field} {path} holds {size} bytes; {count} frame(s) of {self.width}x{self.height} "
                            f"RGB24 are {expected}")
        return numpy.fromfile(path, dtype=numpy.uint8).reshape(count, self.height, self.width, 3)

"""Models that denoise a whole clip at once (Wan, LTX-Video) make a long video as a chain of
clips, each conditioned on the last frames of the one before. The rules of the chain, once:
the clips' lengths, where each starts, and the checkpoint between two clips (those frames)."""

import json
import math

from .job import JobFailed

STATE_VERSION = 1


def plan(frames, clip_frames, overlap, grid, continuing=False):
    """The length of each clip making at least `frames` frames: clips of `clip_frames`, each after
    the first starting with the last `overlap` frames of the one before, the last the shortest
    that reaches `frames`; every length is grid·k+1 (a VAE's temporal stride). `continuing`: the
    job continues a clip, so the first clip starts with the clip's last `overlap` frames too
    (which are not the job's)."""
    if clip_frames < 1 or (clip_frames - 1) % grid:
        raise JobFailed(f"chunk_frames is {clip_frames}; a clip of this model is {grid}k+1 frames "
                        "(the pipeline file's chunking.frames)")
    if overlap and (overlap >= clip_frames or (overlap - 1) % grid):
        raise JobFailed(f"overlap is {overlap}; this model continues a clip from {grid}k+1 frames, fewer than a clip's "
                        f"{clip_frames} (the pipeline file's chunking.overlap)")
    if continuing and not overlap:
        raise JobFailed("this pipeline continues no clip: its chunking.overlap is 0")
    lengths, made = [], 0
    while made < frames:
        carried = overlap if lengths or continuing else 0
        needed = frames - made + carried
        lengths.append(min(clip_frames, max(carried + 1, math.ceil((needed - 1) / grid) * grid + 1)))
        made += lengths[-1] - carried
    if continuing and len(lengths) > 1 and lengths[0] - overlap < overlap:
        raise JobFailed(f"clips of {clip_frames} frames continuing {overlap} leave {lengths[0] - overlap} new frames in "
                        f"the first, fewer than the next clip continues from: chunking.frames must be at least "
                        f"{2 * overlap}")
    return lengths


def written(lengths, overlap, continuing=False):
    """The frames each clip contributes as its chunk: all of them, but the first clip of a job that
    continues a clip drops the `overlap` frames it starts with (the clip's own)."""
    return [length - (overlap if continuing and index == 0 else 0) for index, length in enumerate(lengths)]


def first_frames(lengths, overlap, continuing=False):
    """Where each clip's chunk starts on the video's timeline."""
    starts, at = [], 0
    for length in written(lengths, overlap, continuing):
        starts.append(at)
        at += length - overlap
    return starts


def pack(identity, after_chunk, frames):
    """A checkpoint: what it was made for, and the frames the next clip is conditioned on
    (uint8 [T, H, W, 3])."""
    header = json.dumps({"version": STATE_VERSION, "identity": identity, "after_chunk": after_chunk,
                         "frames": int(frames.shape[0])}).encode()
    return len(header).to_bytes(4, "big") + header + frames.tobytes()


def unpack(data, identity, after_chunk, width, height, family):
    """The frames a checkpoint holds, once it is known to be this job's, after this chunk; else
    the job fails saying why (Spool then starts it afresh)."""
    import numpy

    try:
        size = int.from_bytes(data[:4], "big")
        header = json.loads(data[4:4 + size])
        pixels = numpy.frombuffer(data[4 + size:], dtype=numpy.uint8)
        count = int(header["frames"])
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        raise JobFailed(f"cannot resume after chunk {after_chunk}: the state file is not a {family} worker's state")
    if header.get("version") != STATE_VERSION or pixels.size != count * width * height * 3 or count < 1:
        raise JobFailed(f"cannot resume after chunk {after_chunk}: the state file is not a {family} worker's state")
    if header.get("identity") != identity:
        raise JobFailed(f"cannot resume after chunk {after_chunk}: the state was made for another job, model or setting")
    if header.get("after_chunk") != after_chunk:
        raise JobFailed(f"cannot resume after chunk {after_chunk}: the state is after chunk {header.get('after_chunk')}")
    return pixels.reshape(count, height, width, 3)


def run(job, lengths, overlap, make_clip, identity, family, checkpoints, condition=None, continuing=False):
    """Makes a job's clips in order, from its checkpoint when resumed, and ends it.

    `make_clip(index, condition)` returns clip `index` as uint8 [T, H, W, 3], `condition` being
    what it continues from: None, the job's first image (one frame), or the last `overlap` frames
    of the clip before (for the first clip of a job that `continuing`s a clip, that clip's last
    `overlap` frames, which the first chunk then leaves out). A model that makes sound returns
    (frames, sound, sample rate) instead, the sound covering the clip's frames. Each clip is
    written as chunk `index`; with `checkpoints`, the frames the next clip needs are its
    checkpoint."""
    if len(lengths) > 1 and job.overlap != overlap:
        raise JobFailed(f"the pipeline file's chunking.overlap is {job.overlap}; this {family} worker starts each clip on "
                        f"the last {overlap} frame(s) of the one before: set it to {overlap}")
    start = 0
    starts = first_frames(lengths, overlap, continuing)
    sizes = written(lengths, overlap, continuing)
    if job.resume:
        after = job.resume["after_chunk"]
        if after + 1 >= len(lengths):
            raise JobFailed(f"cannot resume after chunk {after}: the job has {len(lengths)} clips")
        if job.resume["first_frame"] != starts[after + 1]:
            raise JobFailed(f"cannot resume after chunk {after} at frame {job.resume['first_frame']}: "
                            f"clip {after + 1} starts at frame {starts[after + 1]}")
        condition = unpack(job.read_state(), identity, after, job.width, job.height, family)
        start = after + 1
    for index in range(start, len(lengths)):
        clip = make_clip(index, condition)
        pixels, sound, rate = clip if isinstance(clip, tuple) else (clip, None, None)
        if len(pixels) != lengths[index]:
            raise JobFailed(f"the pipeline made {len(pixels)} frames for a clip of {lengths[index]}")
        if sizes[index] != lengths[index]:
            # The continued clip's own frames: neither they nor their sound are the job's.
            skip = lengths[index] - sizes[index]
            if sound is not None:
                import numpy

                per_frame = len(sound) / lengths[index]
                sound = numpy.asarray(sound)[int(round(skip * per_frame)):]
            job.write_chunk(pixels[skip:], first_frame=starts[index], index=index, audio=sound, sample_rate=rate)
        else:
            job.write_chunk(pixels, first_frame=starts[index], index=index, audio=sound, sample_rate=rate)
        condition = pixels[-overlap:] if overlap else None
        if checkpoints and condition is not None and index + 1 < len(lengths):
            job.checkpoint(index, pack(identity, index, condition))
    job.done(frames=starts[-1] + sizes[-1], chunks=len(lengths))


def check_sides(job, step, family):
    """Fails a job whose sides are not multiples of `step` (the VAE's spatial stride times the
    transformer's patch), before any work."""
    if job.width % step or job.height % step:
        raise JobFailed(f"{job.width}x{job.height}: {family} makes sides that are multiples of {step}")


def pixels(video):
    """A clip as a pipeline returns it with output_type="pt" ([T, C, H, W] in [0, 1], on its
    device) as the uint8 [T, H, W, 3] frames a chunk holds: converted on the device, then copied."""
    import torch

    return (video.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


def first_image(job):
    """The job's first image as one frame (uint8 [1, H, W, 3]), unless it has none or is resumed
    (a resumed chain goes on from its checkpoint's frames instead)."""
    if not job.image_file or job.resume:
        return None
    return job.read_frames(job.image_file, 1, "image_file")


def first_condition(job, overlap, family):
    """What the first clip continues from, and whether the job continues a clip: the clip's last
    `overlap` frames (uint8 [overlap, H, W, 3]), else the first image, else None. A resumed job
    goes on from its checkpoint instead, but still continues its clip (the chain's plan
    depends on it)."""
    if not job.video_file:
        return first_image(job), False
    if job.video_frames < overlap:
        raise JobFailed(f"the clip to continue has {job.video_frames} frames; {family} continues from its last "
                        f"{overlap} (the pipeline file's chunking.overlap and inputs.minVideoFrames)")
    if job.resume:
        return None, True
    return job.read_frames(job.video_file, job.video_frames, "video_file")[-overlap:], True

#!/usr/bin/env python3
"""Spool worker for LTX-Video (0.9.x), through diffusers' LTXPipeline and LTXConditionPipeline.

    worker.py --model MODEL [--device cuda|cpu] [--dtype bfloat16|float16|float32] [--checkpoints on]

Speaks worker protocol 2 (resident) when $SPOOL_PROTOCOL is 2, 1 otherwise (spoolkit).

MODEL is a Diffusers checkpoint folder or a Hugging Face id already in the local cache; its
model_index.json must name LTXPipeline or LTXConditionPipeline (the same modules). Text alone
goes through LTXPipeline; a first image, a clip to continue, and every clip after the first,
through LTXConditionPipeline built on the same modules (no second copy of the weights). A job
that continues a clip conditions its first clip on the clip's last `chunking.overlap` frames,
and leaves those (the clip's own) out of its first chunk.

LTX denoises a whole clip at once: 8k+1 frames (the VAE's 8x temporal stride) of at most the
pipeline file's `chunking.frames`, sides multiples of 32. A longer job is a chain: clip k+1 is
conditioned on the last `chunking.overlap` frames of clip k (8k+1 of them) at its start, so it
begins by repeating them, and `"overlapPolicy": "drop"` keeps clip k's copy. Clip k's generator
is seeded with seed + k, so a clip depends on those frames and nothing else: they are the
checkpoint, and a resumed attempt makes exactly the frames an uninterrupted run makes.

Published settings: 50 steps, guidance 3.0, decode timestep 0.05 and decode noise 0.025 (for
the VAEs that take a timestep, 0.9.1 on), image condition noise 0.15; a job's `options`
override `steps`, `guidance_scale`, `decode_timestep`, `decode_noise_scale` and
`image_cond_noise_scale`. A cancel stops the job at the next denoising step; the model stays
loaded. $SPOOL_LTX_TRACE names a file of JSON lines saying what reached the pipeline.
"""

import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import spoolkit  # noqa: E402
from spoolkit import JobFailed  # noqa: E402

PUBLISHED = {"steps": 50, "guidance_scale": 3.0, "decode_timestep": 0.05, "decode_noise_scale": 0.025,
             "image_cond_noise_scale": 0.15}
# name: (parse, low, high)
OPTIONS = {"steps": (int, 1, 1000), "guidance_scale": (float, 0, 50), "decode_timestep": (float, 0, 1),
           "decode_noise_scale": (float, 0, 1), "image_cond_noise_scale": (float, 0, 1)}


def parse_settings(options):
    return spoolkit.options.settings(options, PUBLISHED, OPTIONS, "ltx")


class Model(spoolkit.Model):
    def __init__(self, model_path, device, dtype_name, trace, checkpoints):
        import torch
        from diffusers import DiffusionPipeline, LTXConditionPipeline, LTXPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()
        with open(os.path.join(model_path, "model_index.json")) as handle:
            name = json.load(handle).get("_class_name")
        if name not in ("LTXPipeline", "LTXConditionPipeline"):
            spoolkit.die(f"{model_path} holds a {name}, not an LTX-Video checkpoint (LTXPipeline or LTXConditionPipeline)")
        self.torch = torch
        self.device = device
        self.trace = trace
        self.checkpoints = checkpoints
        dtype = getattr(torch, dtype_name) if device == "cuda" else torch.float32
        loaded = DiffusionPipeline.from_pretrained(model_path, dtype=dtype).to(device)
        modules = {key: loaded.components[key] for key in ("scheduler", "vae", "text_encoder", "tokenizer", "transformer")}
        self.text = loaded if isinstance(loaded, LTXPipeline) else LTXPipeline(**modules)
        self.condition = loaded if isinstance(loaded, LTXConditionPipeline) else LTXConditionPipeline(**modules)
        for pipe in (self.text, self.condition):
            pipe.set_progress_bar_config(disable=True)
        self.temporal = loaded.vae_temporal_compression_ratio
        self.side_step = loaded.vae_spatial_compression_ratio * loaded.transformer_spatial_patch_size
        self.loaded = loaded

    @property
    def description(self):
        return f"ltx-video {type(self.loaded).__name__} diffusers on {self.device}"

    def run(self, job):
        Chain(self, job).run()


class Chain:
    """One job: its clips, each after the first conditioned on the last frames of the one before."""

    def __init__(self, model, job):
        self.model, self.job = model, job
        self.settings = parse_settings(job.options)
        spoolkit.chain.check_sides(job, model.side_step, "LTX-Video")
        if job.prompts:
            raise JobFailed("the ltx worker takes a prompt, a first image or a clip to continue; not a prompt schedule")
        self.overlap = job.overlap
        self.condition, self.continuing = spoolkit.chain.first_condition(job, self.overlap, "LTX-Video")
        self.lengths = spoolkit.chain.plan(job.frames, job.chunk_frames or 161, self.overlap, model.temporal,
                                           self.continuing)
        self.clip = 0
        self.step = 0

    def identity(self):
        job = self.job
        return {"model": "ltx-video", "width": job.width, "height": job.height, "seed": job.seed, "frames": job.frames,
                "continuing": self.continuing,
                "clip_frames": job.chunk_frames, "overlap": self.overlap,
                "settings": json.dumps(self.settings, sort_keys=True),
                "prompt": hashlib.sha256(json.dumps([job.prompt, job.negative_prompt]).encode()).hexdigest()}

    def on_step(self, pipeline, step, timestep, callback_kwargs):
        self.step += 1
        self.job.progress(self.clip, min(self.step, self.settings["steps"]), self.settings["steps"])
        return {}

    def make_clip(self, index, condition):
        from PIL import Image

        job, model, torch, settings = self.job, self.model, self.model.torch, self.settings
        self.clip, self.step = index, 0
        generator_device = "cuda" if model.device == "cuda" else "cpu"
        kwargs = dict(prompt=job.prompt, negative_prompt=job.negative_prompt, height=job.height, width=job.width,
                      num_frames=self.lengths[index], frame_rate=job.fps, num_inference_steps=settings["steps"],
                      guidance_scale=settings["guidance_scale"], decode_timestep=settings["decode_timestep"],
                      decode_noise_scale=settings["decode_noise_scale"], output_type="pt",
                      generator=torch.Generator(device=generator_device).manual_seed((job.seed + index) % (2 ** 63)),
                      callback_on_step_end=self.on_step)
        pipe = model.text
        if condition is not None:
            pipe = model.condition
            kwargs["image_cond_noise_scale"] = settings["image_cond_noise_scale"]
            frames = [Image.fromarray(frame) for frame in condition]
            if len(frames) == 1:
                kwargs["image"] = frames[0]
            else:
                kwargs["video"] = frames
            kwargs["frame_index"] = 0
        if model.trace:
            digest = None if condition is None else hashlib.sha256(condition.tobytes()).hexdigest()
            model.trace.write("clip", job_id=job.id, clip=index, pipeline=type(pipe).__name__, frames=self.lengths[index],
                              settings=settings, condition_frames=0 if condition is None else len(condition),
                              condition=digest)
        return spoolkit.chain.pixels(pipe(**kwargs).frames[0])

    def run(self):
        spoolkit.chain.run(self.job, self.lengths, self.overlap, self.make_clip, self.identity(), "LTX-Video",
                           self.model.checkpoints,
                           condition=self.condition, continuing=self.continuing)


def main():
    arguments = spoolkit.model_arguments(__doc__.splitlines()[0], "LTX_MODEL", "SPOOL_LTX_DEVICE")

    def load():
        started = time.monotonic()
        device = spoolkit.choose_device("ltx", arguments.device, "SPOOL_LTX_DEVICE")
        model_path = spoolkit.resolve_checkpoint("LTX-Video", arguments.model, "LTX_MODEL")
        spoolkit.require_libraries("ltx")
        trace = spoolkit.Trace(os.environ.get("SPOOL_LTX_TRACE"))
        model = Model(model_path, device, arguments.dtype, trace, arguments.checkpoints == "on")
        trace.write("load", pipeline=type(model.loaded).__name__, device=device,
                    seconds=round(time.monotonic() - started, 3), pid=os.getpid())
        return model

    spoolkit.main(load, name="ltx")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Spool worker for Wan 2.x, through diffusers' WanPipeline and WanImageToVideoPipeline.

    worker.py --model MODEL [--device cuda|cpu] [--dtype bfloat16|float16|float32] [--checkpoints on]

Speaks worker protocol 2 (resident) when $SPOOL_PROTOCOL is 2, 1 otherwise (spoolkit).

MODEL is a Diffusers checkpoint folder or a Hugging Face id already in the local cache. The
pipeline comes from its model_index.json, and with it what a job may ask for:

    WanPipeline                    (Wan 2.1 T2V)   text; one clip a job
    WanPipeline, expand_timesteps  (Wan 2.2 TI2V)  text or a first image; clips chained
    WanImageToVideoPipeline        (Wan 2.1 I2V)   a first image; clips chained

Wan denoises a whole clip at once: a clip is 4k+1 frames (the VAE's 4× temporal stride) of
at most the pipeline file's `chunking.frames`, and a side a multiple of 16 (32 for a model
whose VAE and patch halve twice more; the file's `sizes.multipleOf`). A longer job is a chain:
the last frame of clip k is the first image of clip k+1 (so clip k+1 repeats it, and the
pipeline file's `"overlap": 1, "overlapPolicy": "drop"` keeps clip k's copy). Each clip is a
chunk to Spool; its generator is seeded with seed + k, so a clip depends on the last frame
before it and nothing else, and a checkpoint is that frame (resumes make exactly the frames an
uninterrupted run makes). The last clip is the shortest on the 4k+1 grid that reaches the
frames asked for; Spool trims the rest.

Published settings: 50 steps, guidance 5.0 (the scheduler's flow shift is the checkpoint's);
a job's `options` override `steps` and `guidance_scale`. A cancel stops the job at the next
denoising step; the model stays loaded. $SPOOL_WAN_TRACE names a file of JSON lines saying
what reached the pipeline. Exit codes as the Helios worker's: 78 no GPU/library/weights, 65 a
request that is not JSON.
"""

import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import spoolkit  # noqa: E402
from spoolkit import JobFailed  # noqa: E402

PUBLISHED = {"steps": 50, "guidance_scale": 5.0}
OPTION_NAMES = ("steps", "guidance_scale")


def layout_of(model_path):
    """t2v, ti2v or i2v, from the checkpoint's model_index.json."""
    with open(os.path.join(model_path, "model_index.json")) as handle:
        index = json.load(handle)
    name = index.get("_class_name")
    if name == "WanPipeline":
        return "ti2v" if index.get("expand_timesteps") else "t2v"
    if name == "WanImageToVideoPipeline":
        return "i2v"
    spoolkit.die(f"{model_path} holds a {name}, not a Wan checkpoint (WanPipeline or WanImageToVideoPipeline)")


def parse_settings(options):
    settings = dict(PUBLISHED)
    unknown = sorted(set(options) - set(OPTION_NAMES) - {"model"})
    if unknown:
        raise JobFailed(f"unknown option {', '.join(unknown)}; the wan worker takes {', '.join(OPTION_NAMES)}")
    try:
        if "steps" in options:
            settings["steps"] = int(options["steps"])
            if not 1 <= settings["steps"] <= 1000:
                raise ValueError
        if "guidance_scale" in options:
            settings["guidance_scale"] = float(options["guidance_scale"])
            if not 0 <= settings["guidance_scale"] <= 50:
                raise ValueError
    except ValueError:
        raise JobFailed("bad option value in " + json.dumps(options, sort_keys=True) +
                        ": steps 1…1000, guidance_scale 0…50")
    return settings


class Model(spoolkit.Model):
    def __init__(self, model_path, device, dtype_name, trace, checkpoints):
        import torch
        from diffusers import DiffusionPipeline, WanImageToVideoPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()
        self.torch = torch
        self.device = device
        self.trace = trace
        self.checkpoints = checkpoints
        self.layout = layout_of(model_path)
        dtype = getattr(torch, dtype_name) if device == "cuda" else torch.float32
        pipe = DiffusionPipeline.from_pretrained(model_path, dtype=dtype).to(device)
        pipe.set_progress_bar_config(disable=True)
        # The text pipeline, and the image pipeline on the same modules (no second copy).
        self.text = pipe if self.layout in ("t2v", "ti2v") else None
        if self.layout == "ti2v":
            shared = {name: module for name, module in pipe.components.items()
                      if name in ("tokenizer", "text_encoder", "vae", "scheduler", "transformer", "transformer_2")}
            self.image = WanImageToVideoPipeline(**shared, boundary_ratio=pipe.config.get("boundary_ratio"),
                                                 expand_timesteps=True)
            self.image.set_progress_bar_config(disable=True)
        else:
            self.image = pipe if self.layout == "i2v" else None
        self.pipe = pipe
        # A clip is a multiple of the VAE's temporal stride (4) plus one frame; a side is a whole number of the
        # transformer's patches of the VAE's latent pixels. Both from the checkpoint, as LTX's.
        self.temporal = pipe.vae_scale_factor_temporal
        self.side_step = pipe.vae_scale_factor_spatial * pipe.transformer.config.patch_size[1]

    @property
    def description(self):
        return f"wan-{self.layout} {type(self.pipe).__name__} diffusers on {self.device}"

    def run(self, job):
        Chain(self, job).run()


class Chain:
    """One job: its clips, made one after another, each from the last frame of the one before."""

    def __init__(self, model, job):
        self.model, self.job = model, job
        self.settings = parse_settings(job.options)
        spoolkit.chain.check_sides(job, model.side_step, "this Wan checkpoint")
        if job.video_file or job.prompts:
            raise JobFailed("the wan worker takes a prompt and, where its model does, a first image; "
                            "not a clip to continue or a prompt schedule")
        # A clip after the first starts on the last frame of the one before.
        self.overlap = 1 if model.image else 0
        self.lengths = spoolkit.chain.plan(job.frames, job.chunk_frames or 81, self.overlap, model.temporal)
        if len(self.lengths) > 1 and model.image is None:
            raise JobFailed(f"{job.frames} frames need {len(self.lengths)} clips of at most {job.chunk_frames}, and this "
                            f"Wan {model.layout.upper()} checkpoint cannot continue a clip from its last frame: at most "
                            f"{job.chunk_frames} frames (the pipeline file's maxFrames)")
        if job.image_file and model.image is None:
            raise JobFailed(f"this Wan {model.layout.upper()} checkpoint makes video from text only; it takes no image")
        if model.layout == "i2v" and not job.image_file:
            raise JobFailed("this Wan I2V checkpoint makes video from a first image; the job gives none")
        self.clip = 0
        self.step = 0

    # -- checkpoints: the last frame of a clip is all the next one needs ------------------------

    def identity(self):
        job = self.job
        return {"layout": self.model.layout, "width": job.width, "height": job.height, "seed": job.seed,
                "frames": job.frames, "clip_frames": job.chunk_frames,
                "settings": json.dumps(self.settings, sort_keys=True),
                "prompt": hashlib.sha256(json.dumps([job.prompt, job.negative_prompt]).encode()).hexdigest()}

    # -- the clips ------------------------------------------------------------------------------

    def on_step(self, pipeline, step, timestep, callback_kwargs):
        self.step += 1
        self.job.progress(self.clip, self.step, self.settings["steps"])
        return {}

    def make_clip(self, index, condition):
        """Clip `index`, from `condition` (the job's image or the clip before's last frame) if any."""
        from PIL import Image

        job, model, torch = self.job, self.model, self.model.torch
        self.clip, self.step = index, 0
        generator_device = "cuda" if model.device == "cuda" else "cpu"
        kwargs = dict(prompt=job.prompt, negative_prompt=job.negative_prompt, height=job.height, width=job.width,
                      num_frames=self.lengths[index], num_inference_steps=self.settings["steps"],
                      guidance_scale=self.settings["guidance_scale"], output_type="pt",
                      generator=torch.Generator(device=generator_device).manual_seed((job.seed + index) % (2 ** 63)),
                      callback_on_step_end=self.on_step)
        pipe = model.text
        if condition is not None:
            pipe = model.image
            kwargs["image"] = Image.fromarray(condition[-1])
        if model.trace:
            model.trace.write("clip", job_id=job.id, clip=index, pipeline=type(pipe).__name__,
                              frames=self.lengths[index], steps=self.settings["steps"],
                              guidance_scale=self.settings["guidance_scale"],
                              image=None if condition is None else hashlib.sha256(condition[-1].tobytes()).hexdigest())
        return spoolkit.chain.pixels(pipe(**kwargs).frames[0])

    def run(self):
        spoolkit.chain.run(self.job, self.lengths, self.overlap, self.make_clip, self.identity(), "Wan",
                           self.model.checkpoints,
                           condition=spoolkit.chain.first_image(self.job))


def main():
    arguments = spoolkit.model_arguments(__doc__.splitlines()[0], "WAN_MODEL", "SPOOL_WAN_DEVICE")

    def load():
        started = time.monotonic()
        device = spoolkit.choose_device("wan", arguments.device, "SPOOL_WAN_DEVICE")
        model_path = spoolkit.resolve_checkpoint("Wan", arguments.model, "WAN_MODEL")
        spoolkit.require_libraries("wan", "ftfy")
        trace = spoolkit.Trace(os.environ.get("SPOOL_WAN_TRACE"))
        model = Model(model_path, device, arguments.dtype, trace, arguments.checkpoints == "on")
        trace.write("load", layout=model.layout, pipeline=type(model.pipe).__name__, device=device,
                    seconds=round(time.monotonic() - started, 3), pid=os.getpid())
        return model

    spoolkit.main(load, name="wan")


if __name__ == "__main__":
    main()

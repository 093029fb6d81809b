#!/usr/bin/env python3
"""Spool worker for LTX-2 (Lightricks), video and sound together, through diffusers' LTX2Pipeline
and LTX2ConditionPipeline.

    worker.py --model MODEL [--device cuda|cpu] [--dtype bfloat16|float16|float32] [--checkpoints on]

Speaks worker protocol 2 (resident) when $SPOOL_PROTOCOL is 2, 1 otherwise (spoolkit).

MODEL is a Diffusers checkpoint folder or a Hugging Face id already in the local cache; its
model_index.json must name LTX2Pipeline or LTX2ConditionPipeline (the same modules). Text alone
goes through LTX2Pipeline; a first image, a clip to continue, and every clip after the first,
through LTX2ConditionPipeline built on the same modules (no second copy of the weights). A job
that continues a clip conditions its first clip on the clip's last `chunking.overlap` frames,
and leaves those (the clip's own, and their sound) out of its first chunk.

LTX-2 denoises a whole clip at once, its pictures and its sound in one transformer: 8k+1 frames
(the VAE's 8x temporal stride) of at most the pipeline file's `chunking.frames`, sides multiples
of 32. The vocoder's waveform (its `output_sampling_rate`, which the pipeline file's `audio`
must name) is written beside each clip's frames. A longer job is a chain, as LTX-Video's: clip
k+1 is conditioned on the last `chunking.overlap` frames of clip k at its start, and clip k's
generator is seeded with seed + k, so those frames are the checkpoint. The sound of clip k+1 is
made afresh with its pictures (LTX-2 takes no sound to continue from), so a chained job's sound
can change character at a clip boundary; its pictures are continuous.

Published settings (the pipeline's own defaults): 30 steps, guidance 3.0, audio guidance 7.0,
spatio-temporal guidance 1.0; a job's `options` override `steps`, `guidance_scale`,
`audio_guidance_scale` and `stg_scale`. A cancel stops the job at the next denoising step; the
model stays loaded. $SPOOL_LTX2_TRACE names a file of JSON lines saying what reached the pipeline.
"""

import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import spoolkit  # noqa: E402
from spoolkit import JobFailed  # noqa: E402

PUBLISHED = {"steps": 30, "guidance_scale": 3.0, "audio_guidance_scale": 7.0, "stg_scale": 1.0}
# name: (parse, low, high)
OPTIONS = {"steps": (int, 1, 1000), "guidance_scale": (float, 0, 50), "audio_guidance_scale": (float, 0, 50),
           "stg_scale": (float, 0, 10)}


def parse_settings(options):
    return spoolkit.options.settings(options, PUBLISHED, OPTIONS, "ltx2")


class Model(spoolkit.Model):
    def __init__(self, model_path, device, dtype_name, trace, checkpoints):
        import torch
        from diffusers import DiffusionPipeline, LTX2ConditionPipeline, LTX2Pipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()
        with open(os.path.join(model_path, "model_index.json")) as handle:
            name = json.load(handle).get("_class_name")
        if name not in ("LTX2Pipeline", "LTX2ConditionPipeline"):
            spoolkit.die(f"{model_path} holds a {name}, not an LTX-2 checkpoint (LTX2Pipeline or LTX2ConditionPipeline)")
        self.torch = torch
        self.device = device
        self.trace = trace
        self.checkpoints = checkpoints
        dtype = getattr(torch, dtype_name) if device == "cuda" else torch.float32
        loaded = DiffusionPipeline.from_pretrained(model_path, dtype=dtype).to(device)
        modules = {key: loaded.components[key] for key in
                   ("scheduler", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "transformer", "vocoder")}
        self.text = loaded if isinstance(loaded, LTX2Pipeline) else LTX2Pipeline(**modules)
        self.condition = loaded if isinstance(loaded, LTX2ConditionPipeline) else LTX2ConditionPipeline(**modules)
        for pipe in (self.text, self.condition):
            pipe.set_progress_bar_config(disable=True)
        self.temporal = loaded.vae_temporal_compression_ratio
        self.side_step = loaded.vae_spatial_compression_ratio
        self.sample_rate = int(loaded.vocoder.config.output_sampling_rate)
        self.loaded = loaded

    @property
    def description(self):
        return f"ltx2 {type(self.loaded).__name__} diffusers on {self.device}, sound at {self.sample_rate} Hz"

    def run(self, job):
        Chain(self, job).run()


class Chain:
    """One job: its clips, each after the first conditioned on the last frames of the one before."""

    def __init__(self, model, job):
        self.model, self.job = model, job
        self.settings = parse_settings(job.options)
        spoolkit.chain.check_sides(job, model.side_step, "LTX-2")
        if job.prompts:
            raise JobFailed("the ltx2 worker takes a prompt, a first image or a clip to continue; not a prompt schedule")
        if job.audio is None:
            raise JobFailed("LTX-2 makes sound: its pipeline file must declare \"audio\" "
                            f"(\"sampleRate\": {model.sample_rate}, \"channels\": 2)")
        if job.audio["sample_rate"] != model.sample_rate:
            raise JobFailed(f"the pipeline file declares {job.audio['sample_rate']} Hz; this checkpoint's vocoder makes "
                            f"{model.sample_rate} Hz")
        self.overlap = job.overlap
        self.condition, self.continuing = spoolkit.chain.first_condition(job, self.overlap, "LTX-2")
        self.lengths = spoolkit.chain.plan(job.frames, job.chunk_frames or 121, self.overlap, model.temporal,
                                           self.continuing)
        self.clip = 0
        self.step = 0

    def identity(self):
        job = self.job
        return {"model": "ltx2", "width": job.width, "height": job.height, "seed": job.seed, "frames": job.frames,
                "continuing": self.continuing,
                "clip_frames": job.chunk_frames, "overlap": self.overlap,
                "settings": json.dumps(self.settings, sort_keys=True),
                "prompt": hashlib.sha256(json.dumps([job.prompt, job.negative_prompt]).encode()).hexdigest()}

    def on_step(self, pipeline, step, timestep, callback_kwargs):
        self.step += 1
        self.job.progress(self.clip, min(self.step, self.settings["steps"]), self.settings["steps"])
        return {}

    def make_clip(self, index, condition):
        from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition

        job, model, torch, settings = self.job, self.model, self.model.torch, self.settings
        self.clip, self.step = index, 0
        generator_device = "cuda" if model.device == "cuda" else "cpu"
        kwargs = dict(prompt=job.prompt, negative_prompt=job.negative_prompt or "", height=job.height, width=job.width,
                      num_frames=self.lengths[index], frame_rate=float(job.fps), num_inference_steps=settings["steps"],
                      guidance_scale=settings["guidance_scale"], audio_guidance_scale=settings["audio_guidance_scale"],
                      stg_scale=settings["stg_scale"], output_type="pt",
                      generator=torch.Generator(device=generator_device).manual_seed((job.seed + index) % (2 ** 63)),
                      callback_on_step_end=self.on_step)
        pipe = model.text
        if condition is not None:
            from PIL import Image

            pipe = model.condition
            # One frame (a first image) as a picture, which the pipeline re-compresses as the model was
            # trained (H.264 at its CRF); frames to continue from as a clip, which it takes as they are.
            frames = (Image.fromarray(condition[0]) if len(condition) == 1
                      else torch.from_numpy(condition).permute(0, 3, 1, 2).float().div(255))
            kwargs["conditions"] = [LTX2VideoCondition(frames=frames, index=0)]
        if model.trace:
            digest = None if condition is None else hashlib.sha256(condition.tobytes()).hexdigest()
            model.trace.write("clip", job_id=job.id, clip=index, pipeline=type(pipe).__name__, frames=self.lengths[index],
                              settings=settings, condition_frames=0 if condition is None else len(condition),
                              condition=digest)
        output = pipe(**kwargs)
        # The waveform: [batch, channels, samples] on the device, in -1…1.
        sound = output.audio[0].float().cpu().numpy().T
        return spoolkit.chain.pixels(output.frames[0]), sound, model.sample_rate

    def run(self):
        spoolkit.chain.run(self.job, self.lengths, self.overlap, self.make_clip, self.identity(), "LTX-2",
                           self.model.checkpoints,
                           condition=self.condition, continuing=self.continuing)


def main():
    arguments = spoolkit.model_arguments(__doc__.splitlines()[0], "LTX2_MODEL", "SPOOL_LTX2_DEVICE")

    def load():
        started = time.monotonic()
        device = spoolkit.choose_device("ltx2", arguments.device, "SPOOL_LTX2_DEVICE")
        model_path = spoolkit.resolve_checkpoint("LTX-2", arguments.model, "LTX2_MODEL")
        spoolkit.require_libraries("ltx2")
        trace = spoolkit.Trace(os.environ.get("SPOOL_LTX2_TRACE"))
        model = Model(model_path, device, arguments.dtype, trace, arguments.checkpoints == "on")
        trace.write("load", pipeline=type(model.loaded).__name__, device=device, sample_rate=model.sample_rate,
                    seconds=round(time.monotonic() - started, 3), pid=os.getpid())
        return model

    spoolkit.main(load, name="ltx2")


if __name__ == "__main__":
    main()

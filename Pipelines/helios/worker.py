#!/usr/bin/env python3
"""Spool worker for Helios, through diffusers' HeliosPipeline and HeliosPyramidPipeline.

    worker.py --model MODEL [--device cuda|cpu] [--dtype bfloat16|float16|float32]

Speaks worker protocol 2 (resident) when $SPOOL_PROTOCOL is 2: loads the model once, prints
`ready`, then serves one job per request line on stdin until stdin closes. With protocol 1 it
reads one request, runs it and exits. See Pipelines/README.md for both.

MODEL is a checkpoint folder or a Hugging Face id already in the local cache (nothing is
downloaded). The pipeline class and the settings come from the checkpoint, as published:

    Helios-Base       HeliosPipeline         50 steps, guidance 5.0
    Helios-Mid        HeliosPyramidPipeline  pyramid steps 20,20,20, guidance 5.0, CFG-Zero*
    Helios-Distilled  HeliosPyramidPipeline  pyramid steps 2,2,2, guidance 1.0, first chunk amplified

and the request's `options` (the pipeline file's, then the job's) override them:
`steps`, `pyramid_steps` ("2,2,2"), `guidance_scale`, `amplify_first_chunk`.

Each chunk (9 latent frames = 33 pixel frames) is converted to 8-bit on the device, written
out and announced the moment the pipeline decodes it; the pipeline gets an empty tensor back,
so neither GPU nor host memory grows with the video's length. Conditioning inputs arrive as
raw RGB24 files Spool has already scaled to the job's size: `image_file` (I2V), `video_file`
with `video_frames` (V2V), and a prompt schedule `prompts` ([{"chunk", "prompt"}]) with
`transition_chunks`, which blends the text embeddings from one prompt to the next over that
many chunks. A cancel stops the job at the next denoising step; the model stays loaded.

CPU is refused unless asked for (--device cpu or SPOOL_HELIOS_DEVICE=cpu): a 14B model on a
CPU is a mistake, a tiny test checkpoint (make_tiny.py) is not.

$SPOOL_HELIOS_TRACE names a file where the worker appends, as JSON lines, what it handed the
pipeline (the call's arguments, the text embeddings each denoising pass saw): for tests, and
for anyone asking "did my image reach the model?".

Exit codes: 0 stdin closed (or protocol 1 done); 78 (EX_CONFIG) no CUDA, PyTorch, diffusers
or weights; 65 (EX_DATAERR) a request that is not JSON or of another protocol.
"""

import hashlib
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import spoolkit  # noqa: E402  (Pipelines/spoolkit: the worker protocol)
from spoolkit import JobFailed  # noqa: E402

LATENT_FRAMES_PER_CHUNK = 9
VAE_TEMPORAL = 4
CHUNK_FRAMES = (LATENT_FRAMES_PER_CHUNK - 1) * VAE_TEMPORAL + 1  # 33


def kept_frames(chunks):
    """Frames the pipeline keeps of what `chunks` chunks decode: ((33·N − 1) // 4) · 4 + 1."""
    return (chunks * CHUNK_FRAMES - 1) // VAE_TEMPORAL * VAE_TEMPORAL + 1


# The settings each published checkpoint is meant to run with.
LAYOUT_SETTINGS = {
    "base": {"steps": 50, "guidance_scale": 5.0},
    "mid": {"pyramid_steps": [20, 20, 20], "guidance_scale": 5.0, "amplify_first_chunk": False},
    "distilled": {"pyramid_steps": [2, 2, 2], "guidance_scale": 1.0, "amplify_first_chunk": True},
}
OPTION_NAMES = ("steps", "pyramid_steps", "guidance_scale", "amplify_first_chunk")


# -- output ---------------------------------------------------------------------------------

def die(message, code=spoolkit.EX_CONFIG):
    spoolkit.die(message, code, name="helios")


# -- loading --------------------------------------------------------------------------------

def choose_device(requested):
    return spoolkit.choose_device("helios", requested, "SPOOL_HELIOS_DEVICE")


def resolve_model(model):
    return spoolkit.resolve_checkpoint("Helios", model, "HELIOS_MODEL")


def layout_of(model_path):
    with open(os.path.join(model_path, "model_index.json")) as handle:
        index = json.load(handle)
    name = index.get("_class_name")
    if name == "HeliosPipeline":
        return "base"
    if name == "HeliosPyramidPipeline":
        return "distilled" if index.get("is_distilled") else "mid"
    die(f"{model_path} holds a {name}, not a Helios checkpoint (HeliosPipeline or HeliosPyramidPipeline)")


def stable_block_noise(pipe):
    """Replaces HeliosPyramidPipeline.sample_block_noise's factorisation with a float64 one.

    The pipeline draws each 2x2 block's noise with covariance (1+γ)I − γJ. At the published
    γ = 1/3 its smallest eigenvalue is 1 − 3γ = 0, and the 1e-8 the pipeline adds is below
    float32's resolution at 4/3, so `torch.linalg.cholesky` in float32 raises for every Mid
    and Distilled job (diffusers 0.42.1, seen on CPU). Factored in float64 the same samples
    come out (z @ L.T with the same z, L rounded to float32 afterwards)."""
    import torch

    original = pipe.sample_block_noise

    def sample_block_noise(batch_size, channel, num_frames, height, width, patch_size=(1, 2, 2),
                           device=None, generator=None):
        if isinstance(generator, list):
            generator = generator[0]
        if generator is None:
            return original(batch_size, channel, num_frames, height, width, patch_size, device, generator)
        gamma = pipe.scheduler.config.gamma
        _, ph, pw = patch_size
        size = ph * pw
        covariance = (torch.eye(size, dtype=torch.float64) * (1 + gamma + 1e-8)
                      - torch.ones(size, size, dtype=torch.float64) * gamma)
        factor = torch.linalg.cholesky(covariance).to(dtype=torch.float32, device=device)
        blocks = batch_size * channel * num_frames * (height // ph) * (width // pw)
        z = torch.randn(blocks, size, generator=generator, device=generator.device).to(device)
        noise = (z @ factor.T).view(batch_size, channel, num_frames, height // ph, width // pw, ph, pw)
        return noise.permute(0, 1, 2, 3, 5, 4, 6).reshape(batch_size, channel, num_frames, height, width)

    pipe.sample_block_noise = sample_block_noise


def random_components(model_path, device, dtype):
    """The components a benchmark checkpoint (full_size.py) names in spool-random-weights.json,
    built from their config.json alone, directly on the device in the worker's dtype, with
    PyTorch's default random initialisation: a 14 B transformer in seconds, with no weights on
    disk. Modules the class keeps in float32 stay float32, as from_pretrained keeps them.
    Empty for every real checkpoint."""
    marker = os.path.join(model_path, "spool-random-weights.json")
    if not os.path.isfile(marker):
        return {}
    import diffusers
    import torch

    with open(marker) as handle:
        names = json.load(handle)["components"]
    with open(os.path.join(model_path, "model_index.json")) as handle:
        index = json.load(handle)
    built = {}
    previous = torch.get_default_dtype()
    for name in names:
        cls = getattr(diffusers, index[name][1])
        config = cls.load_config(os.path.join(model_path, name))
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device):
                module = cls.from_config(config)
        finally:
            torch.set_default_dtype(previous)
        kept = getattr(module, "_keep_in_fp32_modules", None) or []
        for parameter_name, parameter in module.named_parameters():
            if any(part in parameter_name for part in kept):
                parameter.data = parameter.data.float()
        built[name] = module.eval()
        print(f"helios: {name} built with random weights from its configuration "
              f"({sum(p.numel() for p in module.parameters()) / 1e9:.2f} B parameters): a benchmark checkpoint",
              file=sys.stderr)
    return built


class Model(spoolkit.Model):
    """The loaded pipeline, and the hooks that stream its chunks out of it."""

    def __init__(self, model_path, device, dtype_name, trace, checkpoints=False):
        import torch
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.set_verbosity_error()
        self.torch = torch
        self.device = device
        self.layout = layout_of(model_path)
        dtype = getattr(torch, dtype_name) if device == "cuda" else torch.float32
        self.random_weights = random_components(model_path, device, dtype)
        self.pipe = DiffusionPipeline.from_pretrained(model_path, dtype=dtype, **self.random_weights).to(device)
        self.pipe.set_progress_bar_config(disable=True)
        if hasattr(self.pipe, "sample_block_noise"):
            stable_block_noise(self.pipe)
        self.job = None  # the Generation running now; the hooks below write to it
        self.trace = trace
        self.checkpoints = checkpoints
        original_decode = self.pipe.vae.decode

        def streaming_decode(latents, return_dict=True, **kwargs):
            pipeline_locals = sys._getframe(1).f_locals  # the pipeline's chunk loop, which called us
            if self.job.replaying:
                # A chunk an earlier attempt made: its history is restored, its pixels are not
                # made again.
                self.job.replayed(pipeline_locals)
                empty = latents.new_zeros((latents.shape[0], 3, 0, self.job.height, self.job.width))
            else:
                video = original_decode(latents, return_dict=False, **kwargs)[0]  # [B, C, T, H, W] in [-1, 1]
                self.job.write_chunk(video, pipeline_locals)
                # Hand back no frames, so the pipeline's history_video never grows.
                empty = video[:, :, :0]
            return (empty,) if not return_dict else type("Decoded", (), {"sample": empty})()

        self.pipe.vae.decode = streaming_decode
        original_forward = self.pipe.transformer.forward

        def forward(*args, **kwargs):
            if self.job is not None and self.job.replaying:
                # The chunk's denoised latents are the checkpoint's (see Generation.on_step): the
                # model's prediction is not needed, only the generator's draws around it.
                hidden = kwargs.get("hidden_states", args[0] if args else None)
                out = self.torch.zeros(hidden.shape, dtype=hidden.dtype, device=hidden.device)
                return (out,) if kwargs.get("return_dict", True) is False else type("Output", (), {"sample": out})()
            return original_forward(*args, **kwargs)

        self.pipe.transformer.forward = forward
        if trace:
            def record_embeds(module, args, kwargs):
                embeds = kwargs.get("encoder_hidden_states")
                if embeds is not None and self.job is not None:
                    trace.write("transformer", job_id=self.job.id, chunk=self.job.chunk,
                                embeds=fingerprint(embeds))
            self.pipe.transformer.register_forward_pre_hook(record_embeds, with_kwargs=True)

    @property
    def description(self):
        return f"helios-{self.layout} {type(self.pipe).__name__} diffusers on {self.device}"

    def run(self, job):
        self.job = Generation(self, job)
        try:
            self.job.run()
        finally:
            self.job = None


def fingerprint(tensor):
    """A number that identifies a text embedding (its sum), linear in the embedding."""
    return float(tensor.detach().double().sum())


# -- one job --------------------------------------------------------------------------------

def parse_settings(layout, options):
    """The checkpoint's published settings with the request's options over them."""
    settings = dict(LAYOUT_SETTINGS[layout])
    unknown = sorted(set(options) - set(OPTION_NAMES) - {"model"})
    if unknown:
        raise JobFailed(f"unknown option {', '.join(unknown)}; the helios worker takes {', '.join(OPTION_NAMES)}")
    try:
        if "steps" in options:
            if layout != "base":
                raise JobFailed(f"option steps applies to Helios-Base; this is a {layout} checkpoint, "
                                "which takes pyramid_steps (e.g. \"2,2,2\")")
            settings["steps"] = int(options["steps"])
            if not 1 <= settings["steps"] <= 1000:
                raise ValueError
        if "pyramid_steps" in options:
            if layout == "base":
                raise JobFailed("option pyramid_steps applies to Helios-Mid and -Distilled; Helios-Base takes steps")
            steps = [int(part) for part in str(options["pyramid_steps"]).split(",")]
            if len(steps) != 3 or not all(1 <= step <= 100 for step in steps):
                raise ValueError
            settings["pyramid_steps"] = steps
        if "guidance_scale" in options:
            settings["guidance_scale"] = float(options["guidance_scale"])
            if not 0 <= settings["guidance_scale"] <= 50:
                raise ValueError
        if "amplify_first_chunk" in options:
            value = str(options["amplify_first_chunk"]).lower()
            if value not in ("true", "false"):
                raise ValueError
            settings["amplify_first_chunk"] = value == "true"
    except ValueError:
        raise JobFailed("bad option value in " + json.dumps(options, sort_keys=True) +
                        ": steps 1…1000, pyramid_steps three counts 1…100 (\"2,2,2\"), guidance_scale 0…50, "
                        "amplify_first_chunk true or false")
    return settings


class Generation:
    """One job on the Helios pipeline: its settings, and where the pipeline is in it."""

    def __init__(self, model, job):
        self.model = model
        self.job = job
        self.request = job.request
        self.id = job.id
        self.width, self.height = job.width, job.height
        self.chunk = 0          # chunks decoded so far = the chunk being denoised
        self.first_frame = 0
        self.step_in_chunk = 0
        # The pipeline cuts what its N chunks decode to ((33·N − 1) // 4) · 4 + 1 frames, so
        # ceil(frames / 33) chunks can fall short (99 frames: 3 chunks keep 97). Spool needs
        # at least the frames asked for: take the chunks that keep that many.
        chunks = max(1, math.ceil(job.frames / CHUNK_FRAMES))
        while kept_frames(chunks) < job.frames:
            chunks += 1
        self.chunks = chunks
        self.kept_total = kept_frames(chunks)
        self.settings = parse_settings(model.layout, job.options)
        self.schedule = None    # per-chunk text embeddings, when the job has a prompt schedule
        # A resumed job replays chunks 0…after_chunk without the model (see on_step) and makes
        # the rest; the checkpoint's state is what makes the replay land where the
        # interrupted attempt was.
        self.restored = self.restore(job.read_state()) if job.resume else None
        self.replay_through = job.resume["after_chunk"] if job.resume else -1

    @property
    def replaying(self):
        return self.chunk <= self.replay_through

    # -- checkpoints ------------------------------------------------------------------------
    #
    # What the pipeline's chunk loop carries from one chunk to the next: the history latents
    # (only the last `num_history_latent_frames` are read), the first frame's latent
    # (`image_latents`), and the generator, whose draws do not depend on the model's outputs.
    # A checkpoint after chunk k keeps the first two as they stand after chunk k. A resumed
    # attempt runs the same call from the start; for chunks 0…k the transformer returns
    # zeros at once, and each chunk's denoised latents are replaced at its last step by the
    # frames the checkpoint kept (zeros where the history window no longer reaches), so the
    # generator draws what it drew before and the loop reaches chunk k+1 with the same
    # history, the same first frame and the same generator state: chunk k+1 on is what an
    # uninterrupted run makes.

    STATE_VERSION = 1

    def identity(self):
        """What a state must have been made for: this model, size, seed and settings."""
        request = self.request
        return {"layout": self.model.layout, "width": self.width, "height": self.height,
                "seed": int(request["seed"]) % (2 ** 63), "frames": int(request["frames"]),
                "settings": json.dumps(self.settings, sort_keys=True),
                "prompt": hashlib.sha256(json.dumps([request.get("prompt"), request.get("negative_prompt"),
                                                     request.get("prompts")], sort_keys=True).encode()).hexdigest()}

    def restore(self, data):
        import io

        torch = self.model.torch
        after = self.job.resume["after_chunk"]
        try:
            state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            ok = isinstance(state, dict) and state.get("version") == self.STATE_VERSION
        except Exception as error:  # noqa: BLE001  (any unreadable state is refused the same way)
            raise JobFailed(f"cannot resume after chunk {after}: the state file is not a Helios worker's state ({error})")
        if not ok:
            raise JobFailed(f"cannot resume after chunk {after}: the state file is not a Helios worker's state")
        if state.get("identity") != self.identity():
            raise JobFailed(f"cannot resume after chunk {after}: the state was made for another job, model or setting")
        if state.get("after_chunk") != after or after + 1 >= self.chunks:
            raise JobFailed(f"cannot resume after chunk {after}: the state is after chunk {state.get('after_chunk')}")
        return state

    def state_after(self, pipeline_locals):
        """The loop's carried state as it stands after this chunk, as bytes."""
        import io

        torch = self.model.torch
        window = int(pipeline_locals["num_history_latent_frames"])
        history = pipeline_locals["history_latents"]
        image = pipeline_locals.get("image_latents")
        state = {"version": self.STATE_VERSION, "identity": self.identity(), "after_chunk": self.chunk,
                 "history_length": int(history.shape[2]),
                 "history_tail": history[:, :, -window:].detach().to("cpu", torch.float32).clone(),
                 "image_latents": None if image is None else image.detach().to("cpu", torch.float32).clone()}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()

    def replayed(self, pipeline_locals):
        """Chunk `self.chunk` was replayed: counted, not written. After the last replayed chunk
        the loop's state must be the checkpoint's, or the job stops rather than go on from
        anything else."""
        torch = self.model.torch
        if self.chunk == self.replay_through:
            history = pipeline_locals["history_latents"]
            tail = self.restored["history_tail"]
            image = pipeline_locals.get("image_latents")
            kept_image = self.restored["image_latents"]
            same = (int(history.shape[2]) == self.restored["history_length"]
                    and torch.equal(history[:, :, -tail.shape[2]:].to("cpu", torch.float32), tail)
                    and ((image is None and kept_image is None)
                         or (image is not None and kept_image is not None
                             and torch.equal(image.to("cpu", torch.float32), kept_image))))
            if not same:
                raise JobFailed(f"cannot resume after chunk {self.replay_through}: replaying to the checkpoint "
                                "did not reach its state")
        self.chunk += 1
        self.first_frame += CHUNK_FRAMES
        self.step_in_chunk = 0

    def replacement_latents(self, latents, pipeline_locals):
        """The denoised latents of replayed chunk `self.chunk`: the checkpoint's history frames
        where they will be in the window after the last replayed chunk, the first frame's latent
        for chunk 0 (the pipeline takes it from there), zeros elsewhere (read by nothing)."""
        torch = self.model.torch
        tail = self.restored["history_tail"]
        before = int(pipeline_locals["history_latents"].shape[2])
        frames = int(latents.shape[2])
        end = self.restored["history_length"]
        start = end - int(tail.shape[2])
        out = torch.zeros_like(latents)
        for offset in range(frames):
            position = before + offset
            if position >= start:
                out[:, :, offset] = tail[:, :, position - start].to(out.device, out.dtype)
        if self.chunk == 0 and before < start and self.restored["image_latents"] is not None \
                and pipeline_locals.get("image_latents") is None:
            out[:, :, 0:1] = self.restored["image_latents"].to(out.device, out.dtype)
        return out

    # Steps the pipeline runs for chunk k: the pyramid stages' steps, doubled for the first
    # chunk when a distilled model amplifies it (the DMD scheduler's 2n+1 timesteps, less one).
    def steps_of_chunk(self, k):
        if self.model.layout == "base":
            return self.settings["steps"]
        total = sum(self.settings["pyramid_steps"])
        if k == 0 and self.model.layout == "distilled" and self.settings.get("amplify_first_chunk"):
            return 2 * total
        return total

    def write_chunk(self, video, pipeline_locals):
        torch = self.model.torch
        self.job.check_cancelled()
        index, first = self.chunk, self.first_frame
        count = min(video.shape[2], self.kept_total - first)
        if count > 0:
            rgb = ((video[0, :, :count].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            data = rgb.permute(1, 2, 3, 0).contiguous().cpu().numpy()  # [T, H, W, 3]
            self.job.write_chunk(data, first_frame=first, index=index)
            if self.model.checkpoints and index + 1 < self.chunks:
                self.job.checkpoint(index, self.state_after(pipeline_locals))
        self.chunk += 1
        self.first_frame += video.shape[2]
        self.step_in_chunk = 0

    def on_step(self, pipeline, step, timestep, callback_kwargs):
        self.step_in_chunk += 1
        steps = self.steps_of_chunk(self.chunk)
        outputs = {}
        if self.replaying:
            self.job.check_cancelled()
            if self.step_in_chunk == steps:
                outputs["latents"] = self.replacement_latents(callback_kwargs["latents"], sys._getframe(1).f_locals)
        else:
            self.job.progress(self.chunk, min(self.step_in_chunk, steps), steps)
        if self.schedule is not None and self.step_in_chunk == steps and self.chunk + 1 < self.chunks:
            # The last step of this chunk: the next chunk's embeddings take over from its first step.
            outputs["prompt_embeds"] = self.schedule[self.chunk + 1]
        return outputs

    def read_frames(self, path, count, field):
        from PIL import Image

        return [Image.fromarray(frame) for frame in self.job.read_frames(path, count, field)]

    def prompt_schedule(self, kwargs):
        """Per-chunk embeddings for a schedule: segment j's prompt from its chunk on, blended
        linearly from the previous prompt over `transition_chunks` chunks."""
        torch = self.model.torch
        segments = sorted(self.request["prompts"], key=lambda segment: int(segment["chunk"]))
        if not segments or int(segments[0]["chunk"]) != 0:
            raise JobFailed("a prompt schedule must start at chunk 0")
        transition = int(self.request.get("transition_chunks") or 0)
        pipe = self.model.pipe
        guidance = self.settings["guidance_scale"] > 1.0
        embeds = []
        negative = None
        for segment in segments:
            positive, negative = pipe.encode_prompt(
                prompt=segment["prompt"], negative_prompt=self.request.get("negative_prompt"),
                do_classifier_free_guidance=guidance, device=pipe._execution_device)
            embeds.append(positive)
        starts = [int(segment["chunk"]) for segment in segments]
        per_chunk = []
        for k in range(self.chunks):
            j = max(index for index, start in enumerate(starts) if start <= k)
            into = k - starts[j]
            if j > 0 and into < transition:
                weight = (into + 1) / (transition + 1)
                per_chunk.append(torch.lerp(embeds[j - 1], embeds[j], weight))
            else:
                per_chunk.append(embeds[j])
        self.schedule = per_chunk
        kwargs["prompt_embeds"] = per_chunk[0]
        kwargs["negative_prompt_embeds"] = negative
        if self.model.trace:
            self.model.trace.write("prompts", job_id=self.id, starts=starts, transition=transition,
                                   embeds=[fingerprint(e) for e in embeds],
                                   chunks=[fingerprint(e) for e in per_chunk])

    def arguments(self):
        torch = self.model.torch
        request, settings = self.request, self.settings
        generator_device = "cuda" if self.model.device == "cuda" else "cpu"
        kwargs = dict(
            height=self.height, width=self.width, num_frames=self.chunks * CHUNK_FRAMES,
            guidance_scale=settings["guidance_scale"],
            generator=torch.Generator(device=generator_device).manual_seed(int(request["seed"]) % (2 ** 63)),
            output_type="latent", callback_on_step_end=self.on_step,
        )
        if "steps" in settings:
            kwargs["num_inference_steps"] = settings["steps"]
        else:
            kwargs["pyramid_num_inference_steps_list"] = settings["pyramid_steps"]
            kwargs["is_amplify_first_chunk"] = settings["amplify_first_chunk"]
        if request.get("image_file") and request.get("video_file"):
            raise JobFailed("a job takes an image (I2V) or a video (V2V), not both")
        if request.get("image_file"):
            kwargs["image"] = self.read_frames(request["image_file"], 1, "image_file")[0]
        if request.get("video_file"):
            frames = int(request.get("video_frames") or 0)
            if frames < CHUNK_FRAMES:
                raise JobFailed(f"video_file has {frames} frames; Helios continues a clip of at least {CHUNK_FRAMES}")
            kwargs["video"] = self.read_frames(request["video_file"], frames, "video_file")
        if request.get("prompts"):
            self.prompt_schedule(kwargs)
        else:
            kwargs["prompt"] = request["prompt"]
            kwargs["negative_prompt"] = request.get("negative_prompt")
        if self.model.trace:
            self.model.trace.write("call", job_id=self.id, pipeline=type(self.model.pipe).__name__,
                                   kwargs=describe(kwargs))
        return kwargs

    def run(self):
        kwargs = self.arguments()
        started = time.monotonic()
        torch = self.model.torch
        if self.model.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        self.model.pipe(**kwargs)
        if self.model.trace:
            cuda = self.model.device == "cuda"
            self.model.trace.write("job", job_id=self.id, seconds=round(time.monotonic() - started, 3),
                                   peak_memory_bytes=torch.cuda.max_memory_allocated() if cuda else None,
                                   visible_gpus=torch.cuda.device_count() if cuda else 0,
                                   gpu=torch.cuda.get_device_name(0) if cuda else None)
        if self.chunk != self.chunks:
            raise JobFailed(f"the pipeline decoded {self.chunk} chunks for {self.request['frames']} frames; "
                            f"expected {self.chunks}")
        self.job.done(frames=min(self.first_frame, self.kept_total), chunks=self.chunk)


def describe(kwargs):
    """The call's arguments, with images and tensors reduced to what identifies them."""
    described = {}
    for name, value in kwargs.items():
        if name in ("generator", "callback_on_step_end"):
            continue
        if name == "image":
            described[name] = {"size": list(value.size), "sha256": hashlib.sha256(value.tobytes()).hexdigest()}
        elif name == "video":
            digest = hashlib.sha256()
            for frame in value:
                digest.update(frame.tobytes())
            described[name] = {"frames": len(value), "size": list(value[0].size), "sha256": digest.hexdigest()}
        elif hasattr(value, "shape"):
            described[name] = {"shape": list(value.shape), "sum": fingerprint(value)}
        else:
            described[name] = value
    return described


# -- serving --------------------------------------------------------------------------------

def main():
    arguments = spoolkit.model_arguments(__doc__.splitlines()[0], "HELIOS_MODEL", "SPOOL_HELIOS_DEVICE")

    def load():
        started = time.monotonic()
        device = choose_device(arguments.device)
        model_path = resolve_model(arguments.model)
        try:
            import diffusers
            if not hasattr(diffusers, "HeliosPyramidPipeline"):
                die(f"diffusers {diffusers.__version__} has no Helios pipelines; install diffusers 0.42 or later")
            import accelerate  # noqa: F401  (from_pretrained needs it for Helios' fp32-kept modules)
            import ftfy  # noqa: F401  (the Helios pipelines clean every prompt with it)
        except ImportError as error:
            die(f"{error.name} is not installed; the helios pipeline needs torch, diffusers, transformers, "
                "accelerate and ftfy (see Pipelines/README.md)")
        model = Model(model_path, device, arguments.dtype, spoolkit.Trace(os.environ.get("SPOOL_HELIOS_TRACE")),
                      checkpoints=arguments.checkpoints == "on")
        model.trace.write("load", layout=model.layout, pipeline=type(model.pipe).__name__, device=device,
                          seconds=round(time.monotonic() - started, 3), pid=os.getpid(),
                          random_weights=sorted(model.random_weights),
                          transformer_parameters=sum(p.numel() for p in model.pipe.transformer.parameters()))
        return model

    spoolkit.main(load, name="helios")


if __name__ == "__main__":
    main()

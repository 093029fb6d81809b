#!/usr/bin/env python3
"""Spool worker for Helios, through diffusers' HeliosPipeline (worker protocol 1).

Reads the job request as JSON on stdin, writes each 33-frame chunk as raw RGB24 into the
work directory the moment the pipeline decodes it, and prints protocol events on stdout.

Unlike the reference script, which keeps every decoded frame until the end (about 4 GB
of floats on the GPU, and again in host memory, for 60 s), this worker intercepts each
chunk's VAE decode, converts it to 8-bit on the GPU, writes it out and hands the pipeline
an empty tensor, so GPU and host memory stay flat however long the video.

Exit codes: 0 done; 78 (EX_CONFIG) missing CUDA, PyTorch, diffusers or weights;
65 bad request; anything else is a failure.
"""

import json
import os
import sys

EX_CONFIG = 78
PROTOCOL = 1
CHUNK_FRAMES = 33  # 9 latent frames × 4 (VAE temporal factor) − 3


def emit(event):
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def die(message, code=EX_CONFIG):
    sys.stderr.write(f"helios worker: {message}\n")
    sys.stderr.flush()
    sys.exit(code)


def check_environment(options):
    """Fails fast, before anything heavy loads, with what to do about it."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
    try:
        import torch  # noqa: F401
    except ImportError:
        die("the helios pipeline needs a CUDA GPU with PyTorch installed, and this host has no PyTorch "
            f"(CUDA_VISIBLE_DEVICES={visible}). Install torch with CUDA, diffusers and transformers "
            "(see Pipelines/README.md), or use the synthetic pipeline on CPU-only hosts.")
    import torch
    if not torch.cuda.is_available():
        die(f"the helios pipeline needs a CUDA GPU, and none is visible (CUDA_VISIBLE_DEVICES={visible}). "
            "Run it on a GPU host, or use the synthetic pipeline on CPU-only hosts.")
    try:
        from diffusers import HeliosPipeline  # noqa: F401
    except ImportError as error:
        die(f"diffusers with HeliosPipeline is not installed ({error}); see Pipelines/README.md")
    model = options.get("model") or os.environ.get("HELIOS_MODEL") or "BestWishYsh/Helios-Base"
    if os.path.isabs(model) or model.startswith("."):
        if not os.path.isdir(model):
            die(f"Helios weights not found at {model}; set HELIOS_MODEL to the downloaded folder")
        return model
    try:
        from huggingface_hub import snapshot_download
        return snapshot_download(model, local_files_only=True)
    except Exception:
        die(f"Helios weights for {model} are not in the Hugging Face cache; download them first with "
            f"`huggingface-cli download {model}` or set HELIOS_MODEL to a local folder")


def main():
    try:
        request = json.load(sys.stdin)
    except json.JSONDecodeError as error:
        die(f"cannot read the job request on stdin: {error}", 65)
    if request.get("protocol") != PROTOCOL:
        die(f"protocol {request.get('protocol')} is not supported; this worker speaks {PROTOCOL}", 65)
    options = request.get("options") or {}
    model_path = check_environment(options)

    import torch
    from diffusers import HeliosPipeline

    width, height, frames = request["width"], request["height"], request["frames"]
    work_dir = request["work_dir"]
    steps = int(options.get("steps", 50))
    emit({"event": "hello", "protocol": PROTOCOL, "worker": "helios-diffusers"})

    pipe = HeliosPipeline.from_pretrained(model_path, torch_dtype=torch.bfloat16).to("cuda")
    num_chunks = max(1, (frames + CHUNK_FRAMES - 1) // CHUNK_FRAMES)
    decoded_total = num_chunks * CHUNK_FRAMES
    kept_total = (decoded_total - 1) // 4 * 4 + 1  # the pipeline's own trim
    state = {"chunk": 0, "first": 0}
    original_decode = pipe.vae.decode

    def streaming_decode(latents, return_dict=True, **kwargs):
        video = original_decode(latents, return_dict=False, **kwargs)[0]  # [B, C, T, H, W] in [-1, 1]
        index, first = state["chunk"], state["first"]
        count = min(video.shape[2], kept_total - first)
        if count > 0:
            rgb = ((video[0, :, :count].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            data = rgb.permute(1, 2, 3, 0).contiguous().cpu().numpy()  # [T, H, W, 3]
            name = f"chunk-{index:05d}.rgb"
            temporary = os.path.join(work_dir, f".{name}.tmp")
            with open(temporary, "wb") as handle:
                handle.write(data.tobytes())
            os.rename(temporary, os.path.join(work_dir, name))
            emit({"event": "chunk", "index": index, "first_frame": first, "frames": count,
                  "width": width, "height": height, "pixel_format": "rgb24", "file": name})
        state["chunk"] += 1
        state["first"] += video.shape[2]
        # Hand back no frames, so the pipeline's history_video never grows.
        empty = video[:, :, :0]
        return (empty,) if not return_dict else type("Decoded", (), {"sample": empty})()

    pipe.vae.decode = streaming_decode

    def on_step(pipeline, step, timestep, callback_kwargs):
        emit({"event": "progress", "chunk": state["chunk"], "step": step + 1, "steps": steps})
        return callback_kwargs

    generator = torch.Generator(device="cuda").manual_seed(int(request["seed"]) % (2 ** 63))
    pipe(
        prompt=request["prompt"],
        negative_prompt=request.get("negative_prompt"),
        height=height,
        width=width,
        num_frames=frames,
        num_inference_steps=steps,
        guidance_scale=float(options.get("guidance_scale", 5.0)),
        generator=generator,
        output_type="latent",
        callback_on_step_end=on_step,
    )
    emit({"event": "done", "frames": kept_total, "chunks": state["chunk"]})


if __name__ == "__main__":
    main()

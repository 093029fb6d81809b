#!/usr/bin/env python3
"""A full-size Helios-Distilled with random weights, for measuring what the real model costs.

    python3 full_size.py OUT_DIR      # writes a checkpoint folder the worker loads
    python3 full_size.py --check      # the architecture on PyTorch's meta device: size and shapes

The folder has the published layout (HeliosPyramidPipeline, HeliosDMDScheduler, is_distilled)
and the published transformer configuration (helios-distilled-transformer.json beside this
file: 40 blocks of width 5120, about 14.3 B parameters) with a full-size Wan VAE, but no
weights for either: `spool-random-weights.json` tells the worker to build them from their
configuration directly on the GPU, in the worker's dtype, with PyTorch's default random
initialisation. Nothing is downloaded and nothing large is written, so a GPU host with no
network measures the real model's seconds per chunk and memory in about a minute. The
pictures are noise; the cost is the model's. The text encoder is a 1-layer UMT5 of the real
width (4096), since its cost is once per job and the published 5.7 B one cannot be made here.

`--check` builds the same configuration on the meta device (no memory, no GPU) and checks it
against the published model: 14 B parameters within 3 %, and the published shapes. CI runs it.
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TRANSFORMER_CONFIG = os.path.join(HERE, "helios-distilled-transformer.json")
RANDOM_MARKER = "spool-random-weights.json"

# Shapes of the published Helios-Distilled transformer's weights (its safetensors index).
PUBLISHED_SHAPES = {
    "patch_embedding.weight": (5120, 16, 1, 2, 2),
    "condition_embedder.text_embedder.linear_1.weight": (5120, 4096),
    "blocks.0.attn1.to_q.weight": (5120, 5120),
    "blocks.0.attn2.to_k.weight": (5120, 5120),
    "blocks.0.ffn.net.0.proj.weight": (13824, 5120),
    "blocks.0.ffn.net.2.weight": (5120, 13824),
    "blocks.39.attn1.to_out.0.weight": (5120, 5120),
    "proj_out.weight": (64, 5120),
}
PUBLISHED_PARAMETERS = 14e9


def transformer_config():
    with open(TRANSFORMER_CONFIG) as handle:
        config = json.load(handle)
    return {key: value for key, value in config.items() if not key.startswith("_")}


def check():
    """The architecture built on the meta device from the same configuration the GPU run uses."""
    import torch
    from diffusers import HeliosTransformer3DModel

    with torch.device("meta"):
        transformer = HeliosTransformer3DModel.from_config(transformer_config())
    count = sum(parameter.numel() for parameter in transformer.parameters())
    problems = []
    if abs(count - PUBLISHED_PARAMETERS) > 0.03 * PUBLISHED_PARAMETERS:
        problems.append(f"{count / 1e9:.3f} B parameters, not 14 B ± 3 %")
    shapes = {name: tuple(parameter.shape) for name, parameter in transformer.named_parameters()}
    for name, shape in PUBLISHED_SHAPES.items():
        if shapes.get(name) != shape:
            problems.append(f"{name}: {shapes.get(name)}, published {shape}")
    blocks = len(transformer.blocks)
    if blocks != 40:
        problems.append(f"{blocks} blocks, published 40")
    print(json.dumps({"parameters": count, "blocks": blocks, "problems": problems}))
    return 1 if problems else 0


def build(out_dir):
    from diffusers import HeliosDMDScheduler, HeliosPyramidPipeline, HeliosTransformer3DModel, AutoencoderKLWan
    from transformers import UMT5Config, UMT5EncoderModel
    import torch

    sys.path.insert(0, HERE)
    from make_tiny import tokenizer

    tok = tokenizer()
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tok), d_model=4096, d_kv=64, d_ff=256, num_layers=1, num_heads=2,
        relative_attention_num_buckets=32, relative_attention_max_distance=128,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))
    with torch.device("meta"):
        transformer = HeliosTransformer3DModel.from_config(transformer_config())
        vae = AutoencoderKLWan()
    scheduler = HeliosDMDScheduler(stages=3, gamma=1 / 3, use_dynamic_shifting=True, time_shift_type="linear")
    os.makedirs(out_dir, exist_ok=True)
    # The pipeline's index and the small parts, saved; the large parts get their configuration only.
    pipe = HeliosPyramidPipeline(tokenizer=tok, text_encoder=text_encoder, vae=None, scheduler=scheduler,
                                 transformer=None, is_cfg_zero_star=False, is_distilled=True)
    pipe.save_pretrained(out_dir)
    index_path = os.path.join(out_dir, "model_index.json")
    with open(index_path) as handle:
        index = json.load(handle)
    for name, module in (("transformer", transformer), ("vae", vae)):
        index[name] = ["diffusers", type(module).__name__]
        module.save_config(os.path.join(out_dir, name))
    with open(index_path, "w") as handle:
        json.dump(index, handle, indent=2)
    with open(os.path.join(out_dir, RANDOM_MARKER), "w") as handle:
        json.dump({"components": ["transformer", "vae"],
                   "note": "built from config.json with random weights on the device (Pipelines/helios/full_size.py)"},
                  handle)
    return out_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?")
    parser.add_argument("--check", action="store_true", help="check the architecture on the meta device")
    arguments = parser.parse_args()
    if arguments.check:
        return check()
    if not arguments.out_dir:
        parser.error("give OUT_DIR, or --check")
    print(build(arguments.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())

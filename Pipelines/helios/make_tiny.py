#!/usr/bin/env python3
"""Builds a tiny, randomly initialised Helios checkpoint folder, offline.

    python3 make_tiny.py OUT_DIR [--layout base|mid|distilled] [--seed N]
    python3 make_tiny.py OUT_DIR --all        # OUT_DIR/base, OUT_DIR/mid, OUT_DIR/distilled

The folder has the layout of the published checkpoints (model_index.json, transformer/,
vae/, text_encoder/, tokenizer/, scheduler/) and is loaded with the same
`DiffusionPipeline.from_pretrained` call as the real 28 GB ones, so everything the worker
does with a real Helios it does with this one: the pipeline class picked from
model_index.json, the scheduler, 9 latent frames a chunk decoded to 33 pixel frames by the
Wan VAE, the history windows, the pyramid stages, I2V and V2V encoding. Only the sizes are
small (two transformer layers, a 3-channel-wide VAE, a 2-layer UMT5) and the pictures are
noise. Nothing is fetched: the tokenizer is a Unigram vocabulary built here.

Layouts, as published:
- base:      HeliosPipeline, HeliosScheduler (Helios-Base)
- mid:       HeliosPyramidPipeline, HeliosScheduler, CFG-Zero* (Helios-Mid)
- distilled: HeliosPyramidPipeline, HeliosDMDScheduler, is_distilled (Helios-Distilled)

All three are built in about 10 s (most of it importing torch and diffusers); 760 KB each.
"""

import argparse
import json
import os
import sys

LAYOUTS = ("base", "mid", "distilled")


def tokenizer():
    from transformers import T5TokenizerFast

    words = ("a fox runs through snow forest river city night day red blue green light dark "
             "camera slowly fast over under the of and in on with at sky sea sun rain").split()
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + word, -1.0 - index / 100) for index, word in enumerate(words)]
    vocab += [(letter, -5.0) for letter in letters] + [("\u2581", -4.0)]
    return T5TokenizerFast(vocab=vocab, extra_ids=0)


# The width of every tiny text encoder (Helios', Wan's and LTX's transformers read it).
TEXT_DIM = 32


def text_encoder(vocab_size, umt5=True):
    """A 2-layer T5 encoder of width TEXT_DIM: UMT5, as Helios and Wan use, or T5, as LTX does."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config, model = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    return model(config(
        vocab_size=vocab_size, d_model=TEXT_DIM, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=32,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))


def wan_vae():
    """The Wan VAE (Helios' and Wan's), 3 channels wide: 4x in time, 8x in space, as published."""
    from diffusers import AutoencoderKLWan

    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True])


def shrink(*modules):
    """Puts random-weight modules in eval mode with their weights halved: small weights keep the
    noise finite through every layer in float32 and bf16."""
    import torch

    for module in modules:
        module.eval()
        with torch.no_grad():
            for parameter in module.parameters():
                parameter.mul_(0.5)


def save(pipe, out_dir, layout, seed, family):
    """Writes the checkpoint as the published ones are laid out, and spool-tiny.json saying what it is."""
    pipe.save_pretrained(out_dir)
    with open(os.path.join(out_dir, "spool-tiny.json"), "w") as handle:
        json.dump({"layout": layout, "seed": seed, "note": f"random weights, built by Pipelines/{family}/make_tiny.py"}, handle)
    return out_dir


def components(layout, vocab_size):
    from diffusers import HeliosDMDScheduler, HeliosScheduler, HeliosTransformer3DModel

    encoder = text_encoder(vocab_size)
    transformer = HeliosTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16,
        out_channels=16, text_dim=TEXT_DIM, freq_dim=32, ffn_dim=32, num_layers=2,
        rope_dim=(4, 4, 4))
    vae = wan_vae()
    shrink(encoder, transformer, vae)
    # The schedulers as the published checkpoints configure them: one stage for Base, three
    # pyramid stages (gamma 1/3) for Mid and Distilled, dynamic shifting everywhere.
    if layout == "base":
        scheduler = HeliosScheduler(stages=1, stage_range=[0, 1], use_dynamic_shifting=True)
    elif layout == "mid":
        scheduler = HeliosScheduler(stages=3, gamma=1 / 3, use_dynamic_shifting=True)
    else:
        scheduler = HeliosDMDScheduler(stages=3, gamma=1 / 3, use_dynamic_shifting=True,
                                       time_shift_type="linear")
    return encoder, transformer, vae, scheduler


def build(out_dir, layout="base", seed=0):
    import torch
    from diffusers import HeliosPipeline, HeliosPyramidPipeline

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    torch.manual_seed(seed)
    tok = tokenizer()
    encoder, transformer, vae, scheduler = components(layout, len(tok))
    parts = dict(tokenizer=tok, text_encoder=encoder, vae=vae, scheduler=scheduler,
                 transformer=transformer)
    if layout == "base":
        pipe = HeliosPipeline(**parts)
    else:
        pipe = HeliosPyramidPipeline(**parts, is_cfg_zero_star=(layout == "mid"),
                                     is_distilled=(layout == "distilled"))
    return save(pipe, out_dir, layout, seed, "helios")


def cli(description, build, layouts):
    """The command line of every family's make_tiny.py: OUT_DIR [--layout L] [--seed N], or
    --all for every layout, each in a folder of its name."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("out_dir")
    parser.add_argument("--layout", choices=layouts, default=layouts[0])
    parser.add_argument("--all", action="store_true", help="build every layout, each in a folder of its name")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    if arguments.all:
        for layout in layouts:
            print(build(os.path.join(arguments.out_dir, layout), layout, arguments.seed))
    else:
        print(build(arguments.out_dir, arguments.layout, arguments.seed))


def main():
    cli(__doc__.splitlines()[0], build, LAYOUTS)


if __name__ == "__main__":
    sys.exit(main())

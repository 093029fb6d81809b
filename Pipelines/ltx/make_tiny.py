#!/usr/bin/env python3
"""Builds a tiny, randomly initialised LTX-Video checkpoint folder, offline.

    python3 make_tiny.py OUT_DIR [--seed N]           # the checkpoint in OUT_DIR
    python3 make_tiny.py OUT_DIR --all        # OUT_DIR/ltx (the one layout)

The folder has the layout of Lightricks' published Diffusers checkpoints (model_index.json
naming LTXPipeline; transformer/, vae/, text_encoder/ (T5), tokenizer/, scheduler/) and is
loaded with the same `DiffusionPipeline.from_pretrained` call as the real ones; the worker
builds LTXConditionPipeline on the same modules for images and chained clips. Only the sizes
are small (one transformer layer, an 8-channel VAE, a 2-layer T5) and the pictures are noise;
the VAE compresses as the published one does, 8x in time and 32x in space, so clips are 8k+1
frames and sides multiples of 32.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helios"))
from make_tiny import TEXT_DIM, cli, save, shrink, text_encoder, tokenizer  # noqa: E402  (Helios' parts)


def build(out_dir, layout="ltx", seed=0):
    import torch
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXPipeline, LTXVideoTransformer3DModel

    torch.manual_seed(seed)
    tok = tokenizer()
    encoder = text_encoder(len(tok), umt5=False)
    # As published: 8x in time (three halvings), 32x in space (three halvings of 4x4 patches).
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=4, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, num_layers=1, caption_channels=TEXT_DIM)
    shrink(encoder, transformer, vae)
    # Flow matching without dynamic shifting, as LTX-Video 0.9.5 on configures it: the
    # LTXConditionPipeline passes its own timesteps, and raises where a scheduler shifts them
    # (diffusers 0.42.1: "`mu` must be passed").
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=False, base_shift=0.95, max_shift=2.05,
                                                base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    pipe = LTXPipeline(scheduler=scheduler, vae=vae, text_encoder=encoder, tokenizer=tok, transformer=transformer)
    return save(pipe, out_dir, layout, seed, "ltx")


def main():
    cli(__doc__.splitlines()[0], build, ("ltx",))


if __name__ == "__main__":
    sys.exit(main())

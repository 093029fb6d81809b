#!/usr/bin/env python3
"""Builds a tiny, randomly initialised Wan checkpoint folder, offline.

    python3 make_tiny.py OUT_DIR [--layout t2v|ti2v|i2v] [--seed N]
    python3 make_tiny.py OUT_DIR --all        # OUT_DIR/t2v, OUT_DIR/ti2v, OUT_DIR/i2v

The folder has the layout of the published Diffusers checkpoints (model_index.json,
transformer/, vae/, text_encoder/, tokenizer/, scheduler/) and is loaded with the same
`DiffusionPipeline.from_pretrained` call as the real ones: the pipeline class and
`expand_timesteps` come from model_index.json, the UniPC flow scheduler from scheduler/, and
clips of 4k+1 frames are decoded by the Wan VAE. Only the sizes are small (two transformer
layers, a 3-channel-wide VAE, a 2-layer UMT5) and the pictures are noise.

Layouts, as published:
- t2v:  WanPipeline (Wan 2.1 T2V): text only, one clip a job
- ti2v: WanPipeline with expand_timesteps (Wan 2.2 TI2V): text or a first image; the worker
        chains clips through WanImageToVideoPipeline on the same components
- i2v:  WanImageToVideoPipeline (Wan 2.1 I2V): a first image, encoded by a CLIP vision tower
        beside the VAE (a 36-channel transformer: noise, mask and the image's latents)
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helios"))
from make_tiny import TEXT_DIM, cli, save, shrink, text_encoder, tokenizer, wan_vae  # noqa: E402  (Helios' parts)

LAYOUTS = ("t2v", "ti2v", "i2v")


def build(out_dir, layout="t2v", seed=0):
    import torch
    from diffusers import UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    torch.manual_seed(seed)
    tok = tokenizer()
    encoder = text_encoder(len(tok))
    image_dim = 32
    i2v = layout == "i2v"
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36 if i2v else 16,
        out_channels=16, text_dim=TEXT_DIM, freq_dim=32, ffn_dim=32, num_layers=2, rope_max_seq_len=32,
        image_dim=image_dim if i2v else None, added_kv_proj_dim=24 if i2v else None)
    vae = wan_vae()
    shrink(encoder, transformer, vae)
    # The published checkpoints' scheduler: UniPC on flow sigmas, shift 3 (480p) or 5 (720p).
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        num_train_timesteps=1000, flow_shift=3.0 if layout == "t2v" else 5.0)
    if i2v:
        from diffusers import WanImageToVideoPipeline
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

        image_encoder = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=image_dim, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
            image_size=32, patch_size=8)).eval()
        processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        pipe = WanImageToVideoPipeline(tokenizer=tok, text_encoder=encoder, vae=vae, scheduler=scheduler,
                                       transformer=transformer, image_encoder=image_encoder, image_processor=processor)
    else:
        pipe = WanPipeline(tokenizer=tok, text_encoder=encoder, vae=vae, scheduler=scheduler,
                           transformer=transformer, expand_timesteps=(layout == "ti2v"))
    return save(pipe, out_dir, layout, seed, "wan")


def main():
    cli(__doc__.splitlines()[0], build, LAYOUTS)


if __name__ == "__main__":
    sys.exit(main())

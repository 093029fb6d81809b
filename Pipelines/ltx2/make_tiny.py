#!/usr/bin/env python3
"""Builds a tiny, randomly initialised LTX-2 checkpoint folder, offline.

    python3 make_tiny.py OUT_DIR [--seed N]
    python3 make_tiny.py OUT_DIR --all        # OUT_DIR/ltx2

The folder has the published layout (model_index.json naming LTX2Pipeline; transformer/,
vae/, audio_vae/, vocoder/, connectors/, text_encoder/ (Gemma 3), tokenizer/, scheduler/) and
is loaded with the same `DiffusionPipeline.from_pretrained` call as the real weights, so the
worker drives the real LTX2Pipeline: text through Gemma 3 and the connectors, video and sound
denoised together by the audio-video transformer, the video VAE (8x in time, 32x in space, as
published), the audio VAE's mel latents and the vocoder's waveform. Only the sizes are small and
the pictures and sound are noise. Nothing is fetched: the tokenizer is a BPE vocabulary of
letters built here, the text encoder a 2-layer Gemma 3 of width 32 with a one-layer vision tower
(LTX-2 reads only its text half).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "helios"))
from make_tiny import cli, save, shrink  # noqa: E402  (Helios' parts)

# The tiny vocoder's rate: mel frames at 100 a second (16 kHz analysis, hop 160, as published),
# upsampled 160 times. Its sound lasts as long as its video, as the real model's does.
SAMPLE_RATE = 16000


def tokenizer():
    from transformers import GemmaTokenizerFast

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    tokens = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "\u2581"] + letters + ["\u2581" + letter for letter in letters]
    return GemmaTokenizerFast(vocab={token: index for index, token in enumerate(tokens)},
                              merges=[("\u2581", letter) for letter in letters])


def text_encoder(vocab_size):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(
        text_config=dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
                         sliding_window=64, pad_token_id=0, eos_token_id=1, bos_token_id=2),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14),
        mm_tokens_per_image=4)
    return Gemma3ForConditionalGeneration(config)


def build(out_dir, layout="ltx2", seed=0):
    import torch
    from diffusers import (AutoencoderKLLTX2Audio, AutoencoderKLLTX2Video, FlowMatchEulerDiscreteScheduler,
                           LTX2Pipeline, LTX2VideoTransformer3DModel)
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    torch.manual_seed(seed)
    tok = tokenizer()
    encoder = text_encoder(len(tok))
    width = encoder.config.text_config.hidden_size
    layers = encoder.config.text_config.num_hidden_layers
    transformer = LTX2VideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=1, qk_norm="rms_norm_across_heads",
        caption_channels=width, rope_double_precision=False, rope_type="split", audio_sampling_rate=16000,
        audio_hop_length=160)
    connectors = LTX2TextConnectors(
        caption_channels=width, text_proj_in_factor=layers + 1, video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8, video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split")
    # The published block layout (its down and up sampling: 8x in time, 32x in space with 4x4
    # patches), 8 to 64 channels wide instead of 256 to 2,048.
    vae = AutoencoderKLLTX2Video(
        latent_channels=8, block_out_channels=(8, 16, 32, 64), decoder_block_out_channels=(8, 16, 32),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1), spatial_compression_ratio=32,
        temporal_compression_ratio=8)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8)
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins, hidden_channels=16, out_channels=2,
        upsample_kernel_sizes=[8, 8, 10, 4], upsample_factors=[4, 4, 5, 2], resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1, output_sampling_rate=SAMPLE_RATE)
    shrink(encoder, transformer, connectors, vae, audio_vae, vocoder)
    pipe = LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae, text_encoder=encoder,
                        tokenizer=tok, connectors=connectors, transformer=transformer, vocoder=vocoder)
    return save(pipe, out_dir, layout, seed, "ltx2")


def main():
    cli(__doc__.splitlines()[0], build, ("ltx2",))


if __name__ == "__main__":
    sys.exit(main())

"""Model configurations of the reference Stable Diffusion models: the real SD1.5 and SD2.1-768-v
architectures ("full") and the reduced ones committed as test fixtures ("tiny"), plus the JSON files
(scheduler, tokenizer, model_index) written exactly as the published SD1.5 / SD2.1 folders carry them.

Why the tiny sizes are what they are: Tests/Fixtures must stay within 16 MB in total, and each tiny
family is stored twice (sd15: fp32 folder + bf16 single file = 6 bytes per parameter; sd2v: fp16 folder +
fp16 single file = 4 bytes per parameter). The CLIP token embedding alone is 49,408 x hidden parameters,
so the text width is 4, and the UNet uses 32 channels everywhere (32 is the smallest width GroupNorm(32)
allows) with one resnet per down level.
"""

FAMILIES = ("sd15", "sd2v")

_UNET_COMMON = {
    "act_fn": "silu",
    "center_input_sample": False,
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "out_channels": 4,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-5,
    "norm_num_groups": 32,
}

_VAE_COMMON = {
    "act_fn": "silu",
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "norm_num_groups": 32,
    "scaling_factor": 0.18215,
}


def unet_config(family, scale):
    cfg = dict(_UNET_COMMON)
    if scale == "full":
        cfg.update(
            block_out_channels=[320, 640, 1280, 1280],
            down_block_types=["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
            up_block_types=["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
            layers_per_block=2,
        )
        if family == "sd15":
            cfg.update(attention_head_dim=8, cross_attention_dim=768, sample_size=64)
        else:
            cfg.update(
                attention_head_dim=[5, 10, 20, 20],
                cross_attention_dim=1024,
                sample_size=96,
                use_linear_projection=True,
                upcast_attention=True,
            )
    else:
        cfg.update(
            block_out_channels=[32, 32, 32],
            down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
            up_block_types=["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
            layers_per_block=1,
            cross_attention_dim=4,
            sample_size=8,
        )
        if family == "sd15":
            cfg.update(attention_head_dim=8)
        else:
            cfg.update(attention_head_dim=[1, 1, 1], use_linear_projection=True, upcast_attention=True)
    return cfg


def vae_config(scale):
    cfg = dict(_VAE_COMMON)
    cfg.update(
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
    )
    if scale == "full":
        cfg.update(block_out_channels=[128, 256, 512, 512], layers_per_block=2, sample_size=512)
    else:
        cfg.update(block_out_channels=[32, 32, 32, 32], layers_per_block=1, sample_size=64)
    return cfg


def text_config(family, scale):
    """CLIPTextConfig kwargs. bos/eos/pad ids are the (legacy) values both SD folders carry: 0, 2, 1."""
    cfg = {
        "vocab_size": 49408,
        "max_position_embeddings": 77,
        "layer_norm_eps": 1e-5,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 1,
        "attention_dropout": 0.0,
        "dropout": 0.0,
        "initializer_factor": 1.0,
        "initializer_range": 0.02,
    }
    if family == "sd15":
        cfg["hidden_act"] = "quick_gelu"
        if scale == "full":
            cfg.update(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, projection_dim=768)
        else:
            cfg.update(hidden_size=4, intermediate_size=8, num_hidden_layers=2, num_attention_heads=1, projection_dim=4)
    else:
        cfg["hidden_act"] = "gelu"
        if scale == "full":
            cfg.update(hidden_size=1024, intermediate_size=4096, num_hidden_layers=23, num_attention_heads=16, projection_dim=512)
        else:
            cfg.update(hidden_size=4, intermediate_size=8, num_hidden_layers=2, num_attention_heads=1, projection_dim=4)
    return cfg


def scheduler_config(family):
    if family == "sd15":
        return {
            "_class_name": "PNDMScheduler",
            "_diffusers_version": "0.6.0",
            "beta_end": 0.012,
            "beta_schedule": "scaled_linear",
            "beta_start": 0.00085,
            "num_train_timesteps": 1000,
            "set_alpha_to_one": False,
            "skip_prk_steps": True,
            "steps_offset": 1,
            "trained_betas": None,
            "clip_sample": False,
        }
    return {
        "_class_name": "DDIMScheduler",
        "_diffusers_version": "0.8.0",
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "num_train_timesteps": 1000,
        "prediction_type": "v_prediction",
        "set_alpha_to_one": False,
        "skip_prk_steps": True,
        "steps_offset": 1,
        "trained_betas": None,
    }


def _added(content):
    return {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}


def tokenizer_files(family):
    """(tokenizer_config.json, special_tokens_map.json) as the published SD folders have them."""
    pad = "<|endoftext|>" if family == "sd15" else "!"
    config = {
        "add_prefix_space": False,
        "bos_token": {"__type": "AddedToken", **_added("<|startoftext|>")},
        "do_lower_case": True,
        "eos_token": {"__type": "AddedToken", **_added("<|endoftext|>")},
        "errors": "replace",
        "model_max_length": 77,
        "name_or_path": "openai/clip-vit-large-patch14" if family == "sd15" else "stabilityai/stable-diffusion-2",
        "pad_token": pad,
        "special_tokens_map_file": "./special_tokens_map.json",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": {"__type": "AddedToken", **_added("<|endoftext|>")},
    }
    special = {
        "bos_token": _added("<|startoftext|>"),
        "eos_token": _added("<|endoftext|>"),
        "pad_token": pad,
        "unk_token": _added("<|endoftext|>"),
    }
    return config, special


def model_index(family):
    return {
        "_class_name": "StableDiffusionPipeline",
        "_diffusers_version": "0.42.1",
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "PNDMScheduler" if family == "sd15" else "DDIMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }

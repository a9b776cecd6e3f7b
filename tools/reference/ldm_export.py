"""Writes diffusers-format Stable Diffusion weights in the original LDM/CompVis single-file key layout
(written from the layout of the published checkpoints, not from diffusers' converter).

Every function takes a diffusers state dict (keys without a component prefix) and returns
{ldm_key: tensor}; each raises if any diffusers key is left unmapped."""
import math

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer.text_model."
OPENCLIP_PREFIX = "cond_stage_model.model."

_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}

_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


class _Mapper:
    """Maps diffusers keys by longest matching module prefix; tracks which source keys were used."""

    def __init__(self, state_dict):
        self.state_dict = state_dict
        self.out = {}
        self.used = set()

    def tensor(self, key, value):
        self.out[key] = value

    def copy(self, ldm_key, diffusers_key, transform=None):
        value = self.state_dict[diffusers_key]
        self.used.add(diffusers_key)
        self.out[ldm_key] = transform(value) if transform else value

    def copy_module(self, ldm_prefix, diffusers_prefix, renames=None, transform=None):
        """Copies every key under `diffusers_prefix.`; `renames` maps leading sub-module names."""
        found = False
        for key in self.state_dict:
            if not key.startswith(diffusers_prefix + "."):
                continue
            found = True
            rest = key[len(diffusers_prefix) + 1 :]
            for old, new in (renames or {}).items():
                if rest.startswith(old + "."):
                    rest = new + rest[len(old) :]
                    break
            self.copy(f"{ldm_prefix}.{rest}", key, transform)
        if not found:
            raise KeyError(f"no diffusers keys under {diffusers_prefix}")

    def check_complete(self, what):
        left = [k for k in self.state_dict if k not in self.used]
        if left:
            raise KeyError(f"{what}: unmapped diffusers keys {left[:10]}")
        return self.out


def unet_to_ldm(state_dict, config):
    m = _Mapper(state_dict)
    per_level = config["layers_per_block"]
    levels = len(config["block_out_channels"])
    m.copy_module("time_embed.0", "time_embedding.linear_1")
    m.copy_module("time_embed.2", "time_embedding.linear_2")
    m.copy_module("input_blocks.0.0", "conv_in")
    for level, kind in enumerate(config["down_block_types"]):
        for j in range(per_level):
            index = 1 + level * (per_level + 1) + j
            m.copy_module(f"input_blocks.{index}.0", f"down_blocks.{level}.resnets.{j}", _UNET_RESNET)
            if kind.startswith("CrossAttn"):
                m.copy_module(f"input_blocks.{index}.1", f"down_blocks.{level}.attentions.{j}")
        if level < levels - 1:
            m.copy_module(f"input_blocks.{(level + 1) * (per_level + 1)}.0.op", f"down_blocks.{level}.downsamplers.0.conv")
    m.copy_module("middle_block.0", "mid_block.resnets.0", _UNET_RESNET)
    m.copy_module("middle_block.1", "mid_block.attentions.0")
    m.copy_module("middle_block.2", "mid_block.resnets.1", _UNET_RESNET)
    for level, kind in enumerate(config["up_block_types"]):
        attention = kind.startswith("CrossAttn")
        for j in range(per_level + 1):
            index = level * (per_level + 1) + j
            m.copy_module(f"output_blocks.{index}.0", f"up_blocks.{level}.resnets.{j}", _UNET_RESNET)
            if attention:
                m.copy_module(f"output_blocks.{index}.1", f"up_blocks.{level}.attentions.{j}")
        if level < levels - 1:
            # The upsampler follows the resnet (and the transformer, when there is one) of the level's last block.
            slot = 2 if attention else 1
            m.copy_module(f"output_blocks.{level * (per_level + 1) + per_level}.{slot}.conv", f"up_blocks.{level}.upsamplers.0.conv")
    m.copy_module("out.0", "conv_norm_out")
    m.copy_module("out.2", "conv_out")
    return {UNET_PREFIX + k: v for k, v in m.check_complete("unet").items()}


def _conv1x1(tensor):
    # LDM's VAE attention uses 1x1 convolutions where diffusers uses linear layers.
    return tensor[:, :, None, None] if tensor.ndim == 2 else tensor


def vae_to_ldm(state_dict, config):
    m = _Mapper(state_dict)
    levels = len(config["block_out_channels"])
    per_level = config["layers_per_block"]
    resnet = {"conv_shortcut": "nin_shortcut"}
    for part in ("encoder", "decoder"):
        m.copy_module(f"{part}.conv_in", f"{part}.conv_in")
        m.copy_module(f"{part}.norm_out", f"{part}.conv_norm_out")
        m.copy_module(f"{part}.conv_out", f"{part}.conv_out")
        m.copy_module(f"{part}.mid.block_1", f"{part}.mid_block.resnets.0", resnet)
        m.copy_module(f"{part}.mid.block_2", f"{part}.mid_block.resnets.1", resnet)
        attn = f"{part}.mid_block.attentions.0"
        for old, new in _VAE_ATTENTION.items():
            for leaf in ("weight", "bias"):
                m.copy(f"{part}.mid.attn_1.{new}.{leaf}", f"{attn}.{old}.{leaf}", _conv1x1 if leaf == "weight" and old != "group_norm" else None)
    for level in range(levels):
        for j in range(per_level):
            m.copy_module(f"encoder.down.{level}.block.{j}", f"encoder.down_blocks.{level}.resnets.{j}", resnet)
        if level < levels - 1:
            m.copy_module(f"encoder.down.{level}.downsample.conv", f"encoder.down_blocks.{level}.downsamplers.0.conv")
    for block in range(levels):
        # LDM numbers decoder levels by resolution (0 = full size); diffusers in execution order.
        level = levels - 1 - block
        for j in range(per_level + 1):
            m.copy_module(f"decoder.up.{level}.block.{j}", f"decoder.up_blocks.{block}.resnets.{j}", resnet)
        if block < levels - 1:
            m.copy_module(f"decoder.up.{level}.upsample.conv", f"decoder.up_blocks.{block}.upsamplers.0.conv")
    m.copy_module("quant_conv", "quant_conv")
    m.copy_module("post_quant_conv", "post_quant_conv")
    return {VAE_PREFIX + k: v for k, v in m.check_complete("vae").items()}


def _text_key(key):
    # transformers >= 5.6 flattens CLIPTextModel; published files keep the `text_model.` level.
    return key if key.startswith("text_model.") else "text_model." + key


def clip_to_ldm(state_dict, max_positions):
    """SD1 layout: the Hugging Face CLIP text model under `cond_stage_model.transformer.` (with the int64
    `position_ids` buffer the published checkpoints carry)."""
    out = {"cond_stage_model.transformer." + _text_key(k): v for k, v in state_dict.items() if not k.endswith("position_ids")}
    out[CLIP_PREFIX + "embeddings.position_ids"] = torch.arange(max_positions, dtype=torch.int64)[None, :]
    return out


def clip_to_openclip(state_dict, num_layers, extra_block, text_projection):
    """SD2 layout: OpenCLIP's text tower under `cond_stage_model.model.`, with q/k/v fused into in_proj.
    `extra_block` is a dict of OpenCLIP resblock tensors (ln_1.weight, attn.in_proj_weight, ...) appended
    as block `num_layers`: the published SD2 checkpoints carry one block more than diffusers uses."""
    sd = {(k[len("text_model.") :] if k.startswith("text_model.") else k): v for k, v in state_dict.items()}
    m = _Mapper(sd)
    m.copy("token_embedding.weight", "embeddings.token_embedding.weight")
    m.copy("positional_embedding", "embeddings.position_embedding.weight")
    m.copy("ln_final.weight", "final_layer_norm.weight")
    m.copy("ln_final.bias", "final_layer_norm.bias")
    for n in range(num_layers):
        src, dst = f"encoder.layers.{n}", f"transformer.resblocks.{n}"
        for leaf in ("weight", "bias"):
            parts = [sd[f"{src}.self_attn.{p}_proj.{leaf}"] for p in ("q", "k", "v")]
            m.used.update(f"{src}.self_attn.{p}_proj.{leaf}" for p in ("q", "k", "v"))
            m.tensor(f"{dst}.attn.in_proj_{leaf}", torch.cat(parts, dim=0))
        m.copy_module(f"{dst}.attn.out_proj", f"{src}.self_attn.out_proj")
        m.copy_module(f"{dst}.ln_1", f"{src}.layer_norm1")
        m.copy_module(f"{dst}.ln_2", f"{src}.layer_norm2")
        m.copy_module(f"{dst}.mlp.c_fc", f"{src}.mlp.fc1")
        m.copy_module(f"{dst}.mlp.c_proj", f"{src}.mlp.fc2")
    for leaf, value in extra_block.items():
        m.tensor(f"transformer.resblocks.{num_layers}.{leaf}", value)
    m.tensor("text_projection", text_projection)
    m.tensor("logit_scale", torch.tensor(math.log(1 / 0.07)))
    m.used.update(k for k in sd if k.endswith("position_ids"))
    return {OPENCLIP_PREFIX + k: v for k, v in m.check_complete("openclip").items()}


def random_openclip_block(width, mlp_width, generator):
    """One OpenCLIP resblock with the same init rules as random_init.randomize."""
    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=generator) * std + mean

    return {
        "ln_1.weight": normal([width], 0.1, 1.0),
        "ln_1.bias": normal([width], 0.1),
        "attn.in_proj_weight": normal([3 * width, width], 1 / math.sqrt(width)),
        "attn.in_proj_bias": normal([3 * width], 0.1),
        "attn.out_proj.weight": normal([width, width], 1 / math.sqrt(width)),
        "attn.out_proj.bias": normal([width], 0.1),
        "ln_2.weight": normal([width], 0.1, 1.0),
        "ln_2.bias": normal([width], 0.1),
        "mlp.c_fc.weight": normal([mlp_width, width], 1 / math.sqrt(width)),
        "mlp.c_fc.bias": normal([mlp_width], 0.1),
        "mlp.c_proj.weight": normal([width, mlp_width], 1 / math.sqrt(mlp_width)),
        "mlp.c_proj.bias": normal([width], 0.1),
    }


def ddpm_buffers(beta_start=0.00085, beta_end=0.012, steps=1000):
    """The noise-schedule buffers LDM checkpoints carry next to the weights (optional for loaders)."""
    betas = torch.linspace(beta_start**0.5, beta_end**0.5, steps, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
    prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
    return {"betas": betas, "alphas_cumprod": alphas_cumprod, "alphas_cumprod_prev": prev}

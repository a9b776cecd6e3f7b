"""Dumps per-component reference tensors of the tiny models (fp32) for Latent's model tests.

    python tools/reference/dump_components.py

Writes Tests/Fixtures/reference/components-{sd15,sd2v}-tiny.safetensors. Inputs are seeded random tensors;
int-valued tensors (token ids) are stored as float32. Besides the required inputs/outputs, a few
intermediate activations (`*.out` of sub-modules, `text.hidden_states.N`) help locate a mismatch.
"""
import pathlib

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODELS = ROOT / "Tests/Fixtures/models"
OUT = ROOT / "Tests/Fixtures/reference"
PROMPT = "a photograph of an astronaut riding a horse, oil on canvas"
SEEDS = {"sd15-tiny": 11, "sd2v-tiny": 12}


def _hooks(module, names, store, prefix):
    handles = []
    for name in names:
        sub = module.get_submodule(name)

        def hook(_module, _inputs, output, name=name):
            value = output[0] if isinstance(output, tuple) else output
            store[f"{prefix}.{name}.out"] = value.detach().clone()

        handles.append(sub.register_forward_hook(hook))
    return handles


@torch.no_grad()
def dump(name):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    folder = MODELS / name
    unet = UNet2DConditionModel.from_pretrained(folder, subfolder="unet", dtype=torch.float32).eval()
    vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", dtype=torch.float32).eval()
    text = CLIPTextModel.from_pretrained(folder, subfolder="text_encoder", dtype=torch.float32).eval()
    tokenizer = CLIPTokenizer.from_pretrained(folder, subfolder="tokenizer")
    g = torch.Generator().manual_seed(SEEDS[name])
    t = {}

    t["unet.sample"] = torch.randn([2, 4, 8, 12], generator=g)
    t["unet.timesteps"] = torch.tensor([981.0, 401.0])
    t["unet.encoder_hidden_states"] = torch.randn([2, 77, unet.config.cross_attention_dim], generator=g)
    levels = len(unet.config.block_out_channels)
    probes = ["time_embedding", "conv_in", "mid_block"] + [f"down_blocks.{i}" for i in range(levels)] + [f"up_blocks.{i}" for i in range(levels)]
    handles = _hooks(unet, probes, t, "unet")
    t["unet.out"] = unet(t["unet.sample"], t["unet.timesteps"], t["unet.encoder_hidden_states"]).sample
    for h in handles:
        h.remove()

    t["vae.decode.latents"] = torch.randn([1, 4, 8, 12], generator=g) / vae.config.scaling_factor
    handles = _hooks(vae, ["post_quant_conv", "decoder.mid_block"], t, "vae.decode")
    t["vae.decode.out"] = vae.decode(t["vae.decode.latents"]).sample
    for h in handles:
        h.remove()
    t["vae.encode.image"] = torch.rand([1, 3, 64, 96], generator=g) * 2 - 1
    dist = vae.encode(t["vae.encode.image"]).latent_dist
    t["vae.encode.mean"], t["vae.encode.logvar"] = dist.mean, dist.logvar

    ids = tokenizer(PROMPT, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt").input_ids
    t["text.input_ids"] = ids.to(torch.float32)
    out = text(ids, output_hidden_states=True)
    t["text.last_hidden_state"] = out.last_hidden_state
    for i, hidden in enumerate(out.hidden_states):
        t[f"text.hidden_states.{i}"] = hidden
    t = {k: v.to(torch.float32).contiguous() for k, v in t.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"components-{name}.safetensors"
    save_file(t, path, metadata={"prompt": PROMPT, "model": f"Tests/Fixtures/models/{name}"})
    print(f"{path.relative_to(ROOT)} ({path.stat().st_size} bytes)")
    for k, v in t.items():
        print(f"  {k:40s} {list(v.shape)} std={v.std().item():.4f}")


if __name__ == "__main__":
    torch.manual_seed(0)
    for model in SEEDS:
        dump(model)

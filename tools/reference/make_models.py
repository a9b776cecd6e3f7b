"""Builds random-weight Stable Diffusion models with the SD1.5 and SD2.1-768-v architectures.

    python tools/reference/make_models.py --scale tiny --out Tests/Fixtures/models
    python tools/reference/make_models.py --scale full --out /tmp/latent-full   # never commit

Writes, for SCALE in {tiny, full}:
    sd15-SCALE/                    diffusers folder (tiny: fp32, full: fp16)
    sd2v-SCALE/                    diffusers folder (fp16)
    sd15-SCALE-bf16.safetensors    LDM/CompVis single file, BF16, same weights as sd15-SCALE
    sd2v-SCALE-fp16.safetensors    SD2 LDM single file (OpenCLIP text tower + one extra block), F16
Every file is validated by loading it back with diffusers (folder: from_pretrained; single file:
from_single_file with config=<folder>) and comparing every parameter.
"""
import argparse
import json
import os
import pathlib
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import ldm_export  # noqa: E402
import sd_configs  # noqa: E402
from clip_vocab import write_tokenizer_files  # noqa: E402
from random_init import randomize, rescale_output  # noqa: E402

SEEDS = {"sd15": {"unet": 1501, "text": 1502}, "sd2v": {"unet": 2101, "text": 2102, "extra": 2103}, "vae": 1503}
CALIBRATION_SEED = 7


def _json(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")


@torch.no_grad()
def build_unet(family, scale):
    from diffusers import UNet2DConditionModel

    config = sd_configs.unet_config(family, scale)
    unet = UNet2DConditionModel(**config).eval()
    randomize(unet, SEEDS[family]["unet"])
    g = torch.Generator().manual_seed(CALIBRATION_SEED)
    size = 8 if scale == "tiny" else 64
    sample = torch.randn([1, 4, size, size], generator=g)
    context = torch.randn([1, 77, config["cross_attention_dim"]], generator=g)
    out = unet(sample, torch.tensor([500.0]), context).sample
    rescale_output(unet.conv_out, out.std().item(), 1.0)
    return unet, config


@torch.no_grad()
def build_vae(scale):
    from diffusers import AutoencoderKL

    config = sd_configs.vae_config(scale)
    vae = AutoencoderKL(**config).eval()
    randomize(vae, SEEDS["vae"])
    g = torch.Generator().manual_seed(CALIBRATION_SEED)
    size = 64 if scale == "tiny" else 256
    image = torch.rand([1, 3, size, size], generator=g) * 2 - 1
    moments = vae.quant_conv(vae.encoder(image))
    rescale_output(vae.encoder.conv_out, moments.std().item(), 1.0)
    latents = torch.randn([1, 4, size // 8, size // 8], generator=g) / config["scaling_factor"]
    # Decoded images should sit mostly inside [-1, 1] so the uint8 reference images are not saturated.
    rescale_output(vae.decoder.conv_out, vae.decode(latents).sample.std().item(), 0.45)
    return vae, config


def build_text(family, scale):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = sd_configs.text_config(family, scale)
    text = CLIPTextModel(CLIPTextConfig(**config)).eval()
    randomize(text, SEEDS[family]["text"])
    return text, config


def round_to(model, dtype):
    """Rounds the weights in place to `dtype` precision while keeping them fp32."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def _state(model, dtype):
    return {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items() if v.is_floating_point()}


def save_folder(folder, family, unet, vae, text, dtype, tokenizer_source=None):
    folder.mkdir(parents=True, exist_ok=True)
    unet.to(dtype).save_pretrained(folder / "unet", safe_serialization=True)
    vae.to(dtype).save_pretrained(folder / "vae", safe_serialization=True)
    unet.to(torch.float32), vae.to(torch.float32)
    te = folder / "text_encoder"
    te.mkdir(parents=True, exist_ok=True)
    text_config = text.config.to_dict()
    text_config.update(architectures=["CLIPTextModel"], torch_dtype=str(dtype).removeprefix("torch."))
    text_config.pop("dtype", None)
    _json(te / "config.json", text_config)
    # Published SD folders name text-encoder tensors `text_model.*` and carry the int64 position_ids buffer.
    weights = {ldm_export._text_key(k): v for k, v in _state(text, dtype).items()}
    weights["text_model.embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None, :]
    save_file(weights, te / "model.safetensors", metadata={"format": "pt"})
    tok = folder / "tokenizer"
    if tokenizer_source is None:
        write_tokenizer_files(tok)
    else:
        # Same vocabulary in both families: link instead of storing the 1.5 MB twice.
        tok.mkdir(parents=True, exist_ok=True)
        for name in ("vocab.json", "merges.txt"):
            link = tok / name
            if link.exists() or link.is_symlink():
                link.unlink()
            link.symlink_to(os.path.relpath(tokenizer_source / name, tok))
    tokenizer_config, special_tokens = sd_configs.tokenizer_files(family)
    _json(tok / "tokenizer_config.json", tokenizer_config)
    _json(tok / "special_tokens_map.json", special_tokens)
    _json(folder / "scheduler" / "scheduler_config.json", sd_configs.scheduler_config(family))
    _json(folder / "model_index.json", sd_configs.model_index(family))


def save_single_file(path, family, unet, unet_config, vae, vae_config, text, text_config, dtype):
    tensors = {}
    tensors.update(ldm_export.unet_to_ldm(unet.state_dict(), unet_config))
    tensors.update(ldm_export.vae_to_ldm(vae.state_dict(), vae_config))
    text_state = text.state_dict()
    if family == "sd15":
        tensors.update(ldm_export.clip_to_ldm(text_state, text_config["max_position_embeddings"]))
    else:
        g = torch.Generator().manual_seed(SEEDS["sd2v"]["extra"])
        width, mlp = text_config["hidden_size"], text_config["intermediate_size"]
        extra = ldm_export.random_openclip_block(width, mlp, g)
        projection = torch.randn([width, width], generator=g) / width**0.5
        tensors.update(ldm_export.clip_to_openclip(text_state, text_config["num_hidden_layers"], extra, projection))
    tensors.update(ldm_export.ddpm_buffers())
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    save_file(tensors, path, metadata={"format": "pt"})
    return len(tensors)


def _compare(name, expected, actual, dtype):
    exp = {k: v for k, v in expected.named_parameters()}
    act = {k: v for k, v in actual.named_parameters()}
    if exp.keys() != act.keys():
        raise AssertionError(f"{name}: parameter names differ: {sorted(exp.keys() ^ act.keys())[:10]}")
    for key, value in exp.items():
        got = act[key]
        if got.device.type == "meta":
            raise AssertionError(f"{name}.{key} was not loaded")
        want = value.detach().to(dtype).to(torch.float32)
        if got.dtype != torch.float32 or not torch.equal(got.detach(), want):
            raise AssertionError(f"{name}.{key}: values differ (dtype {got.dtype})")
    return len(exp)


def validate(folder, single_file, unet, vae, text, folder_dtype, file_dtype):
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    counts = {}
    for name, model in (("unet", unet), ("vae", vae), ("text_encoder", text)):
        counts[name] = _compare(f"folder {name}", model, getattr(pipe, name), folder_dtype)
    del pipe  # full scale: keep one pipeline in memory at a time
    single = StableDiffusionPipeline.from_single_file(
        str(single_file), config=str(folder), local_files_only=True, dtype=torch.float32
    )
    for name, model in (("unet", unet), ("vae", vae), ("text_encoder", text)):
        _compare(f"single-file {name}", model, getattr(single, name), file_dtype)
    return counts


@torch.no_grad()
def report_stats(unet, unet_config, vae, text):
    g = torch.Generator().manual_seed(99)
    sample = torch.randn([2, 4, 8, 12], generator=g)
    context = torch.randn([2, 77, unet_config["cross_attention_dim"]], generator=g)
    u = unet(sample, torch.tensor([981.0, 401.0]), context).sample
    d = vae.decode(torch.randn([1, 4, 8, 12], generator=g) / 0.18215).sample
    e = vae.encode(torch.rand([1, 3, 64, 96], generator=g) * 2 - 1).latent_dist
    t = text(torch.randint(0, 49408, [1, 77], generator=g)).last_hidden_state
    stats = {"unet.out": u.std(), "vae.decode": d.std(), "vae.mean": e.mean.std(), "vae.logvar": e.logvar.std(), "text": t.std()}
    for k, v in stats.items():
        if not (0.2 < v.item() < 5.0):
            raise AssertionError(f"{k} std {v.item():.3f} is degenerate")
    return " ".join(f"{k}={v.item():.3f}" for k, v in stats.items())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["tiny", "full"], required=True)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    parser.add_argument("--skip-validate", action="store_true", help="skip loading everything back (slow at full scale)")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    out, scale = args.out, args.scale
    out.mkdir(parents=True, exist_ok=True)

    vae, vae_config = build_vae(scale)
    for family in sd_configs.FAMILIES:
        unet, unet_config = build_unet(family, scale)
        text, text_config = build_text(family, scale)
        folder = out / f"{family}-{scale}"
        if family == "sd15":
            folder_dtype = torch.float32 if scale == "tiny" else torch.float16
            file_dtype, file_name = torch.bfloat16, f"sd15-{scale}-bf16.safetensors"
            tokenizer_source = None
        else:
            folder_dtype = file_dtype = torch.float16
            file_name = f"sd2v-{scale}-fp16.safetensors"
            # The folder and the single file must hold the same numbers: round once, up front.
            for model in (unet, text):
                round_to(model, torch.float16)
            tokenizer_source = out / f"sd15-{scale}" / "tokenizer" if scale == "tiny" else None
        # The VAE is shared; sd2v stores it in fp16 (rounded on save).
        family_vae = vae
        if family == "sd2v":
            import copy

            family_vae = copy.deepcopy(vae)
            round_to(family_vae, torch.float16)
        save_folder(folder, family, unet, family_vae, text, folder_dtype, tokenizer_source)
        count = save_single_file(out / file_name, family, unet, unet_config, family_vae, vae_config, text, text_config, file_dtype)
        print(f"{family}-{scale}: {report_stats(unet, unet_config, family_vae, text)}; single file {count} tensors")
        if not args.skip_validate:
            counts = validate(folder, out / file_name, unet, family_vae, text, folder_dtype, file_dtype)
            print(f"  validated folder and {file_name}: {counts} parameters equal")


if __name__ == "__main__":
    main()

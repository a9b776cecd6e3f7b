"""Builds the tiny random-weight 9-channel inpainting model (the SD1.5-inpainting UNet architecture at the
sd15-tiny widths) next to sd15-tiny.

    python tools/reference/make_models.py --scale tiny --out Tests/Fixtures/models   # first, if missing
    python tools/reference/make_inpaint_model.py --out Tests/Fixtures/models

Writes sd15-inpaint-tiny/: its own UNet (in_channels 9, fp16 to keep the fixture small — computed in fp32),
model_index.json and scheduler config; vae/, text_encoder/ and tokenizer/ are relative symlinks to
sd15-tiny's, so the inpainting model shares sd15-tiny's text encoder and VAE exactly as the published
SD1.5-inpainting checkpoint shares SD1.5's. Validated by loading it back with diffusers'
StableDiffusionInpaintPipeline and comparing every UNet parameter.
"""
import argparse
import os
import pathlib
import sys

import torch

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import make_models  # noqa: E402
import sd_configs  # noqa: E402
from random_init import randomize, rescale_output  # noqa: E402

UNET_SEED = 1504


@torch.no_grad()
def build_inpaint_unet():
    from diffusers import UNet2DConditionModel

    config = sd_configs.unet_config("sd15", "tiny")
    config["in_channels"] = 9
    unet = UNet2DConditionModel(**config).eval()
    randomize(unet, UNET_SEED)
    g = torch.Generator().manual_seed(make_models.CALIBRATION_SEED)
    sample = torch.randn([1, 9, 8, 8], generator=g)
    context = torch.randn([1, 77, config["cross_attention_dim"]], generator=g)
    out = unet(sample, torch.tensor([500.0]), context).sample
    rescale_output(unet.conv_out, out.std().item(), 1.0)
    # Stored in fp16: round now so the saved file and the reference model hold the same numbers.
    make_models.round_to(unet, torch.float16)
    return unet


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=pathlib.Path)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    base = args.out / "sd15-tiny"
    folder = args.out / "sd15-inpaint-tiny"
    if not (base / "model_index.json").exists():
        raise SystemExit(f"{base} is missing: run make_models.py --scale tiny first")
    folder.mkdir(parents=True, exist_ok=True)
    unet = build_inpaint_unet()
    unet.to(torch.float16).save_pretrained(folder / "unet", safe_serialization=True)
    unet.to(torch.float32)
    for name in ("vae", "text_encoder", "tokenizer"):
        link = folder / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(base / name, folder))
    make_models._json(folder / "scheduler" / "scheduler_config.json", sd_configs.scheduler_config("sd15"))
    index = sd_configs.model_index("sd15")
    index["_class_name"] = "StableDiffusionInpaintPipeline"
    make_models._json(folder / "model_index.json", index)

    from diffusers import StableDiffusionInpaintPipeline

    pipe = StableDiffusionInpaintPipeline.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    count = make_models._compare("inpaint unet", unet, pipe.unet, torch.float16)
    print(f"sd15-inpaint-tiny: {count} UNet parameters equal after reload; in_channels={pipe.unet.config.in_channels}")


if __name__ == "__main__":
    main()

"""img2img and inpainting references with diffusers' StableDiffusionImg2ImgPipeline and
StableDiffusionInpaintPipeline (fp32, CPU generator), plus resize references of VaeImageProcessor.

    python tools/reference/make_inpaint_model.py --out Tests/Fixtures/models   # once
    python tools/reference/dump_editing.py

Writes Tests/Fixtures/reference/editing/:
    init-64x64.png, init-96x64.png, init-70x69.png   init images (RGB, a smooth pattern plus noise)
    mask-64x64.png, mask-96x64.png                   masks (L; white = repaint, with 127/128 grey bands
                                                     either side of diffusers' 0.5 binarisation threshold)
    <case>.png            diffusers' uint8 image (output_type "np", then (x * 255).round())
    <case>.safetensors    latents.step [steps, 1, 4, h/8, w/8] (latents after every scheduler step, blending
                          included), timesteps [steps] (float32)
    editing_cases.json    the cases (NOT cases.json: the text-to-image parity suite reads every cases.json)
    resize-*.png          VaeImageProcessor resizes of init-70x69.png (PIL Lanczos): default, crop, fill
    resize.json           what each resize-*.png is
"""
import json
import pathlib
import sys

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import dump_pipeline  # noqa: E402

ROOT = dump_pipeline.ROOT
OUT = ROOT / "Tests/Fixtures/reference/editing"
F15 = dump_pipeline.F15
FINP = "Tests/Fixtures/models/sd15-inpaint-tiny"
NEGATIVE = dump_pipeline.NEGATIVE


def make_image(width, height, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    r = 128 + 90 * np.sin(x / 9.0 + seed) * np.cos(y / 13.0)
    g = 128 + 80 * np.cos((x + y) / 11.0)
    b = 100 + 0.9 * x + 0.6 * y
    pixels = np.stack([r, g, b], -1) + rng.normal(0, 12, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).round().astype(np.uint8), "RGB")


def make_mask(width, height):
    mask = np.zeros((height, width), np.uint8)
    mask[height // 4 : height // 2 + 8, width // 3 : width // 3 + 24] = 255
    y, x = np.mgrid[0:height, 0:width]
    mask[(x - width * 3 // 4) ** 2 + (y - height * 3 // 4) ** 2 < 81] = 255
    mask[2:6, :] = 127  # just under the threshold: kept
    mask[height - 6 : height - 2, : width // 2] = 128  # just over: repainted
    return Image.fromarray(mask, "L")


def case(name, kind, model, prompt, steps, guidance, seed, strength, image, mask=None, scheduler=None, negative=None,
         width=None, height=None):
    return {
        "name": name, "kind": kind, "model": model, "prompt": prompt, "negative_prompt": negative, "steps": steps,
        "guidance_scale": guidance, "scheduler": scheduler, "seed": seed, "strength": strength, "image": image,
        "mask": mask, "width": width, "height": height,
    }


I64, I96, I70 = "init-64x64.png", "init-96x64.png", "init-70x69.png"
M64, M96 = "mask-64x64.png", "mask-96x64.png"
CUBE = "a red cube on a table"
CASES = [
    case("i2i-pndm-s0.8", "img2img", F15, CUBE, 6, 7.5, 21, 0.8, I64),
    case("i2i-pndm-s1.0-96x64", "img2img", F15, CUBE, 4, 7.5, 22, 1.0, I96),
    case("i2i-ddim-s0.5", "img2img", F15, CUBE, 6, 7.5, 23, 0.5, I64, scheduler="ddim", negative=NEGATIVE),
    case("i2i-ddim-s0.3-nocfg-96x64", "img2img", F15, "mountains", 10, 1.0, 24, 0.3, I96, scheduler="ddim"),
    case("i2i-euler-s0.75", "img2img", F15, CUBE, 4, 7.5, 25, 0.75, I64, scheduler="euler"),
    case("i2i-euler-s0.35-96x64", "img2img", F15, "a cat", 6, 5.0, 26, 0.35, I96, scheduler="euler"),
    case("i2i-euler-a-s0.6", "img2img", F15, CUBE, 5, 7.5, 27, 0.6, I64, scheduler="euler_a"),
    case("i2i-euler-a-s1.0-nocfg", "img2img", F15, "a cat", 3, 1.0, 28, 1.0, I64, scheduler="euler_a"),
    case("i2i-ddim-resize-70x69", "img2img", F15, CUBE, 4, 7.5, 29, 0.7, I70, scheduler="ddim"),
    case("inp9-pndm-s1.0", "inpaint", FINP, CUBE, 4, 7.5, 31, 1.0, I64, M64),
    case("inp9-ddim-s1.0-nocfg-96x64", "inpaint", FINP, "a cat", 4, 1.0, 32, 1.0, I96, M96, scheduler="ddim"),
    case("inp9-euler-a-s0.75", "inpaint", FINP, CUBE, 5, 7.5, 33, 0.75, I64, M64, scheduler="euler_a", negative=NEGATIVE),
    case("inp9-euler-s0.5-96x64", "inpaint", FINP, CUBE, 6, 7.5, 34, 0.5, I96, M96, scheduler="euler"),
    case("inp4-pndm-s1.0", "inpaint", F15, CUBE, 4, 7.5, 41, 1.0, I64, M64),
    case("inp4-ddim-s0.6-96x64", "inpaint", F15, CUBE, 6, 7.5, 42, 0.6, I96, M96, scheduler="ddim"),
    case("inp4-euler-s0.8", "inpaint", F15, "a cat", 5, 7.5, 43, 0.8, I64, M64, scheduler="euler"),
    case("inp4-euler-a-s1.0-nocfg-96x64", "inpaint", F15, "a cat", 4, 1.0, 44, 1.0, I96, M96, scheduler="euler_a"),
]

_pipes = {}


def load(kind, model):
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline

    key = (kind, model)
    if key not in _pipes:
        cls = StableDiffusionImg2ImgPipeline if kind == "img2img" else StableDiffusionInpaintPipeline
        pipe = cls.from_pretrained(str(ROOT / model), local_files_only=True, dtype=torch.float32, safety_checker=None)
        pipe.set_progress_bar_config(disable=True)
        _pipes[key] = pipe
    return _pipes[key]


@torch.no_grad()
def run(spec):
    pipe = load(spec["kind"], spec["model"])
    default = pipe.scheduler
    if spec["scheduler"] is not None:
        pipe.scheduler = dump_pipeline.SCHEDULER_FACTORIES[spec["scheduler"]](default.config)
    steps = []

    def on_step_end(_pipe, _index, _t, kwargs):
        steps.append(kwargs["latents"].clone())
        return kwargs

    image = Image.open(OUT / spec["image"]).convert("RGB")
    kwargs = dict(
        negative_prompt=spec["negative_prompt"], num_inference_steps=spec["steps"], guidance_scale=spec["guidance_scale"],
        strength=spec["strength"], generator=torch.Generator("cpu").manual_seed(spec["seed"]), output_type="np",
        callback_on_step_end=on_step_end, callback_on_step_end_tensor_inputs=["latents"],
    )
    try:
        if spec["kind"] == "img2img":
            result = pipe(spec["prompt"], image=image, **kwargs)
        else:
            mask = Image.open(OUT / spec["mask"])
            result = pipe(spec["prompt"], image=image, mask_image=mask, height=image.height, width=image.width, **kwargs)
        used = dict(pipe.scheduler.config)
        used["_class_name"] = type(pipe.scheduler).__name__
        timesteps = pipe.scheduler.timesteps.to(torch.float32).clone()
    finally:
        pipe.scheduler = default
    pixels = (result.images[0] * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(OUT / f"{spec['name']}.png", optimize=True)
    from safetensors.torch import save_file

    save_file(
        {"latents.step": torch.stack(steps).contiguous(), "timesteps": timesteps.contiguous()},
        OUT / f"{spec['name']}.safetensors",
    )
    print(f"{spec['name']:32s} steps={len(steps)} size={pixels.shape[1]}x{pixels.shape[0]} mean={pixels.mean():6.1f} "
          f"std={pixels.std():5.1f}")
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in used.items()
            if k == "_class_name" or not k.startswith("_")}


def dump_resizes():
    from diffusers.image_processor import VaeImageProcessor

    processor = VaeImageProcessor(vae_scale_factor=8)
    source = Image.open(OUT / I70).convert("RGB")
    entries = []
    for mode, (w, h) in (("default", (64, 64)), ("crop", (48, 64)), ("fill", (48, 64)), ("crop", (64, 40)),
                         ("fill", (64, 40)), ("default", (96, 40))):
        resized = processor.resize(source, height=h, width=w, resize_mode=mode)
        name = f"resize-{mode}-{w}x{h}.png"
        resized.save(OUT / name)
        entries.append({"file": name, "mode": mode, "width": w, "height": h, "source": I70})
    (OUT / "resize.json").write_text(json.dumps(entries, indent=2) + "\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    make_image(64, 64, 1).save(OUT / I64)
    make_image(96, 64, 2).save(OUT / I96)
    make_image(70, 69, 3).save(OUT / I70)
    make_mask(64, 64).save(OUT / M64)
    make_mask(96, 64).save(OUT / M96)
    dump_resizes()
    listing = []
    for spec in CASES:
        listing.append({**spec, "scheduler_config": run(spec)})
    (OUT / "editing_cases.json").write_text(json.dumps(listing, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

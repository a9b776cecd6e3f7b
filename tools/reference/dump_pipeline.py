"""End-to-end text-to-image references with diffusers' StableDiffusionPipeline (fp32, CPU).

    python tools/reference/dump_pipeline.py

For each case in CASES writes Tests/Fixtures/reference/pipeline/<name>.png (diffusers' uint8 image:
output_type "np", then (x * 255).round()) and <name>.safetensors:
    latents.initial  [1, 4, h/8, w/8]         latents as prepare_latents returned them (noise x init_noise_sigma)
    latents.step     [steps, 1, 4, h/8, w/8]  latents after every scheduler step
    timesteps        [steps]                  the scheduler's timesteps (float32)
    prompt_embeds    [2 or 1, 77, D]          as the pipeline built them (unconditional first with CFG)
and cases.json (a list of the cases plus the scheduler config each one actually ran with).
Single-file cases load the file with from_single_file(config=<matching tiny folder>), so weights are the
file's bf16/fp16 values computed in fp32.
"""
import json
import pathlib

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/reference/pipeline"
F15 = "Tests/Fixtures/models/sd15-tiny"
S15 = "Tests/Fixtures/models/sd15-tiny-bf16.safetensors"
F2V = "Tests/Fixtures/models/sd2v-tiny"
S2V = "Tests/Fixtures/models/sd2v-tiny-fp16.safetensors"
CONFIG_FOR = {S15: F15, S2V: F2V}

ASTRONAUT = "a photograph of an astronaut riding a horse"
LONG = (
    "a highly detailed matte painting of a vast ancient library carved into the side of a mountain, "
    "golden hour light streaming through tall arched windows, dust motes floating in the air, "
    "endless shelves of leather bound books, spiral staircases, hanging lanterns, a lone scholar reading "
    "at a wooden desk, intricate stone carvings, lush ivy creeping over the balconies, distant snowy peaks, "
    "volumetric fog, cinematic composition, trending on artstation, octane render, eight k resolution"
)
UNICODE = "Café ☕ — naïve façade, 東京の夜 🌸🚀!!! \"quoted\" & <tags> (weight:1.2) [x] {y} 100% #1 @home… ¿qué?"
NEGATIVE = "blurry, low quality, watermark, text"


def case(name, model, prompt, steps, guidance, seed, width, height, scheduler=None, negative=None):
    return {
        "name": name, "model": model, "prompt": prompt, "negative_prompt": negative, "steps": steps,
        "guidance_scale": guidance, "scheduler": scheduler, "seed": seed, "width": width, "height": height,
    }


CASES = [
    case("sd15-pndm-cfg", F15, ASTRONAUT, 4, 7.5, 1, 64, 64),
    case("sd15-pndm-nocfg-64x96", F15, ASTRONAUT, 3, 1.0, 2, 96, 64),
    case("sd15-ddim-negative-96x64", F15, "a red cube on a table", 4, 7.5, 3, 64, 96, "ddim", NEGATIVE),
    case("sd15-euler-long-prompt", F15, LONG, 3, 7.5, 4, 64, 64, "euler"),
    case("sd15-euler-a-unicode-64x96", F15, UNICODE, 4, 7.5, 5, 96, 64, "euler_a"),
    case("sd15-ddim-2steps", F15, ASTRONAUT, 2, 7.5, 6, 64, 64, "ddim"),
    case("sd15-euler-nocfg-6steps-96x64", F15, "mountains at dawn", 6, 1.0, 7, 64, 96, "euler"),
    case("sd15-euler-a-nocfg", F15, "portrait of a cat", 5, 1.0, 8, 64, 64, "euler_a"),
    case("sd15-pndm-explicit-6steps", F15, "", 6, 7.5, 9, 64, 64, "pndm"),
    case("sd15-single-pndm-cfg", S15, ASTRONAUT, 4, 7.5, 1, 64, 64),
    case("sd15-single-euler-negative-64x96", S15, "a red cube on a table", 4, 7.5, 10, 96, 64, "euler", NEGATIVE),
    case("sd15-single-ddim-nocfg-96x64", S15, LONG, 3, 1.0, 11, 64, 96, "ddim"),
    case("sd2v-ddim-cfg", F2V, ASTRONAUT, 4, 7.5, 1, 64, 64),
    case("sd2v-ddim-nocfg-64x96", F2V, ASTRONAUT, 3, 1.0, 12, 96, 64),
    case("sd2v-euler-negative-96x64", F2V, "a red cube on a table", 4, 7.5, 13, 64, 96, "euler", NEGATIVE),
    case("sd2v-euler-a-unicode", F2V, UNICODE, 5, 7.5, 14, 64, 64, "euler_a"),
    case("sd2v-pndm-long-prompt-64x96", F2V, LONG, 6, 7.5, 15, 96, 64, "pndm"),
    case("sd2v-ddim-2steps-negative", F2V, "mountains at dawn", 2, 5.0, 16, 64, 64, None, NEGATIVE),
    case("sd2v-single-ddim-cfg", S2V, ASTRONAUT, 4, 7.5, 1, 64, 64),
    case("sd2v-single-euler-a-nocfg-96x64", S2V, "portrait of a cat", 5, 1.0, 17, 64, 96, "euler_a"),
    case("sd2v-single-ddim-negative-64x96", S2V, "a red cube on a table", 3, 7.5, 18, 96, 64, "ddim", NEGATIVE),
]


def _from_config(class_name, **overrides):
    def make(config):
        import diffusers

        return getattr(diffusers, class_name).from_config(config, **overrides)

    return make


# Latent's scheduler names → how diffusers builds that scheduler from the model's config. Other dump scripts
# (e.g. dump_pipeline_<suite>.py) extend this table and call main() with their own cases and folder.
SCHEDULER_FACTORIES = {
    "ddim": _from_config("DDIMScheduler"),
    "euler": _from_config("EulerDiscreteScheduler"),
    "euler_a": _from_config("EulerAncestralDiscreteScheduler"),
    "pndm": _from_config("PNDMScheduler"),
}


_pipes = {}


def load(model):
    from diffusers import StableDiffusionPipeline

    if model not in _pipes:
        path = str(ROOT / model)
        if model in CONFIG_FOR:
            pipe = StableDiffusionPipeline.from_single_file(
                path, config=str(ROOT / CONFIG_FOR[model]), local_files_only=True, dtype=torch.float32
            )
        else:
            pipe = StableDiffusionPipeline.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        pipe.set_progress_bar_config(disable=True)
        _pipes[model] = pipe
    return _pipes[model]


@torch.no_grad()
def run(spec, out=OUT):
    pipe = load(spec["model"])
    default = pipe.scheduler
    if spec["scheduler"] is not None:
        pipe.scheduler = SCHEDULER_FACTORIES[spec["scheduler"]](default.config)
    captured = {"steps": []}
    prepare = pipe.prepare_latents

    def prepare_latents(*args, **kwargs):
        latents = prepare(*args, **kwargs)
        captured["initial"] = latents.clone()
        return latents

    def on_step_end(_pipe, _index, _t, kwargs):
        captured["steps"].append(kwargs["latents"].clone())
        captured["prompt_embeds"] = kwargs["prompt_embeds"].clone()
        return kwargs

    pipe.prepare_latents = prepare_latents
    try:
        result = pipe(
            spec["prompt"],
            negative_prompt=spec["negative_prompt"],
            num_inference_steps=spec["steps"],
            guidance_scale=spec["guidance_scale"],
            height=spec["height"],
            width=spec["width"],
            generator=torch.Generator("cpu").manual_seed(spec["seed"]),
            output_type="np",
            callback_on_step_end=on_step_end,
            callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"],
        )
        used = dict(pipe.scheduler.config)
        used["_class_name"] = type(pipe.scheduler).__name__
        timesteps = pipe.scheduler.timesteps.to(torch.float32).clone()
    finally:
        pipe.prepare_latents = prepare
        pipe.scheduler = default
    image = result.images[0]  # [h, w, 3] float in [0, 1]
    pixels = (image * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(out / f"{spec['name']}.png", optimize=True)
    tensors = {
        "latents.initial": captured["initial"],
        "latents.step": torch.stack(captured["steps"]),
        "timesteps": timesteps,
        "prompt_embeds": captured["prompt_embeds"],
    }
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()}, out / f"{spec['name']}.safetensors")
    saturated = float(((pixels == 0) | (pixels == 255)).mean())
    print(
        f"{spec['name']:36s} steps={len(captured['steps'])} embeds={list(captured['prompt_embeds'].shape)} "
        f"final latent std={captured['steps'][-1].std().item():7.3f} image mean={pixels.mean():6.1f} "
        f"std={pixels.std():5.1f} saturated={saturated:.3f}"
    )
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in used.items() if k == "_class_name" or not k.startswith("_")}


def main(cases=CASES, out=OUT):
    """Runs every case and writes its files plus `cases.json` into `out`; the Swift parity test picks up every
    `Tests/Fixtures/reference/*/cases.json`."""
    out.mkdir(parents=True, exist_ok=True)
    listing = []
    for spec in cases:
        used = run(spec, out)
        listing.append({**spec, "scheduler_config": used})
    (out / "cases.json").write_text(json.dumps(listing, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

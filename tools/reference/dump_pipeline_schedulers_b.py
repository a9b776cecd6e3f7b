"""End-to-end references for DPM++ 2M, DPM++ 2M SDE and DPM++ 2S a (each with Karras / exponential sigmas) on
the tiny SD1.5 and SD2-v folder models, written to Tests/Fixtures/reference/schedulers-b/ in dump_pipeline.py's
format (PipelineParityTests runs every case).

    python3 tools/reference/dump_pipeline_schedulers_b.py [SCHEDULER_PREFIX]   # e.g. dpmpp_2s_a: rerun those only

Pinned: diffusers 0.42.1, torch 2.13 (cpu).

dpmpp_2m* / dpmpp_2m_sde* run diffusers' StableDiffusionPipeline with
`DPMSolverMultistepScheduler.from_config(model_config, algorithm_type=…, solver_order=2[, use_…_sigmas=True])`.

dpmpp_2s_a* have no diffusers scheduler: `run_2s_ancestral` below reproduces StableDiffusionPipeline.__call__
for text-to-image (encode_prompt, prepare_latents with the seeded generator, classifier-free guidance
`uncond + g·(text − uncond)`, VAE decode, image_processor.postprocess) around the k-diffusion port of
dump_schedulers_b.py, on `EulerDiscreteScheduler.from_config(model_config[, use_…_sigmas=True])`'s sigmas,
timesteps and init_noise_sigma; ancestral noise is `randn_tensor(latents.shape, generator)` from the pipeline's
generator. Every UNet call (2 per step, 1 for the last) is one entry of `latents.step` / `timesteps`, as Latent's
pipeline reports one progress per model call. `self_check()` runs the same loop with diffusers' Euler ancestral
scheduler and asserts it reproduces the pipeline bit for bit.
"""
import json
import pathlib
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dump_pipeline as dp  # noqa: E402
from dump_pipeline import ASTRONAUT, F15, F2V, LONG, NEGATIVE, SCHEDULER_FACTORIES, UNICODE, case  # noqa: E402
from dump_schedulers_b import dpmpp_2s_ancestral, EulerConventionDenoiser  # noqa: E402

OUT = dp.ROOT / "Tests/Fixtures/reference/schedulers-b"
SIGMA_VARIANTS = {"": {}, "_karras": {"use_karras_sigmas": True}, "_exponential": {"use_exponential_sigmas": True}}

for suffix, sigma_overrides in SIGMA_VARIANTS.items():
    for name, algorithm in [("dpmpp_2m", "dpmsolver++"), ("dpmpp_2m_sde", "sde-dpmsolver++")]:
        SCHEDULER_FACTORIES[name + suffix] = dp._from_config(
            "DPMSolverMultistepScheduler", algorithm_type=algorithm, solver_order=2, **sigma_overrides)

CASES = [
    case("sd15-dpmpp-2m", F15, ASTRONAUT, 5, 7.5, 101, 64, 64, "dpmpp_2m"),
    case("sd15-dpmpp-2m-karras-negative", F15, "a red cube on a table", 4, 7.5, 102, 64, 64, "dpmpp_2m_karras", NEGATIVE),
    case("sd15-dpmpp-2m-exponential-64x96", F15, "mountains at dawn", 3, 7.5, 103, 96, 64, "dpmpp_2m_exponential"),
    case("sd15-dpmpp-2m-sde", F15, "portrait of a cat", 6, 7.5, 104, 64, 64, "dpmpp_2m_sde"),
    case("sd15-dpmpp-2m-sde-karras", F15, ASTRONAUT, 3, 7.5, 105, 64, 64, "dpmpp_2m_sde_karras"),
    case("sd15-dpmpp-2m-sde-exponential", F15, UNICODE, 7, 5.0, 106, 64, 64, "dpmpp_2m_sde_exponential"),
    case("sd15-dpmpp-2s-a", F15, ASTRONAUT, 4, 7.5, 107, 64, 64, "dpmpp_2s_a"),
    case("sd15-dpmpp-2s-a-karras-96x64", F15, LONG, 3, 7.5, 108, 64, 96, "dpmpp_2s_a_karras"),
    case("sd15-dpmpp-2s-a-exponential", F15, "a red cube on a table", 5, 7.5, 109, 64, 64, "dpmpp_2s_a_exponential", NEGATIVE),
    case("sd2v-dpmpp-2m", F2V, ASTRONAUT, 3, 7.5, 111, 64, 64, "dpmpp_2m"),
    case("sd2v-dpmpp-2m-karras", F2V, "mountains at dawn", 7, 7.5, 112, 64, 64, "dpmpp_2m_karras"),
    case("sd2v-dpmpp-2m-exponential", F2V, "portrait of a cat", 2, 7.5, 113, 64, 64, "dpmpp_2m_exponential"),
    case("sd2v-dpmpp-2m-sde-64x96", F2V, ASTRONAUT, 5, 7.5, 114, 96, 64, "dpmpp_2m_sde"),
    case("sd2v-dpmpp-2m-sde-karras-negative", F2V, "a red cube on a table", 4, 7.5, 115, 64, 64, "dpmpp_2m_sde_karras", NEGATIVE),
    case("sd2v-dpmpp-2m-sde-exponential", F2V, LONG, 3, 5.0, 116, 64, 64, "dpmpp_2m_sde_exponential"),
    case("sd2v-dpmpp-2s-a", F2V, "portrait of a cat", 3, 7.5, 117, 64, 64, "dpmpp_2s_a"),
    case("sd2v-dpmpp-2s-a-karras", F2V, ASTRONAUT, 3, 7.5, 118, 64, 64, "dpmpp_2s_a_karras"),
    case("sd2v-dpmpp-2s-a-exponential-64x96", F2V, UNICODE, 2, 7.5, 119, 96, 64, "dpmpp_2s_a_exponential"),
]


def euler_for(spec, pipe):
    from diffusers import EulerDiscreteScheduler

    suffix = spec["scheduler"].removeprefix("dpmpp_2s_a")
    euler = EulerDiscreteScheduler.from_config(pipe.scheduler.config, **SIGMA_VARIANTS[suffix])
    euler.set_timesteps(spec["steps"])
    return euler


@torch.no_grad()
def denoise_loop(pipe, spec, scheduler, sampler):
    """StableDiffusionPipeline.__call__ for text-to-image with the sampling loop replaced by `sampler(x, predict,
    noise)` → (final latents, per-call latents, per-call timesteps); `predict(model_input, t)` is the guided UNet."""
    device = torch.device("cpu")
    guided = spec["guidance_scale"] > 1 and pipe.unet.config.time_cond_proj_dim is None
    positive, negative = pipe.encode_prompt(spec["prompt"], device, 1, guided, spec["negative_prompt"])
    embeds = torch.cat([negative, positive]) if guided else positive
    generator = torch.Generator("cpu").manual_seed(spec["seed"])
    default = pipe.scheduler
    pipe.scheduler = scheduler  # prepare_latents scales by this scheduler's init_noise_sigma
    try:
        latents = pipe.prepare_latents(1, pipe.unet.config.in_channels, spec["height"], spec["width"], embeds.dtype,
                                       device, generator, None)
    finally:
        pipe.scheduler = default
    initial = latents.clone()

    def predict(model_input, t):
        batch = torch.cat([model_input] * 2) if guided else model_input
        noise_pred = pipe.unet(batch, t, encoder_hidden_states=embeds, return_dict=False)[0]
        if guided:
            uncond, text = noise_pred.chunk(2)
            noise_pred = uncond + spec["guidance_scale"] * (text - uncond)
        return noise_pred

    def noise():
        from diffusers.utils.torch_utils import randn_tensor

        return randn_tensor(latents.shape, generator=generator, device=device, dtype=latents.dtype)

    final, steps, timesteps = sampler(latents, predict, noise)
    image = pipe.vae.decode(final / pipe.vae.config.scaling_factor, return_dict=False, generator=generator)[0]
    image = pipe.image_processor.postprocess(image, output_type="np", do_denormalize=[True])[0]
    return image, initial, steps, timesteps, embeds


def sample_2s(euler):
    def sampler(latents, predict, noise):
        denoiser = EulerConventionDenoiser(euler, lambda model_input, t, _call: predict(model_input, t))
        final = dpmpp_2s_ancestral(denoiser, latents, euler.sigmas, lambda _s, _n: noise())
        inputs = [c[3] for c in denoiser.calls]
        return final, inputs[1:] + [final], torch.stack([c[0] for c in denoiser.calls])

    return sampler


def run_2s_ancestral(spec, out=OUT):
    pipe = dp.load(spec["model"])
    euler = euler_for(spec, pipe)
    image, initial, steps, timesteps, embeds = denoise_loop(pipe, spec, euler, sample_2s(euler))
    pixels = (image * 255).round().astype(np.uint8)
    Image.fromarray(pixels).save(out / f"{spec['name']}.png", optimize=True)
    tensors = {"latents.initial": initial, "latents.step": torch.stack(steps), "timesteps": timesteps,
               "prompt_embeds": embeds}
    save_file({k: v.to(torch.float32).contiguous() for k, v in tensors.items()}, out / f"{spec['name']}.safetensors")
    print(f"{spec['name']:36s} calls={len(steps)} final latent std={steps[-1].std().item():7.3f} "
          f"image mean={pixels.mean():6.1f} std={pixels.std():5.1f}")
    used = {k: v for k, v in euler.config.items() if not k.startswith("_")}
    used["_class_name"] = "k-diffusion sample_dpmpp_2s_ancestral on EulerDiscreteScheduler"
    return used


@torch.no_grad()
def self_check():
    """The hand-written loop, run with diffusers' EulerAncestralDiscreteScheduler, equals the real pipeline."""
    from diffusers import EulerAncestralDiscreteScheduler

    spec = case("check", F2V, ASTRONAUT, 3, 7.5, 5, 64, 64, "euler_a", NEGATIVE)
    pipe = dp.load(F2V)
    scheduler = EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    scheduler.set_timesteps(3)

    def sampler(latents, predict, noise):
        steps = []
        generator_noise = noise
        for t in scheduler.timesteps:
            out = predict(scheduler.scale_model_input(latents, t), t)
            step_noise = generator_noise()
            # Euler ancestral draws its noise inside step; feed the same draw through a patched randn_tensor.
            import diffusers.schedulers.scheduling_euler_ancestral_discrete as module

            original = module.randn_tensor
            module.randn_tensor = lambda *a, **k: step_noise
            try:
                latents = scheduler.step(out, t, latents).prev_sample
            finally:
                module.randn_tensor = original
            steps.append(latents)
        return latents, steps, scheduler.timesteps

    image, _, steps, _, _ = denoise_loop(pipe, spec, scheduler, sampler)
    pipe.scheduler, default = scheduler, pipe.scheduler
    try:
        captured = []
        reference = pipe(spec["prompt"], negative_prompt=spec["negative_prompt"], num_inference_steps=3,
                         guidance_scale=7.5, height=64, width=64, generator=torch.Generator("cpu").manual_seed(5),
                         output_type="np", callback_on_step_end=lambda p, i, t, kw: captured.append(kw["latents"]) or kw)
    finally:
        pipe.scheduler = default
    assert all(torch.equal(a, b) for a, b in zip(steps, captured)), "loop differs from the pipeline"
    assert np.array_equal(image, reference.images[0]), "image differs from the pipeline"
    print("self-check: the hand-written loop reproduces StableDiffusionPipeline exactly")


def finite(value):
    """Non-finite floats as strings: json.dumps would write -Infinity, which strict JSON readers reject."""
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def main(cases=CASES, out=OUT, only=None):
    """Runs every case (or, with `only`, just the cases whose scheduler starts with it, keeping the rest of an
    existing cases.json) and writes cases.json."""
    self_check()
    out.mkdir(parents=True, exist_ok=True)
    previous = {}
    if only is not None:
        previous = {c["name"]: c for c in json.loads((out / "cases.json").read_text(encoding="utf-8"))}
    listing = []
    for spec in cases:
        if only is not None and not spec["scheduler"].startswith(only):
            listing.append(previous[spec["name"]])
            continue
        used = run_2s_ancestral(spec, out) if spec["scheduler"].startswith("dpmpp_2s_a") else dp.run(spec, out)
        listing.append({**spec, "scheduler_config": finite(used)})
    (out / "cases.json").write_text(json.dumps(listing, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(only=sys.argv[1] if len(sys.argv) > 1 else None)

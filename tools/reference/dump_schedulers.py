"""Dumps the scheduler reference fixtures under Tests/Fixtures/schedulers/ from diffusers.

Pinned: diffusers 0.42.1, torch 2.13 (cpu), numpy 2.4. Run by hand from the package root:

    python3 tools/reference/dump_schedulers.py

Files written:
- inputs.json: the shared random inputs (initial sample, a bank of model outputs, img2img original/noise).
- noise_schedules.json: alphas_cumprod for each beta schedule.
- timesteps.json: timesteps / sigmas / init_noise_sigma over many step counts and configurations.
- <kind>.json: full trajectories (sample after every step, noise drawn, scale factors, add_noise results).

Every scheduler is built the way a pipeline swaps schedulers: `Class.from_config(model_scheduler_config)`,
so the model's keys are kept and the class's own defaults fill the rest.
"""
import json
import pathlib

import diffusers
import numpy as np
import torch
from diffusers import DDIMScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, PNDMScheduler

assert diffusers.__version__ == "0.42.1", diffusers.__version__

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/schedulers"
SHAPE = (1, 4, 4, 4)
BANK = 32  # model outputs available; the longest run (PNDM with PRK, 20 steps) makes 29 calls

# Model scheduler configs as found in scheduler_config.json files.
CONFIGS = {
    # runwayml/stable-diffusion-v1-5
    "sd15": {
        "_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
        "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
        "trained_betas": None, "clip_sample": False,
    },
    # stabilityai/stable-diffusion-2-1
    "sd21": {
        "_class_name": "DDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
        "clip_sample": False, "num_train_timesteps": 1000, "prediction_type": "v_prediction",
        "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1, "trained_betas": None,
    },
    # A DDPM-style linear schedule with trailing spacing; DDIM's own defaults (clip_sample, set_alpha_to_one) apply.
    "linear_trailing": {
        "_class_name": "DDIMScheduler", "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
        "num_train_timesteps": 1000, "timestep_spacing": "trailing",
    },
}
# Extra configurations checked for timesteps/sigmas only (keys that only some classes accept).
EXTRA_CONFIGS = {
    "sd15_prk": {**CONFIGS["sd15"], "skip_prk_steps": False},
    "sd15_linspace": {**CONFIGS["sd15"], "timestep_spacing": "linspace"},
    "karras": {**CONFIGS["sd15"], "use_karras_sigmas": True},
    "exponential": {**CONFIGS["sd15"], "use_exponential_sigmas": True},
    "log_linear": {**CONFIGS["sd15"], "interpolation_type": "log_linear"},
    "sigma_min_final": {**CONFIGS["sd15"], "final_sigmas_type": "sigma_min", "timestep_spacing": "trailing"},
    "continuous_v": {**CONFIGS["sd21"], "timestep_type": "continuous"},
    "zero_snr": {**CONFIGS["sd21"], "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
    "squaredcos": {**CONFIGS["linear_trailing"], "beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "leading"},
}
STEPS = [1, 2, 3, 7, 20]
TIMESTEP_STEPS = [1, 2, 3, 4, 5, 7, 10, 16, 20, 25, 30, 48, 50, 61, 100]
CLASSES = {
    "ddim": DDIMScheduler,
    "pndm": PNDMScheduler,
    "euler": EulerDiscreteScheduler,
    "euler_a": EulerAncestralDiscreteScheduler,
}
SIGMA_KINDS = {"euler", "euler_a"}


def floats(x):
    """float32 values written with 9 significant digits, enough to round-trip."""
    arr = np.asarray(x.detach().numpy() if isinstance(x, torch.Tensor) else x, dtype=np.float32).reshape(-1)
    return [float("%.9g" % v) for v in arr]


def scalar(x):
    return floats(torch.as_tensor(x, dtype=torch.float32).reshape(1))[0]


class NoiseRecorder:
    """Wraps the module-level randn_tensor a scheduler calls, keeping every tensor it returns."""

    def __init__(self, module):
        self.module, self.original, self.drawn = module, module.randn_tensor, []

    def __enter__(self):
        def recording(*args, **kwargs):
            out = self.original(*args, **kwargs)
            self.drawn.append(out.clone())
            return out

        self.module.randn_tensor = recording
        return self

    def __exit__(self, *exc):
        self.module.randn_tensor = self.original


def make_inputs():
    g = torch.Generator().manual_seed(20240501)
    return {
        "shape": list(SHAPE),
        "initial_sample": torch.randn(SHAPE, generator=g),
        "model_outputs": [torch.randn(SHAPE, generator=g) for _ in range(BANK)],
        "original": torch.randn(SHAPE, generator=g),
        "noise": torch.randn(SHAPE, generator=g),
    }


def trajectory(kind, config_name, config, steps, inputs, eta=None):
    cls = CLASSES[kind]
    sched = cls.from_config(config)
    sched.set_timesteps(steps)
    timesteps = sched.timesteps.clone()
    case = {
        "config_name": config_name,
        "steps": steps,
        "timesteps": floats(timesteps.to(torch.float32)),
        "sigmas": floats(sched.sigmas) if kind in SIGMA_KINDS else None,
        "init_noise_sigma": scalar(sched.init_noise_sigma),
    }
    if eta is not None:
        case["eta"] = eta
    # add_noise (img2img) at a few starting indices, on fresh schedulers so no step state leaks in.
    case["add_noise"] = []
    for k in sorted({0, len(timesteps) // 2, len(timesteps) - 1}):
        fresh = cls.from_config(config)
        fresh.set_timesteps(steps)
        noisy = fresh.add_noise(inputs["original"], inputs["noise"], fresh.timesteps[k : k + 1])
        case["add_noise"].append({"step_index": k, "result": floats(noisy)})

    module = __import__(cls.__module__, fromlist=["randn_tensor"])
    sample = inputs["initial_sample"] * sched.init_noise_sigma
    scale_factors, samples = [], []
    generator = torch.Generator().manual_seed(7)
    with NoiseRecorder(module) if hasattr(module, "randn_tensor") else _Null() as recorder:
        for i, t in enumerate(timesteps):
            factor = sched.scale_model_input(torch.ones(SHAPE), t)
            scale_factors.append(floats(factor)[0])
            kwargs = {"generator": generator} if kind == "euler_a" else {}
            if eta is not None:
                kwargs = {"eta": eta, "generator": generator}
            sample = sched.step(inputs["model_outputs"][i], t, sample, **kwargs).prev_sample
            samples.append(floats(sample))
    case["scale_factors"] = scale_factors
    case["samples"] = samples
    case["noises"] = [floats(n) for n in recorder.drawn] if recorder else []
    return case


def needs_prk(kind, config):
    """PNDM runs Runge-Kutta warm-up steps unless the config skips them (the class default is not to)."""
    return kind == "pndm" and not config.get("skip_prk_steps", False)


class _Null:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        pass


def alphas_cumprod_cases():
    cases = []
    for name, config in [
        ("linear", {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02}),
        ("scaled_linear", {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}),
        ("squaredcos_cap_v2", {"beta_schedule": "squaredcos_cap_v2"}),
        ("scaled_linear_zero_snr", {"beta_schedule": "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012,
                                    "rescale_betas_zero_snr": True}),
    ]:
        sched = DDIMScheduler.from_config({"_class_name": "DDIMScheduler", **config})
        cases.append({"name": name, "config": config, "betas": floats(sched.betas),
                      "alphas_cumprod": floats(sched.alphas_cumprod)})
    return cases


def timestep_cases():
    cases = []
    all_configs = {**CONFIGS, **EXTRA_CONFIGS}
    for kind, cls in CLASSES.items():
        for config_name, config in all_configs.items():
            for steps in TIMESTEP_STEPS:
                if config_name == "sd15_prk" and kind != "pndm":
                    continue
                if needs_prk(kind, config) and steps < 4:
                    continue  # diffusers' PRK warm-up needs at least 4 steps
                if config_name in ("karras", "exponential", "log_linear", "sigma_min_final", "continuous_v") and kind != "euler":
                    continue
                sched = cls.from_config(config)
                sched.set_timesteps(steps)
                cases.append({
                    "kind": kind, "config_name": config_name, "steps": steps,
                    "timesteps": floats(sched.timesteps.to(torch.float32)),
                    "sigmas": floats(sched.sigmas) if kind in SIGMA_KINDS else None,
                    "init_noise_sigma": scalar(sched.init_noise_sigma),
                })
    return cases


def write(name, payload):
    path = OUT / name
    path.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    inputs = make_inputs()
    write("inputs.json", {
        "shape": inputs["shape"],
        "initial_sample": floats(inputs["initial_sample"]),
        "model_outputs": [floats(m) for m in inputs["model_outputs"]],
        "original": floats(inputs["original"]),
        "noise": floats(inputs["noise"]),
    })
    write("noise_schedules.json", {"cases": alphas_cumprod_cases()})
    write("timesteps.json", {"configs": {**CONFIGS, **EXTRA_CONFIGS}, "cases": timestep_cases()})
    for kind in CLASSES:
        cases = [trajectory(kind, cn, c, n, inputs) for cn, c in CONFIGS.items() for n in STEPS
                 if not (needs_prk(kind, c) and n < 4)]
        if kind == "pndm":
            cases += [trajectory(kind, "sd15_prk", EXTRA_CONFIGS["sd15_prk"], n, inputs) for n in (4, 7, 20)]
        if kind == "ddim":
            cases += [trajectory(kind, cn, c, n, inputs, eta=1.0) for cn, c in CONFIGS.items() for n in (1, 3, 7)]
        write(f"{kind}.json", {"kind": kind, "configs": {**CONFIGS, **EXTRA_CONFIGS}, "cases": cases})


if __name__ == "__main__":
    main()

"""Dumps scheduler reference fixtures for UniPC, DEIS, LCM and TCD under Tests/Fixtures/schedulers-c/.

Pinned: diffusers 0.42.1, torch 2.13 (cpu), numpy 2.4. Run by hand from the package root:

    python3 tools/reference/dump_schedulers_c.py

Reuses dump_schedulers.py's helpers and random inputs (Tests/Fixtures/schedulers/inputs.json holds the same
tensors, so it is not written again). Files written:
- timesteps.json: timesteps / sigmas over many step counts and configurations.
- <kind>.json: full trajectories (sample after every step, noise drawn, add_noise results), in the layout of
  dump_schedulers.py. TCD cases carry "eta": the gamma the scheduler's step received.

Every scheduler is built as a pipeline swaps schedulers: `Class.from_config(model_scheduler_config)`.
"""
import json
import pathlib
import sys

import diffusers
import torch
from diffusers import DEISMultistepScheduler, LCMScheduler, TCDScheduler, UniPCMultistepScheduler

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from dump_schedulers import CONFIGS, NoiseRecorder, SHAPE, _Null, floats, make_inputs, scalar  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/schedulers-c"

CLASSES = {"unipc": UniPCMultistepScheduler, "deis": DEISMultistepScheduler, "lcm": LCMScheduler, "tcd": TCDScheduler}
SIGMA_KINDS = {"unipc", "deis"}

SD15, SD21 = CONFIGS["sd15"], CONFIGS["sd21"]
VARIANT_CONFIGS = {
    "sd15_karras": {**SD15, "use_karras_sigmas": True},
    "sd21_karras": {**SD21, "use_karras_sigmas": True},
    "sd15_exponential": {**SD15, "use_exponential_sigmas": True},
    "sd21_exponential": {**SD21, "use_exponential_sigmas": True},
}
OPTION_CONFIGS = {
    "unipc": {
        # bh1 and noise-space updates need a non-zero final sigma: with "zero" diffusers' last step gives NaN.
        "sd15_bh1_order3": {**SD15, "solver_type": "bh1", "solver_order": 3, "final_sigmas_type": "sigma_min"},
        "sd21_noise_space": {**SD21, "predict_x0": False, "final_sigmas_type": "sigma_min"},
        "sd15_corrector_off_trailing": {**SD15, "disable_corrector": [0, 2], "final_sigmas_type": "sigma_min",
                                        "timestep_spacing": "trailing"},
        "sd21_zero_snr_linspace": {**SD21, "rescale_betas_zero_snr": True, "timestep_spacing": "linspace"},
        "sd15_order1_karras_sigma_min": {**SD15, "solver_order": 1, "use_karras_sigmas": True,
                                         "final_sigmas_type": "sigma_min"},
    },
    "deis": {
        "sd15_order3": {**SD15, "solver_order": 3},
        "sd21_order3_karras": {**SD21, "solver_order": 3, "use_karras_sigmas": True},
        "sd15_order1": {**SD15, "solver_order": 1},
        "sd15_no_lower_final_linspace": {**SD15, "lower_order_final": False, "timestep_spacing": "linspace"},
    },
    "lcm": {
        "sd15_custom_schedule": {**SD15, "original_inference_steps": 100, "timestep_scaling": 5.0, "clip_sample": True,
                                 "clip_sample_range": 0.8},
        "sd21_zero_snr": {**SD21, "rescale_betas_zero_snr": True},
    },
    "tcd": {
        "sd15_custom_schedule": {**SD15, "original_inference_steps": 40},
    },
}
STEPS = [1, 2, 3, 4, 7, 10, 16]
OPTION_STEPS = [1, 3, 7, 12]
TIMESTEP_STEPS = [1, 2, 3, 4, 5, 6, 7, 9, 10, 16, 20, 25, 30, 48, 50, 61, 100]


def trajectory(kind, config_name, config, steps, inputs, gamma=None):
    cls = CLASSES[kind]
    sched = cls.from_config(config)
    sched.set_timesteps(steps)
    timesteps = sched.timesteps.clone()
    case = {
        "config_name": config_name, "steps": steps,
        "timesteps": floats(timesteps.to(torch.float32)),
        "sigmas": floats(sched.sigmas) if kind in SIGMA_KINDS else None,
        "init_noise_sigma": scalar(sched.init_noise_sigma),
    }
    if gamma is not None:
        case["eta"] = gamma
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
            scale_factors.append(floats(sched.scale_model_input(torch.ones(SHAPE), t))[0])
            kwargs = {}
            if kind == "lcm":
                kwargs = {"generator": generator}
            if kind == "tcd":
                kwargs = {"eta": gamma, "generator": generator}
            sample = sched.step(inputs["model_outputs"][i], t, sample, **kwargs).prev_sample
            assert torch.isfinite(sample).all(), (kind, config_name, steps, i)
            samples.append(floats(sample))
    case["scale_factors"] = scale_factors
    case["samples"] = samples
    case["noises"] = [floats(n) for n in recorder.drawn] if recorder else []
    return case


def base_configs():
    return {"sd15": SD15, "sd21": SD21, "linear_trailing": CONFIGS["linear_trailing"]}


def timestep_cases(configs):
    cases = []
    for kind, cls in CLASSES.items():
        for config_name, config in configs.items():
            if kind not in SIGMA_KINDS and ("karras" in config_name or "exponential" in config_name):
                continue
            for steps in TIMESTEP_STEPS:
                if kind in ("lcm", "tcd") and steps > config.get("original_inference_steps", 50):
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
    diffusers.utils.logging.set_verbosity_error()  # LCM/TCD warn about the SD configs' skip_prk_steps key
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    inputs = make_inputs()
    shared = json.loads((ROOT / "Tests/Fixtures/schedulers/inputs.json").read_text())
    assert shared["initial_sample"] == floats(inputs["initial_sample"]), "inputs.json is stale: rerun dump_schedulers.py"
    timestep_configs = {**base_configs(), **VARIANT_CONFIGS,
                        "sd15_linspace": {**SD15, "timestep_spacing": "linspace"},
                        "sd21_trailing": {**SD21, "timestep_spacing": "trailing"}}
    write("timesteps.json", {"configs": timestep_configs, "cases": timestep_cases(timestep_configs)})
    for kind in CLASSES:
        configs = dict(base_configs())
        if kind in SIGMA_KINDS:
            configs.update(VARIANT_CONFIGS)
        options = OPTION_CONFIGS.get(kind, {})
        cases = []
        for name, config in configs.items():
            steps = STEPS if name in ("sd15", "sd21") else OPTION_STEPS
            cases += [trajectory(kind, name, config, n, inputs, 0.0 if kind == "tcd" else None) for n in steps]
        for name, config in options.items():
            cases += [trajectory(kind, name, config, n, inputs, 0.0 if kind == "tcd" else None) for n in OPTION_STEPS]
        if kind == "tcd":  # gamma > 0: the stochastic re-noising, one draw per step but the last
            cases += [trajectory(kind, name, configs[name], n, inputs, 0.3) for name in ("sd15", "sd21") for n in STEPS]
            cases += [trajectory(kind, "sd15", configs["sd15"], n, inputs, 1.0) for n in OPTION_STEPS]
        write(f"{kind}.json", {"kind": kind, "configs": {**configs, **options}, "cases": cases})


if __name__ == "__main__":
    main()

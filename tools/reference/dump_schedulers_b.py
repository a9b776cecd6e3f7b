"""Dumps the reference fixtures for DPM++ 2M, DPM++ 2M SDE and DPM++ 2S a under Tests/Fixtures/schedulers-b/.

Pinned: diffusers 0.42.1, torch 2.13 (cpu), numpy 2.4; k-diffusion 0.1.1 for DPM++ 2S a, ported below (its
package needs torchsde/torchdiffeq/torchvision just to import). Run by hand from the package root:

    python3 tools/reference/dump_schedulers_b.py

Uses the shared random inputs of dump_schedulers.py (Tests/Fixtures/schedulers/inputs.json, same seed).
Files written:
- dpm_timesteps.json: DPMSolverMultistepScheduler timesteps / sigmas over many step counts and configurations.
- dpmpp_2m.json, dpmpp_2m_sde.json: trajectories of DPMSolverMultistepScheduler.from_config(config,
  algorithm_type=…, solver_order=2) (or the config's own solver_order where a case sets one), SDE noise recorded
  at the exact randn_tensor calls the scheduler makes.
- dpmpp_2s_a.json: trajectories of k-diffusion's sample_dpmpp_2s_ancestral on EulerDiscreteScheduler's sigmas,
  with diffusers' Euler conventions per model call (see DPMSolver2SAncestralScheduler.swift): every call's
  timestep, sigma and input scale, and the sample after every call (x₂ after a step's first call).
"""
import json
import pathlib

import diffusers
import numpy as np
import torch
from diffusers import DPMSolverMultistepScheduler, EulerDiscreteScheduler

import dump_schedulers as base
from dump_schedulers import CONFIGS, NoiseRecorder, floats, make_inputs, scalar

assert diffusers.__version__ == "0.42.1", diffusers.__version__

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "Tests/Fixtures/schedulers-b"

SD15, SD21, LINEAR = CONFIGS["sd15"], CONFIGS["sd21"], CONFIGS["linear_trailing"]
# Trajectory configurations: model configs plus the sigma-schedule variants and DPM-specific keys.
DPM_CONFIGS = {
    "sd15": SD15,
    "sd21": SD21,
    "linear_trailing": LINEAR,
    "sd15_karras": {**SD15, "use_karras_sigmas": True},
    "sd15_exponential": {**SD15, "use_exponential_sigmas": True},
    "sd21_karras": {**SD21, "use_karras_sigmas": True},
    "sd21_exponential": {**SD21, "use_exponential_sigmas": True},
}
DPM_EXTRA = {  # fewer step counts each
    "sd15_leading": {**SD15, "timestep_spacing": "leading"},
    "sd15_order3": {**SD15, "solver_order": 3},
    "sd21_order3_karras": {**SD21, "solver_order": 3, "use_karras_sigmas": True},
    "sd15_heun": {**SD15, "solver_type": "heun"},
    "sd15_no_lower_order_final": {**SD15, "lower_order_final": False},
    "sd15_sigma_min_euler_final": {**SD15, "final_sigmas_type": "sigma_min", "euler_at_final": True},
    "sd15_lu": {**SD15, "use_lu_lambdas": True},
    "sd15_sample": {**SD15, "prediction_type": "sample", "timestep_spacing": "trailing"},
}
DPM_TIMESTEP_CONFIGS = {
    **DPM_CONFIGS, **DPM_EXTRA,
    "sd15_trailing": {**SD15, "timestep_spacing": "trailing"},
    "sd15_sigma_min": {**SD15, "final_sigmas_type": "sigma_min"},
    "zero_snr_trailing": {**SD21, "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"},
    "squaredcos_karras": {**LINEAR, "beta_schedule": "squaredcos_cap_v2", "use_karras_sigmas": True},
    "squaredcos_clipped": {**LINEAR, "beta_schedule": "squaredcos_cap_v2", "lambda_min_clipped": -5.1,
                           "timestep_spacing": "linspace"},
    "squaredcos_clipped_trailing": {**LINEAR, "beta_schedule": "squaredcos_cap_v2", "lambda_min_clipped": -5.1},
}
STEPS = [1, 2, 3, 7, 10]
LONG_RUN = 20  # ≥ 15 steps: lower_order_final no longer applies (sd15 and sd21 only)
EXTRA_STEPS = [3, 8]
TIMESTEP_STEPS = [1, 2, 3, 4, 5, 7, 10, 16, 25, 50, 61, 100]
ALGORITHMS = {"dpmpp_2m": "dpmsolver++", "dpmpp_2m_sde": "sde-dpmsolver++"}

# DPM++ 2S a: Euler sigma variants (standard, Karras, exponential) on both model families.
TWO_S_CONFIGS = {
    "sd15": SD15,
    "sd21": SD21,
    "linear_trailing": LINEAR,
    "sd15_karras": {**SD15, "use_karras_sigmas": True},
    "sd21_karras": {**SD21, "use_karras_sigmas": True},
    "sd15_exponential": {**SD15, "use_exponential_sigmas": True},
    "sd21_exponential": {**SD21, "use_exponential_sigmas": True},
    "sd15_leading": {**SD15, "timestep_spacing": "leading"},
}
TWO_S_STEPS = [1, 2, 3, 7, 10]  # 10 steps make 19 model calls, within the 32-output bank


def dpm(kind, config):
    overrides = {"algorithm_type": ALGORITHMS[kind]}
    if "solver_order" not in config:
        overrides["solver_order"] = 2
    return DPMSolverMultistepScheduler.from_config(config, **overrides)


def dpm_trajectory(kind, config_name, config, steps, inputs):
    sched = dpm(kind, config)
    sched.set_timesteps(steps)
    timesteps = sched.timesteps.clone()
    case = {
        "config_name": config_name, "steps": steps,
        "timesteps": floats(timesteps.to(torch.float32)), "sigmas": floats(sched.sigmas),
        "init_noise_sigma": scalar(sched.init_noise_sigma), "add_noise": [],
    }
    for k in sorted({0, len(timesteps) // 2, len(timesteps) - 1}):
        fresh = dpm(kind, config)
        fresh.set_timesteps(steps)
        fresh.set_begin_index(k)  # as img2img pipelines do; avoids the duplicate-timestep lookup
        noisy = fresh.add_noise(inputs["original"], inputs["noise"], fresh.timesteps[k : k + 1])
        case["add_noise"].append({"step_index": k, "result": floats(noisy)})
    module = __import__(DPMSolverMultistepScheduler.__module__, fromlist=["randn_tensor"])
    sample = inputs["initial_sample"] * sched.init_noise_sigma
    generator = torch.Generator().manual_seed(7)
    factors, samples = [], []
    with NoiseRecorder(module) as recorder:
        for i, t in enumerate(timesteps):
            factors.append(floats(sched.scale_model_input(torch.ones(base.SHAPE), t))[0])
            sample = sched.step(inputs["model_outputs"][i], t, sample, generator=generator).prev_sample
            samples.append(floats(sample))
    case.update(scale_factors=factors, samples=samples, noises=[floats(n) for n in recorder.drawn])
    return case


def dpm_timestep_cases():
    cases = []
    for name, config in DPM_TIMESTEP_CONFIGS.items():
        for steps in TIMESTEP_STEPS:
            sched = dpm("dpmpp_2m", config)
            sched.set_timesteps(steps)
            cases.append({"config_name": name, "steps": steps, "timesteps": floats(sched.timesteps.to(torch.float32)),
                          "sigmas": floats(sched.sigmas)})
    return cases


# --- DPM++ 2S a -------------------------------------------------------------------------------------------------


def ancestral_step(sigma_from, sigma_to, eta=1.0):
    """k-diffusion's get_ancestral_step, same float32 tensor arithmetic."""
    if not eta:
        return sigma_to, 0.0
    up = eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5
    sigma_up = min(sigma_to, up)
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def dpmpp_2s_ancestral(model, x, sigmas, noise_sampler, eta=1.0, s_noise=1.0):
    """Port of k-diffusion 0.1.1 `sample_dpmpp_2s_ancestral` (float32 tensors, same operation order)."""
    ones = x.new_ones([x.shape[0]])

    def sigma_of(t):
        return t.neg().exp()

    def t_of(sigma):
        return sigma.log().neg()

    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * ones)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        if sigma_down == 0:
            derivative = (x - denoised) / sigmas[i]  # to_d
            x = x + derivative * (sigma_down - sigmas[i])
        else:
            t, t_next = t_of(sigmas[i]), t_of(sigma_down)
            h = t_next - t
            s = t + 0.5 * h
            x_2 = (sigma_of(s) / sigma_of(t)) * x - (-h * 0.5).expm1() * denoised
            denoised_2 = model(x_2, sigma_of(s) * ones)
            x = (sigma_of(t_next) / sigma_of(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise_sampler(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


class EulerConventionDenoiser:
    """k-diffusion's `model(x, sigma) → x̂₀` with diffusers' Euler conventions: the model sees x / √(σ² + 1) at
    Euler's timestep (the schedule's own timestep for a step's σ, `_sigma_to_t` of σ for the midpoint call), and
    x̂₀ is formed as EulerDiscreteScheduler.step forms pred_original_sample. `predict(model_input, t, call)` is
    the model (call counts model evaluations from 0); `calls` records (timestep, σ, input scale, x) per call."""

    def __init__(self, euler, predict):
        self.euler, self.predict, self.step, self.calls = euler, predict, 0, []
        self.midpoint_next = False
        table = (((1 - euler.alphas_cumprod) / euler.alphas_cumprod) ** 0.5).numpy()
        self.log_sigmas = np.log(table)

    def __call__(self, x, sigma_in):
        sigma = sigma_in[0]
        # Call order decides, not σ: with eta 1 the midpoint σ equals the next step's σ mathematically, and often
        # in float32 too. A step's first call is followed by its midpoint call unless σ_down is 0.
        if not self.midpoint_next:
            t = self.euler.timesteps[self.step].to(torch.float32)
            sigma_down, _ = ancestral_step(self.euler.sigmas[self.step], self.euler.sigmas[self.step + 1])
            self.midpoint_next = bool(sigma_down != 0)
            self.step += 1
        else:
            self.midpoint_next = False
            if self.euler.config.timestep_type == "continuous" and self.euler.config.prediction_type == "v_prediction":
                t = 0.25 * sigma.log()
            else:
                t = torch.tensor(np.float32(self.euler._sigma_to_t(np.array(float(sigma)), self.log_sigmas)))
        root = (sigma**2 + 1) ** 0.5
        output = self.predict(x / root, t, len(self.calls))
        self.calls.append((t, sigma, 1 / root, x.clone()))
        if self.euler.config.prediction_type == "v_prediction":
            return output * (-sigma / (sigma**2 + 1) ** 0.5) + (x / (sigma**2 + 1))
        if self.euler.config.prediction_type == "epsilon":
            return x - sigma * output
        return output


def run_2s_ancestral(euler, predict, x, noise_sampler):
    """Runs the port on `euler`'s sigmas from latent `x`; returns (denoiser with its call log, final x)."""
    denoiser = EulerConventionDenoiser(euler, predict)
    final = dpmpp_2s_ancestral(denoiser, x, euler.sigmas, noise_sampler)
    return denoiser, final


def two_s_trajectory(config_name, config, steps, inputs):
    generator = torch.Generator().manual_seed(7)
    drawn = []

    def noise_sampler(_sigma, _sigma_next):
        z = torch.randn(base.SHAPE, generator=generator)
        drawn.append(z.clone())
        return z

    euler = EulerDiscreteScheduler.from_config(config)
    euler.set_timesteps(steps)
    denoiser, final = run_2s_ancestral(euler, lambda _input, _t, call: inputs["model_outputs"][call],
                                       inputs["initial_sample"] * euler.init_noise_sigma, noise_sampler)
    inputs_seen = [c[3] for c in denoiser.calls]
    samples = [floats(x) for x in inputs_seen[1:]] + [floats(final)]
    call_sigmas = torch.stack([c[1] for c in denoiser.calls])
    case = {
        "config_name": config_name, "steps": steps,
        "timesteps": floats(torch.stack([c[0] for c in denoiser.calls])),
        "sigmas": floats(euler.sigmas), "call_sigmas": floats(call_sigmas),
        "init_noise_sigma": scalar(euler.init_noise_sigma),
        "scale_factors": [floats(c[2].reshape(1))[0] for c in denoiser.calls],
        "samples": samples, "noises": [floats(z) for z in drawn], "add_noise": [],
    }
    for k in sorted({0, len(denoiser.calls) // 2, len(denoiser.calls) - 1}):
        noisy = inputs["original"] + inputs["noise"] * call_sigmas[k]
        case["add_noise"].append({"step_index": k, "result": floats(noisy)})
    return case


def write(name, payload):
    path = OUT / name
    path.write_text(json.dumps(payload, separators=(",", ":")) + "\n")
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    inputs = make_inputs()
    write("dpm_timesteps.json", {"configs": DPM_TIMESTEP_CONFIGS, "cases": dpm_timestep_cases()})
    for kind in ALGORITHMS:
        cases = [dpm_trajectory(kind, name, config, n, inputs) for name, config in DPM_CONFIGS.items() for n in STEPS]
        cases += [dpm_trajectory(kind, name, DPM_CONFIGS[name], LONG_RUN, inputs) for name in ("sd15", "sd21")]
        cases += [dpm_trajectory(kind, name, config, n, inputs) for name, config in DPM_EXTRA.items() for n in EXTRA_STEPS]
        write(f"{kind}.json", {"kind": kind, "configs": {**DPM_CONFIGS, **DPM_EXTRA}, "cases": cases})
    cases = [two_s_trajectory(name, config, n, inputs) for name, config in TWO_S_CONFIGS.items() for n in TWO_S_STEPS]
    write("dpmpp_2s_a.json", {"kind": "dpmpp_2s_a", "configs": TWO_S_CONFIGS, "cases": cases})


if __name__ == "__main__":
    main()

"""Dumps the reference fixtures for LMS, Heun, KDPM2, KDPM2 ancestral and DDPM under Tests/Fixtures/schedulers-a/.

Pinned: diffusers 0.42.1, torch 2.13 (cpu), numpy 2.4, scipy (LMS integrates its coefficients with scipy's quad).
Run by hand from the package root:

    python3 tools/reference/dump_schedulers_a.py

Reuses dump_schedulers.py (configs, the shared random inputs in Tests/Fixtures/schedulers/inputs.json, float
formatting and the trajectory recorder), so the Swift tests read the same inputs file.

Files written:
- <kind>.json: full trajectories (timesteps, sigmas, init_noise_sigma, scale factors, add_noise, the sample after
  every step call and every noise tensor drawn), in dump_schedulers.py's format.
- timesteps.json: timesteps / sigmas / init_noise_sigma only, over more step counts and configurations.
"""
import contextlib
import pathlib
import sys

import diffusers
import torch
from diffusers import (
    DDPMScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LMSDiscreteScheduler,
)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dump_schedulers as base  # noqa: E402

assert diffusers.__version__ == "0.42.1", diffusers.__version__

OUT = base.ROOT / "Tests/Fixtures/schedulers-a"

CLASSES = {
    "lms": LMSDiscreteScheduler,
    "heun": HeunDiscreteScheduler,
    "dpm2": KDPM2DiscreteScheduler,
    "dpm2_a": KDPM2AncestralDiscreteScheduler,
    "ddpm": DDPMScheduler,
}
SIGMA_KINDS = {"lms", "heun", "dpm2", "dpm2_a"}

SD = {"sd15": base.CONFIGS["sd15"], "sd21": base.CONFIGS["sd21"]}
VARIANTS = {
    f"{name}_{variant}": {**config, f"use_{variant}_sigmas": True}
    for name, config in SD.items()
    for variant in ("karras", "exponential")
}
# DDPM's own defaults (linear betas, clip_sample on, leading spacing without offset), other variance types and
# spacings; trajectories for these too.
DDPM_EXTRA = {
    "ddpm_default": {"_class_name": "DDPMScheduler"},
    "sd15_fixed_small_log": {**SD["sd15"], "variance_type": "fixed_small_log", "timestep_spacing": "trailing"},
    "sd21_fixed_large": {**SD["sd21"], "variance_type": "fixed_large", "timestep_spacing": "linspace"},
}
# Timesteps/sigmas only: spacings, the classes' own beta defaults, explicit sigma bounds and other schedules.
TIMESTEP_CONFIGS = {
    **SD,
    **VARIANTS,
    "sd15_leading": {**SD["sd15"], "timestep_spacing": "leading"},
    "sd15_trailing": {**SD["sd15"], "timestep_spacing": "trailing"},
    "bare": {},
    "squaredcos": {"beta_schedule": "squaredcos_cap_v2", "timestep_spacing": "leading", "steps_offset": 1},
    "karras_bounds": {**SD["sd15"], "use_karras_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0},
    "exponential_bounds": {**SD["sd15"], "use_exponential_sigmas": True, "sigma_min": 0.1, "sigma_max": 10.0},
    "karras_leading": {**SD["sd15"], "use_karras_sigmas": True, "timestep_spacing": "leading"},
}
STEPS = [1, 2, 3, 4, 7, 10, 15]  # Heun / KDPM2 make 2n - 1 calls: 29 at 15, within the 32 model outputs
VARIANT_STEPS = [1, 2, 3, 5, 10]
TIMESTEP_STEPS = [1, 2, 3, 4, 5, 7, 10, 16, 25, 50]


@contextlib.contextmanager
def _cheap_init_schedule(cls):
    """While active, the set_timesteps(num_train_timesteps) a constructor runs builds a 2-step schedule instead.

    KDPM2's constructor places 1000 interpolated sigmas one by one (seconds per instance); every field it builds
    is rebuilt by the caller's own set_timesteps(steps), so the results are unchanged."""
    real = cls.set_timesteps

    def cheap(self, num_inference_steps=None, device=None, *rest, **kwargs):
        return real(self, 2, device, *rest, **kwargs)

    cls.set_timesteps = cheap
    try:
        yield
    finally:
        cls.set_timesteps = real


def fast_from_config(cls):
    """Makes `cls.from_config` skip the expensive constructor schedule (see `_cheap_init_schedule`)."""
    if "from_config" in cls.__dict__:
        return
    generic = cls.from_config.__func__

    def from_config(klass, config=None, **kwargs):
        with _cheap_init_schedule(klass):
            return generic(klass, config, **kwargs)

    cls.from_config = classmethod(from_config)


for _cls in (HeunDiscreteScheduler, KDPM2DiscreteScheduler, KDPM2AncestralDiscreteScheduler):
    fast_from_config(_cls)


def timestep_cases():
    cases = []
    for kind, cls in CLASSES.items():
        for config_name, config in TIMESTEP_CONFIGS.items():
            if kind == "ddpm" and ("karras" in config_name or "exponential" in config_name):
                continue
            for steps in TIMESTEP_STEPS:
                sched = cls.from_config(config)
                sched.set_timesteps(steps)
                cases.append({
                    "kind": kind, "config_name": config_name, "steps": steps,
                    "timesteps": base.floats(sched.timesteps.to(torch.float32)),
                    "sigmas": base.floats(sched.sigmas) if kind in SIGMA_KINDS else None,
                    "init_noise_sigma": base.scalar(sched.init_noise_sigma),
                })
    return cases


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_grad_enabled(False)
    # Stochastic steps draw from the global generator here (the recorder keeps what they drew); seed it so the
    # files are reproducible.
    torch.manual_seed(0)
    # The base recorder looks classes up in its own tables.
    base.CLASSES.update(CLASSES)
    base.SIGMA_KINDS.update(SIGMA_KINDS)
    base.OUT = OUT
    inputs = base.make_inputs()
    base.write("timesteps.json", {"configs": TIMESTEP_CONFIGS, "cases": timestep_cases()})
    for kind in CLASSES:
        configs = dict(SD)
        cases = [base.trajectory(kind, name, config, n, inputs) for name, config in SD.items() for n in STEPS]
        if kind == "ddpm":
            configs.update(DDPM_EXTRA)
            cases += [base.trajectory(kind, name, config, n, inputs) for name, config in DDPM_EXTRA.items()
                      for n in VARIANT_STEPS]
        else:
            configs.update(VARIANTS)
            cases += [base.trajectory(kind, name, config, n, inputs) for name, config in VARIANTS.items()
                      for n in VARIANT_STEPS]
        base.write(f"{kind}.json", {"kind": kind, "configs": configs, "cases": cases})


if __name__ == "__main__":
    main()

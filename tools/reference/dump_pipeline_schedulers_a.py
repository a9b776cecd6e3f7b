"""End-to-end references for LMS, Heun, DPM2, DPM2 ancestral and DDPM (and their Karras variants) with diffusers'
StableDiffusionPipeline (fp32, CPU), written to Tests/Fixtures/reference/schedulers-a/ in dump_pipeline.py's format.

    python tools/reference/dump_pipeline_schedulers_a.py

Each scheduler is built as `Class.from_config(model_scheduler_config, use_karras_sigmas=...)`, the way a user swaps
schedulers in diffusers. PipelineParityTests picks the folder up on its own.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dump_pipeline as base  # noqa: E402
import dump_schedulers_a  # noqa: E402,F401  (makes KDPM2/Heun from_config skip their costly constructor schedule)

OUT = base.ROOT / "Tests/Fixtures/reference/schedulers-a"

base.SCHEDULER_FACTORIES.update({
    "lms": base._from_config("LMSDiscreteScheduler"),
    "lms_karras": base._from_config("LMSDiscreteScheduler", use_karras_sigmas=True),
    "heun": base._from_config("HeunDiscreteScheduler"),
    "heun_karras": base._from_config("HeunDiscreteScheduler", use_karras_sigmas=True),
    "heun_exponential": base._from_config("HeunDiscreteScheduler", use_exponential_sigmas=True),
    "dpm2": base._from_config("KDPM2DiscreteScheduler"),
    "dpm2_karras": base._from_config("KDPM2DiscreteScheduler", use_karras_sigmas=True),
    "dpm2_a": base._from_config("KDPM2AncestralDiscreteScheduler"),
    "dpm2_a_karras": base._from_config("KDPM2AncestralDiscreteScheduler", use_karras_sigmas=True),
    "dpm2_a_exponential": base._from_config("KDPM2AncestralDiscreteScheduler", use_exponential_sigmas=True),
    "ddpm": base._from_config("DDPMScheduler"),
})

F15, F2V = base.F15, base.F2V
A, CUBE, CAT = base.ASTRONAUT, "a red cube on a table", "portrait of a cat"

# (scheduler, steps) per model: every name and its Karras variant on both, steps 2-7 with odd ones and < 5.
PLAN = {
    F15: [("lms", 4), ("lms_karras", 5), ("heun", 3), ("heun_karras", 2), ("heun_exponential", 4), ("dpm2", 5),
          ("dpm2_karras", 3), ("dpm2_a", 4), ("dpm2_a_karras", 7), ("ddpm", 6)],
    F2V: [("lms", 3), ("lms_karras", 6), ("heun", 4), ("heun_karras", 5), ("dpm2", 2), ("dpm2_karras", 7),
          ("dpm2_a", 3), ("dpm2_a_karras", 5), ("dpm2_a_exponential", 4), ("ddpm", 7)],
}


def cases():
    out, seed = [], 100
    for model, plan in PLAN.items():
        family = "sd15" if model == F15 else "sd2v"
        for i, (scheduler, steps) in enumerate(plan):
            seed += 1
            wide = i % 3 == 2  # some non-square sizes
            width, height = (96, 64) if wide else (64, 64)
            prompt = [A, CUBE, CAT][i % 3]
            negative = base.NEGATIVE if i % 4 == 1 else None
            name = f"{family}-{scheduler.replace('_', '-')}-{steps}steps" + ("-96x64" if wide else "")
            out.append(base.case(name, model, prompt, steps, 7.5, seed, width, height, scheduler, negative))
    return out


if __name__ == "__main__":
    base.main(cases(), OUT)

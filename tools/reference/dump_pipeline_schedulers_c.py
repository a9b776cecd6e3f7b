"""End-to-end references for UniPC, DEIS, LCM and TCD (and their Karras / exponential variants) with diffusers'
StableDiffusionPipeline on the tiny SD1.5 and SD2-v folder models.

    python tools/reference/dump_pipeline_schedulers_c.py

Writes Tests/Fixtures/reference/schedulers-c/ in dump_pipeline.py's layout (PNG, safetensors, cases.json), which
PipelineParityTests picks up. Schedulers are swapped in with `Class.from_config(pipe.scheduler.config, ...)`;
TCD receives the pipeline's default eta (0.0) as its gamma, as StableDiffusionPipeline passes it.
"""
import pathlib
import sys

import diffusers

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import dump_pipeline  # noqa: E402
from dump_pipeline import ASTRONAUT, F15, F2V, NEGATIVE, ROOT, SCHEDULER_FACTORIES, _from_config, case  # noqa: E402

OUT = ROOT / "Tests/Fixtures/reference/schedulers-c"

SCHEDULER_FACTORIES.update({
    "unipc": _from_config("UniPCMultistepScheduler"),
    "unipc_karras": _from_config("UniPCMultistepScheduler", use_karras_sigmas=True),
    "unipc_exponential": _from_config("UniPCMultistepScheduler", use_exponential_sigmas=True),
    "deis": _from_config("DEISMultistepScheduler"),
    "deis_karras": _from_config("DEISMultistepScheduler", use_karras_sigmas=True),
    "deis_exponential": _from_config("DEISMultistepScheduler", use_exponential_sigmas=True),
    "lcm": _from_config("LCMScheduler"),
    "tcd": _from_config("TCDScheduler"),
})

CAT = "portrait of a cat"
CUBE = "a red cube on a table"
CASES = [
    case("sd15-unipc-1step", F15, ASTRONAUT, 1, 7.5, 101, 64, 64, "unipc"),
    case("sd15-unipc-3steps", F15, CUBE, 3, 7.5, 102, 64, 64, "unipc", NEGATIVE),
    case("sd15-unipc-karras-5steps", F15, ASTRONAUT, 5, 7.5, 103, 64, 64, "unipc_karras"),
    case("sd15-unipc-exponential-4steps", F15, CAT, 4, 7.5, 104, 64, 64, "unipc_exponential"),
    case("sd15-deis-2steps", F15, ASTRONAUT, 2, 7.5, 105, 64, 64, "deis"),
    case("sd15-deis-7steps", F15, CAT, 7, 7.5, 106, 64, 64, "deis"),
    case("sd15-deis-karras-3steps", F15, CUBE, 3, 7.5, 107, 64, 64, "deis_karras"),
    case("sd15-deis-exponential-6steps", F15, ASTRONAUT, 6, 7.5, 108, 64, 64, "deis_exponential"),
    case("sd15-lcm-4steps-nocfg", F15, ASTRONAUT, 4, 1.0, 109, 64, 64, "lcm"),
    case("sd15-lcm-3steps-cfg", F15, CAT, 3, 7.5, 110, 64, 64, "lcm", NEGATIVE),
    case("sd15-tcd-4steps-nocfg", F15, CUBE, 4, 1.0, 111, 64, 64, "tcd"),
    case("sd15-tcd-1step-cfg", F15, ASTRONAUT, 1, 7.5, 112, 64, 64, "tcd"),
    case("sd2v-unipc-7steps", F2V, ASTRONAUT, 7, 7.5, 201, 64, 64, "unipc"),
    case("sd2v-unipc-karras-2steps", F2V, CAT, 2, 7.5, 202, 64, 64, "unipc_karras"),
    case("sd2v-unipc-exponential-3steps", F2V, CUBE, 3, 7.5, 203, 64, 64, "unipc_exponential", NEGATIVE),
    case("sd2v-deis-5steps", F2V, CAT, 5, 7.5, 204, 64, 64, "deis"),
    case("sd2v-deis-karras-4steps", F2V, ASTRONAUT, 4, 7.5, 205, 64, 64, "deis_karras"),
    case("sd2v-deis-exponential-1step", F2V, ASTRONAUT, 1, 7.5, 206, 64, 64, "deis_exponential"),
    case("sd2v-lcm-5steps-cfg", F2V, CUBE, 5, 2.0, 207, 64, 64, "lcm"),
    case("sd2v-lcm-2steps-nocfg", F2V, CAT, 2, 1.0, 208, 64, 64, "lcm"),
    case("sd2v-tcd-3steps-cfg", F2V, ASTRONAUT, 3, 1.5, 209, 64, 64, "tcd"),
    case("sd2v-tcd-6steps-nocfg", F2V, CUBE, 6, 1.0, 210, 64, 64, "tcd"),
]


if __name__ == "__main__":
    diffusers.utils.logging.set_verbosity_error()  # LCM/TCD warn about the SD configs' skip_prk_steps key
    dump_pipeline.main(CASES, OUT)

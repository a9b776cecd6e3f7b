"""Runs `latent generate` for every case of one or more reference suites and prints the PSNR against diffusers'
image (no Python is needed at run time by Latent; this script only reports).

    python tools/reference/compare_cli.py [--latent .build/release/latent] [suite ...]

Suites are folders under Tests/Fixtures/reference/ holding a cases.json (default: all of them).
"""
import argparse
import json
import math
import pathlib
import subprocess
import tempfile

import numpy as np
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]


def psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latent", default=str(ROOT / ".build/release/latent"))
    parser.add_argument("--reference", help="a folder holding cases.json (e.g. from dump_pipeline_full.py)")
    parser.add_argument("suites", nargs="*")
    args = parser.parse_args()
    if args.reference:
        reference, suites = pathlib.Path(args.reference).resolve().parent, [pathlib.Path(args.reference).name]
    else:
        reference = ROOT / "Tests/Fixtures/reference"
        suites = args.suites or sorted(p.parent.name for p in reference.glob("*/cases.json"))
    worst = math.inf
    with tempfile.TemporaryDirectory() as tmp:
        for suite in suites:
            for case in json.loads((reference / suite / "cases.json").read_text()):
                out = pathlib.Path(tmp) / f"{case['name']}.png"
                command = [
                    args.latent, "generate", "--model", str(ROOT / case["model"]), "--prompt", case["prompt"],
                    "--steps", str(case["steps"]), "--cfg-scale", str(case["guidance_scale"]),
                    "--seed", str(case["seed"]), "--width", str(case["width"]), "--height", str(case["height"]),
                    "--output", str(out),
                ]
                if case.get("negative_prompt"):
                    command += ["--negative-prompt", case["negative_prompt"]]
                if case.get("scheduler"):
                    command += ["--scheduler", case["scheduler"]]
                run = subprocess.run(command, capture_output=True, text=True)
                if run.returncode != 0:
                    print(f"{suite}/{case['name']}: FAILED {run.stderr.strip()}")
                    worst = -math.inf
                    continue
                value = psnr(np.array(Image.open(out).convert("RGB")),
                             np.array(Image.open(reference / suite / f"{case['name']}.png").convert("RGB")))
                worst = min(worst, value)
                print(f"{suite}/{case['name']:40s} {value:7.2f} dB")
    print(f"worst PSNR: {worst:.2f} dB")


if __name__ == "__main__":
    main()

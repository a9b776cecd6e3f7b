#!/usr/bin/env python3
"""Dump torch.randn reference draws for TorchCPURandomSource tests.

Run by hand (never in CI) with the pinned reference stack:
    python3 tools/reference/dump_rng.py
Writes Tests/Fixtures/rng/randn.json.

Values are stored as uint32 bit patterns so the Swift test can compare bits exactly. Draws larger than
BIG are stored as their first and last HEAD values plus two checksums over all elements: the float64
sum of the values in order, and the integer sum of the bit patterns.

torch 2.13 on an x86 CPU with AVX2 (AVX-512 also dispatches the AVX2 normal kernel) is required: the
float32 path of torch.randn depends on the CPU kernel torch dispatches to.
"""

import json
import pathlib

import numpy as np
import torch

EXPECTED_TORCH = "2.13"
SEEDS = [0, 1, 42, 2**32 + 7, 12345678901]
SHAPES = [[1], [3], [15], [16], [17], [31], [100], [1, 4, 8, 8], [1, 4, 8, 12], [2, 4, 64, 64]]
# Mixed sizes from one generator: scalar draws around the cached second sample, vector draws with and
# without a ragged tail, and latent-sized draws as diffusers makes them.
SEQUENCES = [
    (0, [[1], [1, 4, 64, 64], [3], [16], [1, 4, 64, 64], [15], [17], [2], [1, 4, 8, 12], [1]]),
    (12345678901, [[5], [1], [33], [1, 4, 32, 32], [7], [1, 4, 32, 32], [1], [100], [2, 3], [1, 4, 8, 8]]),
]
BIG = 512
HEAD = 64


def record(shape, values):
    flat = values.reshape(-1).astype(np.float32)
    bits = flat.view(np.uint32)
    entry = {"shape": shape, "count": int(flat.size)}
    if flat.size <= BIG:
        entry["bits"] = [int(b) for b in bits]
    else:
        entry["head_bits"] = [int(b) for b in bits[:HEAD]]
        entry["tail_bits"] = [int(b) for b in bits[-HEAD:]]
        total = 0.0
        for v in flat.astype(np.float64):  # sequential, matching the Swift loop
            total += float(v)
        entry["sum_f64"] = total
        entry["sum_bits"] = int(bits.astype(np.uint64).sum())
    return entry


def draw(generator, shape):
    return torch.randn(shape, generator=generator, dtype=torch.float32).numpy()


def main():
    if not torch.__version__.startswith(EXPECTED_TORCH):
        raise SystemExit(f"expected torch {EXPECTED_TORCH}, found {torch.__version__}")
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("AVX2", "AVX512"):
        raise SystemExit(f"torch dispatches the {capability} kernel; the fixture needs the AVX2 one")

    cases = []
    for seed in SEEDS:
        for shape in SHAPES:
            generator = torch.Generator("cpu").manual_seed(seed)
            cases.append({"seed": seed, **record(shape, draw(generator, shape))})

    sequences = []
    for seed, shapes in SEQUENCES:
        generator = torch.Generator("cpu").manual_seed(seed)
        sequences.append({"seed": seed, "draws": [record(shape, draw(generator, shape)) for shape in shapes]})

    fixture = {
        "torch_version": torch.__version__,
        "cpu_capability": capability,
        "cases": cases,
        "sequences": sequences,
    }
    root = pathlib.Path(__file__).resolve().parents[2]
    out = root / "Tests" / "Fixtures" / "rng" / "randn.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

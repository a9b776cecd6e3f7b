"""End-to-end references on FULL-SIZE random-weight models (the real SD1.5 and SD2.1-768-v architectures), at
small image sizes so diffusers runs in seconds. Not committed (the models are GBs); run by hand after
`make_models.py --scale full --out DIR`:

    python tools/reference/dump_pipeline_full.py DIR            # writes DIR/reference/cases.json + files
    python tools/reference/compare_cli.py --reference DIR/reference

With `--large` it writes one 512×512 SD1.5 case instead (DIR/reference-512): the size at which the UNet's
64×64 level and the VAE's 128²–512² levels run Winograd convolutions and the decode is tiled (≈ 2 min).
"""
import pathlib
import sys

import dump_pipeline as dp

ASTRONAUT = dp.ASTRONAUT


def main():
    large = "--large" in sys.argv
    positional = [a for a in sys.argv[1:] if a != "--large"]
    models = pathlib.Path(positional[0] if positional else "/tmp/latent-full").resolve()
    f15, s15 = str(models / "sd15-full"), str(models / "sd15-full-bf16.safetensors")
    f2v, s2v = str(models / "sd2v-full"), str(models / "sd2v-full-fp16.safetensors")
    dp.CONFIG_FOR.update({s15: f15, s2v: f2v})
    case = dp.case
    cases = [
        case("full-sd15-pndm-cfg", f15, ASTRONAUT, 4, 7.5, 1, 64, 64),
        case("full-sd15-euler-a-negative-64x96", f15, "a red cube", 3, 7.5, 2, 96, 64, "euler_a", dp.NEGATIVE),
        case("full-sd15-single-ddim-nocfg", s15, dp.LONG, 3, 1.0, 3, 64, 64, "ddim"),
        case("full-sd15-single-euler-unicode", s15, dp.UNICODE, 3, 7.5, 4, 64, 96, "euler"),
        case("full-sd2v-ddim-cfg", f2v, ASTRONAUT, 4, 7.5, 5, 64, 64),
        case("full-sd2v-euler-a-96x64", f2v, "mountains at dawn", 3, 7.5, 6, 96, 64, "euler_a", dp.NEGATIVE),
        case("full-sd2v-single-ddim-cfg", s2v, ASTRONAUT, 3, 7.5, 7, 64, 64),
        case("full-sd2v-single-pndm-nocfg", s2v, dp.LONG, 4, 1.0, 8, 64, 64, "pndm"),
    ]
    if large:
        cases = [case("full-sd15-euler-512", f15, ASTRONAUT, 2, 7.5, 9, 512, 512, "euler")]
    out = models / ("reference-512" if large else "reference")
    listing = []
    out.mkdir(parents=True, exist_ok=True)
    current = None
    for spec in cases:
        if spec["model"] != current:
            dp._pipes.clear()  # one full-size pipeline in memory at a time
            current = spec["model"]
        listing.append({**spec, "scheduler_config": dp.run(spec, out)})
    import json

    (out / "cases.json").write_text(json.dumps(listing, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Times diffusers' StableDiffusionPipeline phase by phase, like `latent bench --json`.

Run by hand (never in CI): python bench/peer_diffusers.py --model /tmp/latent-full/sd15-full --width 512 \
    --height 512 --steps 3 --threads 2
Prints one JSON line with text_encode_s, unet_step_s (mean, CFG pair included), vae_decode_s, peak_rss_bytes
(ru_maxrss of this process) and cpu_s (user+system CPU seconds of the whole run).
"""
import argparse
import json
import resource
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--cfg-scale", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", default="a photograph of an astronaut riding a horse")
    args = parser.parse_args()

    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    pipe = StableDiffusionPipeline.from_pretrained(args.model, torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    pipe.scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    load_s = time.perf_counter() - t

    with torch.inference_mode():
        t = time.perf_counter()
        pipe.encode_prompt(args.prompt, "cpu", 1, True, "")
        text_encode_s = time.perf_counter() - t

        step_times = []
        last = [time.perf_counter()]

        def on_step(p, i, ts, kwargs):
            now = time.perf_counter()
            step_times.append(now - last[0])
            last[0] = now
            return kwargs

        start = time.perf_counter()
        last[0] = start
        latents = pipe(args.prompt, negative_prompt="", num_inference_steps=args.steps, guidance_scale=args.cfg_scale,
                       width=args.width, height=args.height, generator=torch.Generator().manual_seed(args.seed),
                       output_type="latent", callback_on_step_end=on_step).images
        # The first interval includes prompt encoding; subtract the separately measured time.
        step_times[0] = max(0.0, step_times[0] - text_encode_s)
        t = time.perf_counter()
        image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
        pipe.image_processor.postprocess(image, output_type="pil")
        vae_decode_s = time.perf_counter() - t

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "width": args.width, "height": args.height, "steps": args.steps, "load_s": load_s,
        "text_encode_s": text_encode_s, "unet_step_s": sum(step_times) / len(step_times),
        "vae_decode_s": vae_decode_s, "peak_rss_bytes": usage.ru_maxrss * 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime, "torch": torch.__version__,
    }, sort_keys=True))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Model-switching memory check for `latent serve` (stdlib only, loopback only, bounded).

Starts `latent serve` with a temporary --models-dir holding two or more checkpoints (links to the tiny fixtures
by default) and --max-loaded-models 1 (optionally --max-model-memory), warms up every model, then sends
--switches txt2img requests alternating between the models, so every request loads a model and evicts the other.
Reports the server's RSS (VmRSS from /proc/PID/status) after warm-up and after the switches, and the model
loads/evictions from /metrics. Exit status 1 when RSS grew by more than --max-growth percent.

    python3 bench/model_switch.py --latent .build/release/latent --switches 50
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "models")
DEFAULT_MODELS = [os.path.join(FIXTURES, name) for name in ("sd15-tiny", "sd2v-tiny", "sd15-tiny-bf16.safetensors")]


def call(base, method, path, body=None, timeout=600):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def vm_rss(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def metric(base, name):
    status, body = call(base, "GET", "/metrics")
    for line in body.decode().splitlines() if status == 200 else []:
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", default=os.path.join(ROOT, ".build", "release", "latent"))
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="checkpoints to alternate (≥ 2)")
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--switches", type=int, default=50)
    parser.add_argument("--warmup-rounds", type=int, default=2, help="rounds over every model before measuring")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-model-memory", help="passed to --max-model-memory (e.g. 8MB)")
    parser.add_argument("--max-growth", type=float, default=5.0, help="allowed RSS growth in percent")
    parser.add_argument("--max-seconds", type=float, default=600)
    args = parser.parse_args()
    if len(args.models) < 2:
        sys.exit("need at least two models")

    models_dir = tempfile.mkdtemp(prefix="latent-switch-")
    names = []
    for path in args.models:
        link = os.path.join(models_dir, os.path.basename(path.rstrip("/")))
        os.symlink(os.path.abspath(path), link)
        names.append(os.path.splitext(os.path.basename(link))[0])
    command = [args.latent, "serve", "--model", os.path.join(models_dir, os.path.basename(args.models[0].rstrip("/"))),
               "--models-dir", models_dir, "--port", str(args.port), "--max-loaded-models", "1",
               "--max-queue", "4"]
    if args.max_model_memory:
        command += ["--max-model-memory", args.max_model_memory]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = "http://127.0.0.1:%d" % args.port
    try:
        for _ in range(600):
            try:
                if call(base, "GET", "/v2/health/ready", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None:
                sys.exit("server exited: " + server.stderr.read().decode())
            time.sleep(0.1)
        deadline = time.monotonic() + args.max_seconds

        def generate(index):
            model = names[index % len(names)]
            status, body = call(base, "POST", "/sdapi/v1/txt2img", {
                "prompt": "switch %d" % index, "steps": args.steps, "seed": index, "sampler_name": "Euler",
                "override_settings": {"sd_model_checkpoint": model}})
            if status != 200:
                sys.exit("request %d (%s) failed: %d %s" % (index, model, status, body[:200]))

        for index in range(args.warmup_rounds * len(names)):
            generate(index)
        rss_warm = vm_rss(server.pid)
        loads_warm = metric(base, "latent_model_loads_total")
        started = time.monotonic()
        done = 0
        trace = []
        for index in range(args.switches):
            if time.monotonic() > deadline:
                break
            generate(index)
            done += 1
            if done % 10 == 0:
                trace.append(round(vm_rss(server.pid) / 2**20, 1))
        elapsed = time.monotonic() - started
        rss_after = vm_rss(server.pid)
        result = {
            "models": names, "switches": done, "seconds": round(elapsed, 1),
            "rss_after_warmup_mb": round(rss_warm / 2**20, 1), "rss_after_switches_mb": round(rss_after / 2**20, 1),
            "rss_growth_percent": round((rss_after - rss_warm) / rss_warm * 100, 2),
            "rss_every_10_switches_mb": trace,
            "model_loads_during_switches": (metric(base, "latent_model_loads_total") or 0) - (loads_warm or 0),
            "models_loaded": metric(base, "latent_models_loaded"),
            "model_evictions_total": metric(base, "latent_model_evictions_total"),
            "model_weight_bytes": metric(base, "latent_model_weight_bytes"),
            "load_average": os.getloadavg()[0],
        }
        print(json.dumps(result))
        sys.exit(1 if result["rss_growth_percent"] > args.max_growth else 0)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(models_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

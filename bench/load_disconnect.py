#!/usr/bin/env python3
"""Client-disconnect check for `latent serve` (stdlib only, loopback only, bounded).

For each synchronous endpoint (A1111 txt2img and img2img, OpenAI generations), sends a long job (many steps)
over a raw socket, waits until the job runs (GET /sdapi/v1/progress names it), closes the socket, and checks that
the job ends as `cancelled` with "client disconnected" well before its last step (GET /v1/jobs/{id}).

    python3 bench/load_disconnect.py --port 7860 --steps 400
"""
import argparse
import base64
import json
import socket
import struct
import sys
import time
import urllib.request
import zlib


def grey_png(size=64):
    """A size×size mid-grey RGB PNG for img2img."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\x80" * (3 * size) for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.loads(response.read())


def check(host, port, path, body, steps, timeout):
    base = "http://%s:%d" % (host, port)
    payload = json.dumps(body).encode()
    connection = socket.create_connection((host, port))
    connection.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % (path, host, len(payload))).encode() + payload)
    job_id = None
    deadline = time.monotonic() + timeout
    while job_id is None and time.monotonic() < deadline:
        progress = get(base, "/sdapi/v1/progress")
        if progress.get("current_task") and progress.get("state", {}).get("sampling_step", 0) > 0:
            job_id = progress["current_task"]
        else:
            time.sleep(0.05)
    if job_id is None:
        return {"path": path, "ok": False, "reason": "job never started"}
    connection.close()
    closed_at = time.monotonic()
    while time.monotonic() < deadline:
        job = get(base, "/v1/jobs/" + job_id)
        if job["status"] not in ("queued", "running"):
            ok = job["status"] == "cancelled" and job.get("error") == "client disconnected" and job["step"] < job["step_count"]
            return {"path": path, "ok": ok, "status": job["status"], "error": job.get("error"), "step": job["step"],
                    "step_count": job["step_count"], "seconds_to_cancel": round(time.monotonic() - closed_at, 2)}
        time.sleep(0.05)
    return {"path": path, "ok": False, "reason": "job not cancelled within the time bound"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost"):
        sys.exit("load_disconnect.py only targets loopback")
    cases = [
        ("/sdapi/v1/txt2img", {"prompt": "long", "steps": args.steps, "seed": 1}),
        ("/sdapi/v1/img2img", {"prompt": "long", "steps": args.steps, "seed": 1, "denoising_strength": 1,
                               "init_images": [base64.b64encode(grey_png()).decode()], "width": 64, "height": 64}),
        ("/v1/images/generations", {"prompt": "long", "steps": args.steps, "seed": 1, "size": "64x64"}),
    ]
    results = [check(args.host, args.port, path, body, args.steps, args.timeout) for path, body in cases]
    for result in results:
        print(json.dumps(result))
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Crash test for `latent serve --data-dir` (stdlib only, loopback only, bounded).

Starts the server, submits --jobs async jobs, kill -9s it while a job runs, restarts it on the same data dir
and checks that every accepted job ends up either succeeded or visibly failed/cancelled (none lost).

    python3 bench/load_crash.py --binary .build/release/latent --model Tests/Fixtures/models/sd15-tiny
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def call(base, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None
    except (urllib.error.URLError, ConnectionError):
        return 0, None


def start(args, data_dir):
    process = subprocess.Popen(
        [args.binary, "serve", "--model", args.model, "--port", str(args.port), "--data-dir", data_dir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % args.port
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if call(base, "GET", "/v2/health/ready")[0] == 200:
            return process, base
        time.sleep(0.2)
    process.kill()
    sys.exit("server did not become ready")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/latent")
    parser.add_argument("--model", default="Tests/Fixtures/models/sd15-tiny")
    parser.add_argument("--port", type=int, default=7871)
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    data_dir = tempfile.mkdtemp(prefix="latent-crash-")

    process, base = start(args, data_dir)
    ids = []
    for i in range(args.jobs):
        status, body = call(base, "POST", "/v1/jobs", {"prompt": "crash %d" % i, "steps": args.steps, "seed": i})
        if status == 202:
            ids.append(body["id"])
    # Wait until something runs, then crash hard.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(call(base, "GET", "/v1/jobs/" + i)[1]["status"] == "running" for i in ids):
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    process, base = start(args, data_dir)
    try:
        final = {}
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and len(final) < len(ids):
            for job_id in ids:
                status, body = call(base, "GET", "/v1/jobs/" + job_id)
                if status == 200 and body["status"] not in ("queued", "running"):
                    final[job_id] = (body["status"], body.get("note"), body.get("error"))
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    lost = [i for i in ids if i not in final]
    for job_id, outcome in final.items():
        print(json.dumps({"id": job_id, "status": outcome[0], "note": outcome[1], "error": outcome[2]}))
    print(json.dumps({"accepted": len(ids), "finished_or_failed": len(final), "lost": len(lost)}))
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Load test for `latent serve` (stdlib only, loopback only, bounded in count and time).

N concurrent clients send small /sdapi/v1/txt2img (or /v1/jobs) requests until --requests are done or
--max-seconds pass. Reports p50/p95 latency, images/min, lost jobs (accepted but never finished), 5xx count,
429 count, and the server's RSS (from /metrics) after warm-up and after the run.

    python3 bench/load.py --port 7860 --clients 1,2,4,8 --requests 24 --steps 4 --size 64
"""
import argparse
import base64
import json
import sys
import threading
import time
import urllib.error
import urllib.request

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def call(base, method, path, body=None, key=None, timeout=600):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def rss(base, key):
    status, body, _ = call(base, "GET", "/metrics", key=key)
    if status != 200:
        return None
    for line in body.decode().splitlines():
        if line.startswith("process_resident_memory_bytes"):
            return float(line.split()[-1])
    return None


def percentile(values, fraction):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def run_level(base, args, clients):
    lock = threading.Lock()
    stats = {"latencies": [], "images": 0, "5xx": 0, "429": 0, "other": 0, "lost": 0, "accepted": 0}
    deadline = time.monotonic() + args.max_seconds
    remaining = [args.requests]

    def take():
        with lock:
            if remaining[0] <= 0 or time.monotonic() > deadline:
                return False
            remaining[0] -= 1
            return True

    def record(**changes):
        with lock:
            for key, value in changes.items():
                if key == "latency":
                    stats["latencies"].append(value)
                else:
                    stats[key] += value

    def client(index):
        seed = index * 100000
        while take():
            seed += 1
            payload = {"prompt": "load test %d" % seed, "steps": args.steps, "seed": seed,
                       "width": args.size, "height": args.size, "cfg_scale": 7}
            start = time.monotonic()
            if args.api == "a1111":
                status, body, headers = call(base, "POST", "/sdapi/v1/txt2img", payload, args.key)
                if status == 200:
                    images = json.loads(body)["images"]
                    ok = all(base64.b64decode(image)[:8] == b"\x89PNG\r\n\x1a\n" for image in images)
                    record(latency=time.monotonic() - start, images=len(images), accepted=1, lost=0 if ok else 1)
                    continue
            else:
                status, body, headers = call(base, "POST", "/v1/jobs", payload, args.key)
                if status == 202:
                    job_id = json.loads(body)["id"]
                    record(accepted=1)
                    final = None
                    while time.monotonic() < deadline + 600:
                        s, b, _ = call(base, "GET", "/v1/jobs/" + job_id, key=args.key)
                        if s == 200 and json.loads(b)["status"] not in ("queued", "running"):
                            final = json.loads(b)["status"]
                            break
                        time.sleep(0.05)
                    if final == "succeeded":
                        record(latency=time.monotonic() - start, images=1)
                    else:
                        record(lost=1)
                    continue
            if status == 429:
                record(**{"429": 1})
                time.sleep(min(float(headers.get("Retry-After", "1")), 5))
                with lock:
                    remaining[0] += 1
            elif status >= 500:
                record(**{"5xx": 1})
            else:
                record(other=1)
                sys.stderr.write("unexpected %d: %s\n" % (status, body[:200]))

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    latencies = stats["latencies"]
    return {
        "clients": clients, "requests": len(latencies), "p50_s": round(percentile(latencies, 0.5), 3),
        "p95_s": round(percentile(latencies, 0.95), 3),
        "images_per_min": round(stats["images"] / elapsed * 60, 2) if elapsed > 0 else 0,
        "lost_jobs": stats["lost"], "http_5xx": stats["5xx"], "http_429": stats["429"], "other_4xx": stats["other"],
        "seconds": round(elapsed, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--key", help="API key, if the server wants one")
    parser.add_argument("--clients", default="1,2,4,8", help="comma-separated concurrency levels")
    parser.add_argument("--requests", type=int, default=24, help="requests per level (bounded)")
    parser.add_argument("--max-seconds", type=float, default=300, help="time bound per level")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--api", choices=["a1111", "jobs"], default="a1111")
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()
    if args.host not in LOOPBACK:
        sys.exit("load.py only targets loopback addresses (127.0.0.1, localhost, ::1)")
    base = "http://%s:%d" % (args.host if args.host != "::1" else "[::1]", args.port)

    for i in range(args.warmup):
        call(base, "POST", "/sdapi/v1/txt2img",
             {"prompt": "warm-up", "steps": args.steps, "seed": i, "width": args.size, "height": args.size}, args.key)
    rss_warm = rss(base, args.key)
    results = [run_level(base, args, int(level)) for level in args.clients.split(",")]
    rss_after = rss(base, args.key)
    for result in results:
        print(json.dumps(result))
    growth = (rss_after - rss_warm) / rss_warm * 100 if rss_warm and rss_after else float("nan")
    print(json.dumps({"rss_after_warmup_mb": round((rss_warm or 0) / 2**20, 1),
                      "rss_after_run_mb": round((rss_after or 0) / 2**20, 1), "rss_growth_percent": round(growth, 2)}))
    lost = sum(r["lost_jobs"] for r in results)
    errors = sum(r["http_5xx"] for r in results)
    print("summary: %d requests, %d lost jobs, %d 5xx" % (sum(r["requests"] for r in results), lost, errors))
    sys.exit(1 if lost or errors else 0)


if __name__ == "__main__":
    main()

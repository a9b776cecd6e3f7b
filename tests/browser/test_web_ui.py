#!/usr/bin/env python3
"""End-to-end test of Latent's web page in headless Chromium (Selenium + Debian's chromium-driver).

Starts `latent serve` on the tiny fixture model on a free loopback port (with an API key and --max-queue 1),
then drives the page as a user would: enter the key, fill the form, generate with Ctrl+Enter, watch the
progress bar advance and the image appear, reuse parameters, download the PNG, queue a second job and cancel
it, hit the queue-full error, paint a mask and inpaint, and check the layout at phone width. A screenshot of
each state is saved under --artifacts. Everything it starts it stops. Exit status 0 = all checks passed.

Usage: python3 tests/browser/test_web_ui.py [--latent .build/release/latent] [--artifacts DIR]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "browser-test-key"
failures = []


def check(condition, message):
    print(("  ok   " if condition else "  FAIL ") + message, flush=True)
    if not condition:
        failures.append(message)
    return condition


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, key=None, timeout=5):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def start_server(latent, port, data_dir, log_path):
    model = ROOT / "Tests/Fixtures/models/sd15-tiny"
    command = [
        str(latent), "serve", "--model", str(model), "--host", "127.0.0.1", "--port", str(port),
        "--api-key", API_KEY, "--max-queue", "1", "--data-dir", str(data_dir), "--job-timeout", "300",
    ]
    log = open(log_path, "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"latent serve exited with {process.returncode}; see {log_path}")
        try:
            if http(f"http://127.0.0.1:{port}/v2/health/ready")[0] == 200:
                return process
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    process.kill()
    raise RuntimeError(f"latent serve did not become ready in 120 s; see {log_path}")


def stop_server(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def make_driver(downloads):
    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,1000", "--no-first-run", "--disable-extensions"]:
        options.add_argument(flag)
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


class Page:
    def __init__(self, driver, artifacts):
        self.d = driver
        self.artifacts = artifacts
        self.shot_index = 0

    def el(self, css):
        return self.d.find_element(By.CSS_SELECTOR, css)

    def els(self, css):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def wait(self, predicate, timeout=60, message="condition"):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.05).until(lambda _: predicate())
        except Exception:
            self.shot("timeout")
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")

    def set(self, css, value):
        field = self.el(css)
        field.clear()
        field.send_keys(str(value))

    def shot(self, name):
        self.shot_index += 1
        path = self.artifacts / f"{self.shot_index:02d}-{name}.png"
        self.d.save_screenshot(str(path))
        print(f"  shot {path}", flush=True)
        return path

    def errors_text(self):
        return " | ".join(e.text for e in self.els("#errors .error span"))

    def dismiss_errors(self):
        self.js("document.getElementById('errors').replaceChildren()")

    def jobs(self):
        """Job cards, newest first, as dicts."""
        return self.js("""return [...document.querySelectorAll('#jobs .job')].map(n => ({
            id: n.dataset.jobId || null, state: n.dataset.state || '', status: n.querySelector('.job-status').textContent,
            bar: Number(n.querySelector('.bar').getAttribute('aria-valuenow')),
            preview: !n.querySelector('.job-preview').hidden }))""")

    def job(self, job_id):
        return next((j for j in self.jobs() if j["id"] == job_id), None)

    def newest_job_id(self, count_before):
        self.wait(lambda: len(self.jobs()) > count_before and self.jobs()[0]["id"], 30, "a new job card with an id")
        return self.jobs()[0]["id"]


def run(args):
    artifacts = Path(args.artifacts or tempfile.mkdtemp(prefix="latent-web-artifacts-")).resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    downloads = artifacts / "downloads"
    downloads.mkdir(exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="latent-web-data-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    print(f"artifacts: {artifacts}\nserver: {base}", flush=True)
    server = start_server(Path(args.latent).resolve(), port, data_dir, artifacts / "server.log")
    driver = None
    try:
        paths = json.loads(http(f"{base}/openapi.json", API_KEY)[1]).get("paths", {})
        has_img2img = "/sdapi/v1/img2img" in paths
        driver = make_driver(downloads)
        page = Page(driver, artifacts)
        run_steps(page, base, has_img2img, downloads)
        logs = driver.get_log("browser")
        (artifacts / "browser-console.json").write_text(json.dumps(logs, indent=1))
        # Failed requests we provoked (401 before the key, 429, a missing route) log as "Failed to load
        # resource"; anything else severe (an exception, a CSP violation) is a bug in the page.
        severe = [e["message"] for e in logs if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
        check(not severe, f"no JavaScript errors or CSP violations in the console {severe[:3]}")
    finally:
        if driver is not None:
            driver.quit()
        stop_server(server)
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"\nartifacts: {artifacts}")
    if failures:
        print(f"{len(failures)} check(s) failed:\n  " + "\n  ".join(failures))
        return 1
    print("all browser checks passed")
    return 0


def run_steps(page, base, has_img2img, downloads):
    d = page.d
    print("1. the page loads without a key and says a key is needed")
    d.get(base + "/")
    page.wait(lambda: "API key" in page.errors_text(), 20, "the 401 explained in words")
    check("API key" in page.el("#server-status").text, "status line says an API key is needed")
    page.shot("needs-api-key")

    print("2. the key is entered once and kept in localStorage")
    page.set("#api-key", API_KEY)
    page.el("#save-key").click()
    page.wait(lambda: page.el("#server-status").text.startswith("model:"), 20, "models loaded with the key")
    page.dismiss_errors()
    d.refresh()
    page.wait(lambda: page.el("#server-status").text.startswith("model:"), 20, "models loaded after a reload")
    check(page.js("return localStorage.getItem('latent.apiKey')") == API_KEY, "key stored in localStorage")
    check(page.errors_text() == "", "no error after reload with the stored key")
    samplers = [o.get_attribute("value") for o in page.els("#sampler option")]
    check(len(samplers) > 3 and "Euler" in samplers, f"samplers listed from /sdapi/v1/samplers ({len(samplers)})")
    check(page.el("#model").get_attribute("value") != "", "model selected")

    print("3. fill the form, Ctrl+Enter, watch progress, see the image")
    page.set("#prompt", "a red fox in the snow, watercolor")
    page.set("#negative-prompt", "blurry")
    Select(page.el("#size-preset")).select_by_value("custom")
    page.set("#width", 128)
    page.set("#height", 96)
    check(page.el("#size-preset").get_attribute("value") == "custom", "free size keeps the preset on Custom")
    page.set("#steps", args_steps)
    page.set("#cfg", 6.5)
    Select(page.el("#sampler")).select_by_value("Euler")
    page.set("#seed", 1234)
    page.set("#batch-count", 1)
    page.el("#prompt").send_keys(Keys.CONTROL, Keys.ENTER)
    job_id = page.newest_job_id(0)
    seen = []
    shot_taken = False
    deadline = time.time() + 180
    while time.time() < deadline:
        job = page.job(job_id)
        if job["state"] == "running" and job["bar"] > 0:
            seen.append(job["bar"])
            if not shot_taken and 20 <= job["bar"] <= 80:
                page.shot("progress")
                shot_taken = True
                check("step " in job["status"] and "/" in job["status"], f"status shows step i/n: '{job['status']}'")
        if job["state"] in ("done", "failed", "cancelled"):
            break
        time.sleep(0.03)
    job = page.job(job_id)
    check(job["state"] == "done", f"first job done ({job['status']})")
    check(len(set(seen)) >= 3 and seen == sorted(seen), f"progress advanced through {len(set(seen))} values")
    if not shot_taken:
        page.shot("progress-missed")
    page.wait(lambda: page.js("const i = document.querySelector('#gallery .result[data-loaded] img');"
                              "return i && i.complete && i.naturalWidth"), 30, "the image in the gallery")
    size = page.js("const i = document.querySelector('#gallery .result img'); return [i.naturalWidth, i.naturalHeight]")
    check(size == [128, 96], f"gallery image is 128×96 ({size})")
    meta = page.el("#gallery .result-params").text
    check("seed 1234" in meta and "128×96" in meta and "Euler" in meta, f"gallery shows parameters: '{meta}'")
    page.shot("result")

    print("4. click a result to reuse its parameters; download it")
    page.set("#prompt", "something else")
    page.set("#seed", -1)
    page.el("#gallery .result-reuse").click()
    check(page.el("#prompt").get_attribute("value") == "a red fox in the snow, watercolor", "prompt restored")
    check(page.el("#seed").get_attribute("value") == "1234", "seed restored")
    page.set("#seed", -1)
    page.el("#seed-reuse").click()
    check(page.el("#seed").get_attribute("value") == "1234", "reuse last seed")
    page.el('#gallery .dl[data-format="png"]').click()
    page.el('#gallery .dl[data-format="webp"]').click()
    page.wait(lambda: any(p.suffix == ".png" for p in downloads.iterdir())
              and any(p.suffix == ".webp" for p in downloads.iterdir()), 20, "downloads")
    png = next(p for p in downloads.iterdir() if p.suffix == ".png").read_bytes()
    check(png.startswith(b"\x89PNG") and b"parameters" in png, "PNG download carries its parameters text chunk")
    webp = next(p for p in downloads.iterdir() if p.suffix == ".webp").read_bytes()
    check(webp[:4] == b"RIFF" and webp[8:12] == b"WEBP", "WebP download is a WebP")

    print("5. a long job runs, a second waits with its queue position, a third hits the full queue")
    Select(page.el("#size-preset")).select_by_value("256x256")
    page.set("#steps", 150)
    page.set("#prompt", "long job")
    page.el("#generate").click()
    long_id = page.newest_job_id(1)
    page.wait(lambda: page.job(long_id)["state"] == "running", 60, "the long job running")
    page.set("#prompt", "second job")
    page.el("#generate").click()
    second_id = page.newest_job_id(2)
    page.wait(lambda: page.job(second_id)["state"] == "queued", 20, "the second job queued")
    check("next in line" in page.job(second_id)["status"], f"queue position shown: '{page.job(second_id)['status']}'")
    page.dismiss_errors()
    page.set("#prompt", "third job")
    page.el("#prompt").send_keys(Keys.CONTROL, Keys.ENTER)
    page.wait(lambda: "queue is full" in page.errors_text(), 20, "the queue-full error")
    text = page.errors_text()
    check("queue is full" in text and "Try again in" in text, f"429 explained: '{text}'")
    third = page.jobs()[0]
    check(third["state"] == "failed" and "queue is full" in third["status"], "the refused job's card says why")
    page.shot("queue-full")

    print("6. cancel the second job only")
    card = d.find_element(By.CSS_SELECTOR, f'#jobs .job[data-job-id="{second_id}"] .job-cancel')
    card.click()
    page.wait(lambda: page.job(second_id)["state"] == "cancelled", 20, "the second job cancelled")
    check(page.job(long_id)["state"] == "running", "the running job is untouched")
    status = json.loads(http(f"{base}/v1/jobs/{second_id}", API_KEY)[1])["status"]
    check(status == "cancelled", f"server agrees the second job is cancelled ({status})")
    long_status = json.loads(http(f"{base}/v1/jobs/{long_id}", API_KEY)[1])["status"]
    check(long_status == "running", f"server still runs the first job ({long_status})")
    page.shot("cancelled-second")
    if any(j["preview"] for j in page.jobs() if j["id"] == long_id):
        print("  (the running job shows a preview)")
    if page.job(long_id)["state"] == "running":
        d.find_element(By.CSS_SELECTOR, f'#jobs .job[data-job-id="{long_id}"] .job-cancel').click()
        page.wait(lambda: page.job(long_id)["state"] == "cancelled", 60, "the long job cancelled at its next step")
    page.dismiss_errors()

    print("7. edit the first result: paint a mask, invert/eraser/clear, inpaint")
    results = page.els("#gallery .result")
    results[-1].find_element(By.CSS_SELECTOR, ".result-edit").click()
    page.wait(lambda: page.js("return window.latent.editor.loaded"), 20, "the result loaded into the editor")
    page.el('input[name="mode"][value="inpaint"]').click()
    canvas = page.el("#mask-canvas")
    page.set("#steps", 12)
    page.js("document.getElementById('brush-size').value = 16; document.getElementById('brush-size').dispatchEvent(new Event('input'))")
    w, h = canvas.size["width"], canvas.size["height"]
    ActionChains(d).move_to_element_with_offset(canvas, -w // 4, -h // 4).click_and_hold() \
        .move_by_offset(w // 4, h // 8).move_by_offset(w // 8, h // 4).release().perform()
    coverage = page.js("return window.latent.editor.coverage()")
    check(0.02 < coverage < 0.6, f"mask painted ({coverage:.2f} of the image)")
    page.el("#mask-invert").click()
    inverted = page.js("return window.latent.editor.coverage()")
    check(abs(inverted - (1 - coverage)) < 0.02, f"invert flips the mask ({inverted:.2f})")
    page.el("#mask-invert").click()
    page.el("#tool-eraser").click()
    ActionChains(d).move_to_element_with_offset(canvas, -w // 4, -h // 4).click_and_hold() \
        .move_by_offset(w // 8, h // 16).release().perform()
    erased = page.js("return window.latent.editor.coverage()")
    check(erased < coverage, f"eraser removes paint ({coverage:.2f} → {erased:.2f})")
    page.el("#mask-clear").click()
    check(page.js("return window.latent.editor.coverage()") == 0, "clear empties the mask")
    page.el("#tool-brush").click()
    ActionChains(d).move_to_element_with_offset(canvas, 0, 0).click_and_hold() \
        .move_by_offset(w // 5, 0).move_by_offset(0, h // 5).release().perform()
    check(page.js("return window.latent.editor.coverage()") > 0.02, "mask repainted")
    page.shot("mask")
    out = page.js("""const e = window.latent.editor, o = e.outpaint({left: 64, right: 64, top: 0, bottom: 32});
        return [e.width, e.height, o.width, o.height, o.image.startsWith('data:image/png'), o.mask.startsWith('data:image/png')]""")
    check(out[2:4] == [out[0] + 128, out[1] + 32] and all(out[4:]), f"outpaint canvas extends the image ({out})")
    results_before = len(page.els("#gallery .result"))
    jobs_before = len(page.jobs())
    page.el("#generate").click()
    page.wait(lambda: len(page.jobs()) > jobs_before and page.jobs()[0]["state"] in ("done", "failed"), 180,
              "the inpaint job to finish")
    edit = page.jobs()[0]
    if has_img2img:
        check(edit["state"] == "done", f"inpaint done ({edit['status']})")
        page.wait(lambda: len(page.els("#gallery .result[data-loaded] img")) > results_before, 30, "the inpainted image")
        meta = page.el("#gallery .result-params").text
        check("inpaint" in meta, f"inpaint result listed with its mode: '{meta}'")
    else:
        text = page.errors_text()
        check(edit["state"] == "failed" and "img2img" in text and "not available" in text,
              f"server without an edit route: the error says so in words: '{text}'")
    page.shot("inpaint")

    print("8. phone width")
    d.set_window_size(390, 844)
    time.sleep(0.3)
    overflow = page.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    check(overflow <= 1, f"no horizontal scrolling at 390 px ({overflow} px overflow)")
    columns = page.js("return getComputedStyle(document.querySelector('.layout')).gridTemplateColumns.split(' ').length")
    check(columns == 1, "single column at phone width")
    page.js("window.scrollTo(0, 0)")
    page.shot("phone")
    page.js("document.getElementById('jobs-title').scrollIntoView()")
    page.shot("phone-results")


args_steps = 40


def main():
    global args_steps
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latent", default=str(ROOT / ".build/release/latent"), help="the latent executable")
    parser.add_argument("--artifacts", help="where screenshots and logs go (default: a new temp dir)")
    parser.add_argument("--steps", type=int, default=40, help="steps of the first job (enough to see progress)")
    args = parser.parse_args()
    args_steps = args.steps
    try:
        return run(args)
    except AssertionError as error:
        print(f"FAIL {error}")
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Drives the dashboard in Debian's Chromium, headless, through chromedriver and Selenium:

    dashboard_test.py BASE_URL TOKEN GATE SCREENSHOT

The daemon's synthetic workers wait at GATE (a file: present means open) from their second
chunk on. Prints one JSON object of what the browser saw; the Swift test
(DashboardTests.swift) judges it. Every wait is for a condition in the page.
"""

import json
import os
import sys
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import StaleElementReferenceException


def main():
    base, token, gate, screenshot = sys.argv[1:5]
    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900",
                 "--autoplay-policy=no-user-gesture-required", "--mute-audio"]:
        options.add_argument(flag)
    options.binary_location = os.environ.get("SPOOL_CHROMIUM", "/usr/bin/chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ.get("SPOOL_CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    # The page redraws its tables as events arrive, so an element found a moment ago may be
    # gone: waits read the page afresh each time (and a stale element only means "look again").
    wait = WebDriverWait(driver, 120, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException])
    seen = {}

    def row(job):
        """The job's row in the queue table, as {state, percent}, or None."""
        return driver.execute_script(
            "const r = document.querySelector(`#active tr[data-job='${arguments[0]}']`);"
            "return r ? {state: r.dataset.state, percent: Number(r.dataset.percent)} : null;", job)

    def job_with_prompt(prompt, state=None):
        return driver.execute_script(
            "const r = [...document.querySelectorAll('#active tbody tr')].find(r => r.textContent.includes(arguments[0])"
            " && (!arguments[1] || r.dataset.state === arguments[1])); return r ? r.dataset.job : null;", prompt, state)

    def api(path, method="GET"):
        request = urllib.request.Request(base + path, method=method, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request) as answer:
            return json.load(answer)

    try:
        # Signing in: a wrong token is refused, the right one lets the page in.
        driver.get(base + "/")
        wait.until(lambda d: d.find_element(By.ID, "login").is_displayed())
        driver.find_element(By.ID, "token").send_keys("not-the-token")
        driver.find_element(By.ID, "sign-in").click()
        wait.until(lambda d: d.find_element(By.ID, "login-error").is_displayed())
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(lambda d: d.find_element(By.ID, "queue-view").is_displayed())
        seen["signed_in"] = True
        driver.get_log("browser")  # the 401s of the page before signing in are expected
        seen["cookie_http_only"] = all(c.get("httpOnly") for c in driver.get_cookies() if c["name"] == "spool_token")

        # Submitting from the form: the job is listed, and runs to its second chunk (the gate).
        driver.execute_script("window.spoolMarker = 'no reload'")
        driver.find_element(By.ID, "f-prompt").send_keys("a fox from the dashboard")
        driver.find_element(By.ID, "f-frames").clear()
        driver.find_element(By.ID, "f-frames").send_keys("96")
        driver.find_element(By.ID, "f-size").send_keys("128x96")
        driver.find_element(By.ID, "f-submit").click()
        job = wait.until(lambda d: job_with_prompt("a fox from the dashboard"))
        seen["listed"] = job
        wait.until(lambda d: (row(job) or {}).get("percent", 0) > 0)
        before = row(job)["percent"]
        seen["state_at_gate"] = api(f"/v1/jobs/{job}")["state"]
        # The gate opens: the progress shown advances with no reload, from the event stream. The
        # page redraws its rows; an observer keeps every row it draws for the job, so a job that
        # runs to the end between two looks still shows each step it was drawn at.
        driver.execute_script("""
            window.spoolDrawn = [];
            new MutationObserver((records) => records.forEach((record) => record.addedNodes.forEach((node) => {
                if (node.dataset && node.dataset.job === arguments[0]) window.spoolDrawn.push([node.dataset.state, Number(node.dataset.percent)]);
            }))).observe(document.getElementById('active'), {childList: true, subtree: true});""", job)
        open(gate, "w").close()
        wait.until(lambda d: api(f"/v1/jobs/{job}")["state"] == "succeeded")
        drawn = driver.execute_script("return window.spoolDrawn")
        seen["progress"] = {"before": before, "drawn": drawn}
        seen["still_same_page"] = driver.execute_script("return window.spoolMarker") == "no reload"

        # The job's page: stage bar, GPU-seconds, and the MP4 playing in a <video>.
        driver.get(base + f"/#/jobs/{job}")
        wait.until(lambda d: d.find_element(By.ID, "job-title").get_attribute("data-state") == "succeeded")
        seen["stages"] = driver.find_element(By.ID, "stages-legend").text
        # The details list is redrawn on every refresh: read it in one step, never by a held element.
        seen["gpu_seconds"] = driver.execute_script("return document.querySelector('dd[data-field=\"GPU-seconds\"]').textContent")
        seen["quality"] = driver.execute_script("return document.querySelector('dd[data-field=\"quality\"]').textContent")
        # Until the video plays past 0.2 s, ends, or reports an error (which the Swift test
        # then names).
        played = wait.until(lambda d: (lambda v: v if v["error"] or v["t"] > 0.2 or v["ended"] else None)(d.execute_script(
            "const v = document.getElementById('player'); return {t: v.currentTime, error: v.error && v.error.code, ready: v.readyState, ended: v.ended};")))
        seen["video"] = played

        # Cancel from the queue: a job held at the gate is cancelled by its button.
        os.remove(gate)
        driver.get(base + "/")
        wait.until(lambda d: d.find_element(By.ID, "queue-view").is_displayed())
        driver.find_element(By.ID, "f-prompt").send_keys("a heron to cancel")
        driver.find_element(By.ID, "f-size").send_keys("128x96")
        driver.find_element(By.ID, "f-submit").click()
        cancelled = wait.until(lambda d: job_with_prompt("a heron to cancel", "running"))
        # A picture for the README: a job running (held at the gate), one finished with its
        # poster, the slots.
        wait.until(lambda d: (row(cancelled) or {}).get("percent", 0) > 0)
        # The slots panel: the slot running it says so, and how busy it has been.
        slot = wait.until(lambda d: d.execute_script(
            "const s = [...document.querySelectorAll('.slot')].find(s => s.querySelector(`a[href='#/jobs/${arguments[0]}']`));"
            "return s && s.textContent.includes('busy') && s.textContent.includes('% of the last minute') ? s.textContent : null;", cancelled))
        seen["slot"] = " ".join(slot.split())
        wait.until(lambda d: d.execute_script(
            "const i = [...document.querySelectorAll('#finished img.poster')]; return i.length > 0 && i.every(i => i.complete && i.naturalWidth > 0)"))
        driver.save_screenshot(screenshot)

        # Its page plays the live preview (HLS) while the job is still held at the gate: the
        # page's Media Source player appends each fMP4 segment as the playlist lists it, and the
        # video's currentTime advances while the job runs. (The row may be redrawn between
        # finding the link and clicking it: a stale link is looked up again.)
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"#active a[href='#/jobs/{cancelled}']").click() or True)
        look = ("const v = document.getElementById('player'), note = document.getElementById('player-note');"
                "return {t: v.currentTime, src: v.src, live: note.dataset.live || '', note: note.textContent,"
                " error: v.error && v.error.code, buffered: v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0};")
        first = wait.until(lambda d: (lambda v: v if v["live"] == "unplayable" or v["t"] > 0.5 else None)(d.execute_script(look)))
        live = {"first": first}
        if first["live"] != "unplayable":
            live["later"] = wait.until(lambda d: (lambda v: v if v["live"] == "unplayable" or v["t"] > first["t"] + 0.4 else None)(d.execute_script(look)))
        live["state"] = api(f"/v1/jobs/{cancelled}")["state"]
        seen["live"] = live
        driver.find_element(By.CSS_SELECTOR, "header h1 a").click()
        wait.until(lambda d: d.find_element(By.ID, "queue-view").is_displayed())
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, f"button[data-cancel='{cancelled}']").click() or True)
        wait.until(lambda d: api(f"/v1/jobs/{cancelled}")["state"] == "cancelled")
        seen["cancelled"] = cancelled
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f'#finished tr[data-job="{cancelled}"]'))
        open(gate, "w").close()
        seen["console_errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

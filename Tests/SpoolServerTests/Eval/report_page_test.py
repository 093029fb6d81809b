"""Opens an evaluation's report.html from disk in Debian's Chromium, headless:

    report_page_test.py REPORT

Prints one JSON object of what the browser saw (console messages at any level, images that
did not decode, the flags drawn per pipeline, the plots); the Swift test (EvalTests.swift)
judges it.
"""

import json
import os
import pathlib
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait


def main():
    report = pathlib.Path(sys.argv[1]).resolve()
    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"]:
        options.add_argument(flag)
    options.binary_location = os.environ.get("SPOOL_CHROMIUM", "/usr/bin/chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ.get("SPOOL_CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    try:
        driver.get(report.as_uri())
        WebDriverWait(driver, 60, poll_frequency=0.05).until(
            lambda d: d.execute_script("return document.readyState === 'complete' && [...document.images].every(i => i.complete)"))
        seen = driver.execute_script("""
            const flags = {};
            for (const h of document.querySelectorAll('h2[id^="pipeline-"]')) {
                const table = h.nextElementSibling;
                flags[h.id.slice(9)] = [...table.querySelectorAll('[data-flag]')].map(f => f.dataset.flag);
            }
            return {
                title: document.title,
                images: document.images.length,
                broken: [...document.images].filter(i => i.naturalWidth === 0).map(i => i.alt),
                plots: document.querySelectorAll('svg.plot').length,
                points: document.querySelectorAll('svg.plot circle').length,
                flags: flags,
            };""")
        seen["console"] = [{"level": entry["level"], "message": entry["message"]} for entry in driver.get_log("browser")]
        print(json.dumps(seen))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()

"""Signs in to the dashboard as one tenant, in Debian's Chromium, headless:

    tenant_dashboard_test.py BASE_URL TOKEN OTHER_JOB OWN_JOB

Prints one JSON object of what the page showed that tenant; the Swift test
(DashboardTests.swift) judges it. Every wait is for a condition in the page.
"""

import json
import os
import sys

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import StaleElementReferenceException


def main():
    base, token, other_job, own_job = sys.argv[1:5]
    options = webdriver.ChromeOptions()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,900"]:
        options.add_argument(flag)
    options.binary_location = os.environ.get("SPOOL_CHROMIUM", "/usr/bin/chromium")
    driver = webdriver.Chrome(service=Service(os.environ.get("SPOOL_CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
    wait = WebDriverWait(driver, 120, poll_frequency=0.05, ignored_exceptions=[StaleElementReferenceException])
    seen = {}
    try:
        driver.get(base + "/")
        wait.until(lambda d: d.find_element(By.ID, "login").is_displayed())
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.ID, "sign-in").click()
        wait.until(lambda d: d.find_element(By.ID, "queue-view").is_displayed())
        # The usage panel drawn with the tenant's limits and the reason its queued job waits.
        wait.until(lambda d: d.execute_script("return document.querySelector('#usage .why') !== null"))
        seen["tenants"] = driver.execute_script("return [...document.querySelectorAll('#usage [data-tenant]')].map(e => e.dataset.tenant)")
        seen["usage"] = " ".join(driver.find_element(By.ID, "usage").text.split())
        seen["pool"] = driver.find_element(By.ID, "pool").text
        seen["jobs"] = driver.execute_script("return [...document.querySelectorAll('tr[data-job]')].map(r => r.dataset.job)")
        # The other tenant's job, asked for with this tenant's cookie, does not exist.
        seen["other_job_status"] = driver.execute_script(
            "const r = await fetch('/v1/jobs/' + arguments[0], {credentials: 'same-origin'}); return r.status;", other_job)
        seen["page_text_names_other_job"] = other_job in driver.page_source
        # The job's own page names its tenant.
        driver.get(base + f"/#/jobs/{own_job}")
        seen["job_tenant"] = wait.until(lambda d: d.execute_script(
            "const e = document.querySelector('dd[data-field=\"tenant\"]'); return e ? e.textContent : null;"))
    finally:
        driver.quit()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The ops console in a real browser: headless Chromium (Debian's `chromium`, driven through
`chromium-driver` by selenium) against the running local stack, at 1280x800.

It opens the console, is refused with an expired token (the API's 401 brings back the sign-in),
signs in, reads aff-alpha's balance, opens the review queue, selects the sample's click/coupon
conflict with the keyboard, approves it with a reason, and sees aff-alpha's balance on hold fall
by the held commission; then opens the customer's timeline and the directory. Every page is
saved as a screenshot under .local/screenshots/ (the whole page, laid out in a 1280x800
viewport), and the browser's console must hold no error
(a content-security-policy violation or a script error would be one).

  .venv/bin/python infra/local/console_check.py     # against a running ./infra/run-local
"""
import base64
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import dev_auth  # noqa: E402
import provision  # noqa: E402

SCREENSHOTS = ROOT / ".local" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,800",
                "--disable-gpu", "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def run(api_url, check=None):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    ok = True

    def verdict(cond, text):
        nonlocal ok
        ok &= bool(cond)
        if check:
            check(cond, text)
        else:
            print(f"  [{'ok' if cond else 'FAIL'}] {text}", flush=True)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    params = provision.LOCAL_PARAMETERS
    ops = dev_auth.mint(params["AdminJwtIssuer"], params["AdminJwtAudience"], "ops", "console-ops")
    expired = dev_auth.mint(params["AdminJwtIssuer"], params["AdminJwtAudience"], "ops", "console-ops",
                            now=time.time() - 7200)
    driver = browser()
    wait = WebDriverWait(driver, 60)
    shots = []
    garbled = []  # a value the page failed to render, seen in a screenshot's text

    # The viewport itself is 1280x800 (--window-size would include the headless window's frame).
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False})

    def shot(name):
        """The whole page as laid out at 1280x800, not only what fits in the viewport."""
        path = SCREENSHOTS / f"{len(shots) + 1:02d}-{name}.png"
        text = driver.find_element(By.TAG_NAME, "body").text
        garbled.extend(f"{path.name}: {w}" for w in ("undefined", "NaN", "[object Object]") if w in text)
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": 1280, "height": max(800, int(size["height"])), "scale": 1}
        image = driver.execute_cdp_cmd("Page.captureScreenshot",
                                       {"format": "png", "clip": clip, "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(image["data"]))
        shots.append(path.name)

    def visible(css):
        return wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def heading(text):
        """Wait until the view's heading is `text`: a hash change keeps the old view until the
        new one's data has arrived, so any heading being visible proves nothing."""
        script = "return Array.from(document.querySelectorAll('#view h2'), e => e.textContent)"
        return wait.until(lambda d: text in d.execute_script(script))

    def sign_in(token):
        box = visible("#token")
        box.clear()
        box.send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#sign-in-form button[type=submit]").click()

    def balance(affiliate, which):
        driver.get(f"{api_url}/admin/console#/affiliates/{affiliate}")
        el = visible(f"#balances [data-balance={which}]")
        return Decimal(el.text)

    try:
        driver.get(f"{api_url}/admin/console")
        visible("#sign-in")
        shot("sign-in")
        # an expired token: the API refuses it and the console asks to sign in again
        sign_in(expired)
        status = wait.until(lambda d: d.find_element(By.ID, "status").text)
        verdict("Sign in again" in status and driver.find_element(By.ID, "sign-in").is_displayed(),
                f"console with an expired token: the API's 401 brings back the sign-in ({status!r})")
        sign_in(ops)
        visible("tr[data-review]")
        verdict(driver.find_element(By.ID, "who").text.startswith("console-ops"), "signed in as console-ops (ops)")
        shot("review-queue")
        # keyboard: the skip link takes focus to the content and leaves the view where it is
        hash_before = driver.execute_script("return location.hash")
        skip = driver.find_element(By.CSS_SELECTOR, "a.skip")
        driver.execute_script("arguments[0].focus()", skip)
        skip.send_keys(Keys.ENTER)
        focused = driver.execute_script("return document.activeElement.id")
        hash_after = driver.execute_script("return location.hash")
        verdict(focused == "main" and hash_after == hash_before,
                f"skip link: focus on the content ({focused!r}), view unchanged ({hash_before!r} -> {hash_after!r})")

        before = balance("aff-alpha", "on_hold")
        visible("#quality-chart canvas")
        shot("affiliate-before")

        driver.get(f"{api_url}/admin/console#/reviews")
        row = visible("tr[data-review^='click_coupon_conflict#']")
        review_id = row.get_attribute("data-review")
        # keyboard: focus the row and press Enter
        driver.execute_script("arguments[0].focus()", row)
        row.send_keys(Keys.ENTER)
        visible("#resolve-form")
        evidence = driver.find_element(By.ID, "review-detail").text
        verdict("coupon_affiliate_id" in evidence and "aff-beta" in evidence, f"{review_id}: evidence shown beside the queue")
        shot("review-item")
        reason = driver.find_element(By.ID, "r-reason")
        reason.send_keys("The click came first; the coupon was shared on a forum")
        driver.find_element(By.CSS_SELECTOR, "#resolve-form button[type=submit]").click()
        status = wait.until(lambda d: "Resolved" in d.find_element(By.ID, "status").text and d.find_element(By.ID, "status").text)
        verdict(f"Resolved {review_id}: approve" in status, f"resolved in the console: {status!r}")
        shot("resolved")

        after = balance("aff-alpha", "on_hold")
        verdict(before - after == Decimal("124.90"),
                f"aff-alpha's balance on hold {before} -> {after} (the released 124.90 is pending now)")
        visible("#quality-chart canvas")
        shot("affiliate-after")

        driver.get(f"{api_url}/admin/console#/customers/cust-frank")
        # only the hash changes: the affiliate page's heading stays until the timeline has loaded
        heading("Customer cust-frank")
        timeline = driver.find_element(By.ID, "view").text
        verdict("evt-frank-1" in timeline and "approve by console-ops" in timeline,
                "the customer's timeline shows the event and who resolved its review")
        shot("customer-timeline")

        driver.get(f"{api_url}/admin/console#/directory")
        visible("#publish-plan")
        verdict("gamma-revshare v2" in driver.find_element(By.ID, "view").text, "the directory lists the plans")
        shot("directory")

        verdict(not garbled, f"every page rendered its values (no undefined, NaN or [object Object]) {garbled or ''}")
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"
                  and "401" not in e.get("message", "")]
        verdict(not errors, f"no error in the browser's console ({json.dumps(errors)[:300]})")
    except Exception as e:  # a step that never happened: say which, keep the screenshot
        shot("failure")
        verdict(False, f"console check stopped: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    finally:
        driver.quit()
    print(f"console: screenshots in .local/screenshots/: {', '.join(shots)}", flush=True)
    return ok


if __name__ == "__main__":
    description = json.loads((ROOT / ".local" / "stack.json").read_text())
    sys.exit(0 if run(description["api_url"]) else 1)

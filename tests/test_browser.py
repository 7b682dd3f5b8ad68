"""A real headless Chromium fills in the signup form; screenshots of the form and a digest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import Project
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait
from sent_digest import link, send_first_digest, vote_links

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def waiting(browser: Any) -> WebDriverWait:
    """A wait that survives the page changing under it: after a click that posts a form,
    Chromium may answer for an element of the page being replaced with an inspector error
    ("Node with given id does not belong to the document"), not a stale-element error."""
    return WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,))


@pytest.fixture
def browser(tmp_path: Path) -> Any:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=900,1400",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def test_preview_before_any_paper_blames_no_keyword(web: Any, browser: Any) -> None:
    browser.get(web.url + "/")
    browser.find_element(By.ID, "keywords").send_keys("kv cache")
    waiting(browser).until(
        ec.text_to_be_present_in_element((By.ID, "preview-list"), "nothing to preview")
    )
    assert "matched no paper" not in browser.find_element(By.ID, "preview-list").text


def test_signup_form_in_chromium(project: Project, web: Any, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    project.ok("fetch", "--now", "2026-11-22T11:00:00+00:00")
    browser.get(web.url + "/")
    wait = waiting(browser)
    timezone = browser.find_element(By.ID, "timezone")
    wait.until(lambda d: timezone.get_attribute("value"))  # pre-filled by the browser
    browser_zone = timezone.get_attribute("value")
    browser.find_element(By.ID, "email").send_keys("browser@example.org")
    browser.find_element(By.ID, "keywords").send_keys("kv cache, quantization")
    wait.until(ec.text_to_be_present_in_element((By.ID, "preview-list"), "KV"))
    preview = browser.find_element(By.ID, "preview-list").text
    assert "kv cache" in preview.lower()
    browser.find_element(By.ID, "keywords").send_keys(", zebrafish husbandry")
    wait.until(ec.text_to_be_present_in_element((By.ID, "preview-list"), "matched no paper"))
    assert (
        "“zebrafish husbandry” matched no paper" in browser.find_element(By.ID, "preview-list").text
    )
    browser.find_element(By.ID, "keywords").send_keys(", speculativ decoding")
    wait.until(ec.text_to_be_present_in_element((By.ID, "preview-list"), "did you mean"))
    shown = browser.find_element(By.ID, "preview-list").text
    assert "“speculativ” is in no paper: did you mean “speculative”?" in shown
    browser.save_screenshot(str(ARTIFACTS / "signup_form.png"))

    browser.find_element(By.ID, "subscribe").click()
    wait.until(ec.presence_of_element_located((By.ID, "check-inbox")))
    assert "Check your inbox" in browser.page_source
    row = project.query("select email, status, keywords, timezone from subscriber")
    keywords = '["kv cache", "quantization", "zebrafish husbandry", "speculativ decoding"]'
    assert row == [("browser@example.org", "pending", keywords, browser_zone)]
    [mail] = project.mails()
    assert mail["To"] == "browser@example.org"
    browser.save_screenshot(str(ARTIFACTS / "check_inbox.png"))


def test_rendered_digest_screenshot(project: Project, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    project.ok(
        "subscribers",
        "add",
        "shot@example.org",
        "--keywords",
        "diffusion models, video",
        "--send-at",
        "00:00",
    )
    project.ok("run", "--now", "2026-11-22T12:00:00+00:00")
    [mail] = project.mails()
    html_path = project.root / "digest.html"
    html_path.write_text(mail.get_body(("html",)).get_content(), encoding="utf-8")
    browser.get(html_path.as_uri())
    titles = browser.find_elements(By.CSS_SELECTOR, ".paper h2")
    assert len(titles) == 10
    assert "Why you got this" in browser.find_element(By.CSS_SELECTOR, ".why").text
    browser.save_screenshot(str(ARTIFACTS / "digest.png"))
    assert (ARTIFACTS / "digest.png").stat().st_size > 10_000


def test_a_vote_link_records_once_the_page_has_loaded(
    project: Project, web: Any, browser: Any
) -> None:
    less = vote_links(send_first_digest(project))[1]  # More, Less, More, ...
    browser.get(less)
    wait = waiting(browser)
    wait.until(ec.presence_of_element_located((By.ID, "undo")))  # the script posted the form
    assert "fewer papers like" in browser.page_source
    assert project.query("select value, source from vote") == [(-1, "email")]
    browser.find_element(By.ID, "undo").click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Undone"))
    assert project.query("select count(*) from vote") == [(0,)]


def shoot(browser: Any, name: str, width: int, dark: bool) -> None:
    """A screenshot of the current page at this width, light or dark, in tests/artifacts/."""
    scheme = "dark" if dark else "light"
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    browser.set_window_size(width, 1400)
    wide = browser.execute_script("return document.documentElement.scrollWidth")
    assert wide <= width, f"{name} is wider than a {width} px window ({wide} px)"
    browser.save_screenshot(str(ARTIFACTS / f"{name}-{width}-{scheme}.png"))


def background(browser: Any) -> str:
    return str(browser.execute_script("return getComputedStyle(document.body).backgroundColor"))


def shoot_all(browser: Any, name: str) -> None:
    """The page at 1200 and 390 px, light and dark; dark must change the colours."""
    colours = []
    for width in (1200, 390):
        for dark in (False, True):
            shoot(browser, name, width, dark)
            colours.append(background(browser))
    assert colours[0] != colours[1], f"{name}: the dark scheme changes nothing"


def scripts(browser: Any, on: bool) -> None:
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": not on})


def test_screenshots_of_the_digest_and_every_page_desktop_phone_light_dark(
    project: Project, web: Any, browser: Any
) -> None:
    """Looked at by people; the test checks what can be checked: nothing overflows a phone
    and the dark scheme really changes the colours of the email and of every page."""
    ARTIFACTS.mkdir(exist_ok=True)
    mail = send_first_digest(project)
    email_file = project.root / "digest.html"
    email_file.write_text(mail.get_body(("html",)).get_content(), encoding="utf-8")
    pages = {
        "digest-email": email_file.as_uri(),
        "digest-web": link(mail, "View in your browser"),
        "archive": link(mail, "Past digests"),
        "preferences": link(mail, "Change your topics or schedule"),
        "signup": web.url + "/",
        "error": web.url + "/preferences/not-a-link",
    }
    for name, address in pages.items():
        browser.get(address)
        shoot_all(browser, name)
    wait = waiting(browser)
    # the pages a script submits at once: first as people without script see them
    project.ok("subscribers", "add", "new@example.org", "--keywords", "rlhf", "--confirm")
    words = project.mails()[-1].get_body(("plain",)).get_content().split()
    confirm_url = next(word for word in words if "/confirm/" in word)
    for name, address, done, after in (
        ("confirm", confirm_url, (By.ID, "confirmed"), "confirmed"),
        ("vote", vote_links(mail)[0], (By.ID, "undo"), "voted"),
    ):
        scripts(browser, False)
        browser.get(address)
        shoot_all(browser, name)
        scripts(browser, True)
        browser.get(address)
        wait.until(ec.presence_of_element_located(done))  # the script posted the form
        shoot_all(browser, after)
    browser.get(link(mail, "Unsubscribe"))
    shoot_all(browser, "unsubscribe")
    browser.find_element(By.ID, "unsubscribe").click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "unsubscribed"))
    shoot_all(browser, "unsubscribed")
    assert project.query("select status from subscriber where email = 'reader@example.org'") == [
        ("unsubscribed",)
    ]


def test_the_preferences_page_previews_the_keywords_as_they_are_edited(
    project: Project, web: Any, browser: Any
) -> None:
    mail = send_first_digest(project)
    browser.get(link(mail, "Change your topics or schedule"))
    wait = waiting(browser)
    wait.until(ec.text_to_be_present_in_element((By.ID, "preview-list"), "KV"))  # its keywords
    field = browser.find_element(By.ID, "keywords")
    field.clear()
    field.send_keys("speculativ decoding")
    wait.until(ec.text_to_be_present_in_element((By.ID, "preview-list"), "did you mean"))
    assert "did you mean “speculative”?" in browser.find_element(By.ID, "preview-list").text
    # a box to tick sits beside its words, not stretched over a line of its own above them
    for box in browser.find_elements(By.CSS_SELECTOR, 'input[type="checkbox"]'):
        label = box.find_element(By.XPATH, "./ancestor::label")
        assert box.size["width"] < 40 and box.location["y"] >= label.location["y"] - 2
        assert box.location["y"] + box.size["height"] > label.location["y"]


def test_a_vote_on_the_preferences_page_takes_one_line_with_its_button(
    project: Project, web: Any, browser: Any
) -> None:
    """The remove button sits after the paper's title, not in a padded card of its own."""
    mail = send_first_digest(project)
    paper = json.loads(project.ok("papers", "--json").out)[0]["id"]
    project.ok("subscribers", "feedback", "reader@example.org", "--like", paper)
    browser.get(link(mail, "Change your topics or schedule"))
    item = browser.find_element(By.CSS_SELECTOR, "ul.votes li")
    form = item.find_element(By.TAG_NAME, "form")
    assert form.value_of_css_property("background-color") == "rgba(0, 0, 0, 0)"
    assert item.size["height"] < 80  # the title's line or two, the button among them
    assert item.find_element(By.TAG_NAME, "button").text == "Remove"


def test_on_a_phone_no_field_is_cut_and_the_day_shows_for_a_weekly_digest(
    project: Project, web: Any, browser: Any
) -> None:
    """Three fields a line left "Monday" cut to "Monda" at 390 px; and the day of a weekly
    digest showed beside a daily one."""
    browser.set_window_size(390, 1400)
    browser.get(web.url + "/")
    for field in browser.find_elements(By.CSS_SELECTOR, "form input, form select"):
        if field.is_displayed() and field.get_attribute("type") != "checkbox":
            assert field.size["width"] >= 100, field.get_attribute("name")
    day = browser.find_element(By.ID, "weekly_day")
    assert not day.is_displayed()  # daily, the default
    browser.find_element(By.CSS_SELECTOR, '#frequency option[value="weekly"]').click()
    assert day.is_displayed() and day.size["width"] >= 100

"""The HTML reports in a real browser: headless Chromium driven by ChromeDriver (Debian packages).

`.ci/run` installs both; elsewhere these tests skip, saying what is missing. Each
run leaves screenshots under results/screenshots/ for people to look at.
"""

from __future__ import annotations

import shutil

import pytest

from tests.helpers.cli import HOSTILE, ROOT, run_cli

SCREENSHOTS = ROOT / "results" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1500,1200"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=driver_path), options=options)
    yield driver
    driver.quit()


def open_page(browser, path):
    browser.get(path.as_uri())
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors


def assert_no_alert(browser):
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018


def screenshot(browser, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1500, min(max(height, 800), 6000))
    assert browser.save_screenshot(str(SCREENSHOTS / name))


def assert_rows_fit_one_line(browser, width=1400):
    """At `width` px, every results row is one line high and the table needs no sideways scroll;
    the method and the further columns are one click away, collapsed."""
    browser.set_window_size(width, 900)
    lines = browser.execute_script("""
        return Array.from(document.querySelectorAll('#results tbody tr')).map(function (row) {
          var style = getComputedStyle(row.cells[1]);
          var one = parseFloat(style.lineHeight) + parseFloat(style.paddingTop)
                    + parseFloat(style.paddingBottom);
          return row.getBoundingClientRect().height / one;
        });""")
    assert lines and max(lines) < 1.5, lines
    table, frame = browser.execute_script(
        "var t = document.getElementById('results'); return [t.scrollWidth, t.parentElement.clientWidth];")
    assert table <= frame, (table, frame)
    for collapsed in ("how-to-read", "more-columns"):
        assert browser.find_element("id", collapsed).get_attribute("open") is None
    more = browser.find_elements("css selector", "#results-detail tbody tr")
    assert len(more) == len(browser.find_elements("css selector", "#results tbody tr"))


def test_run_report_in_chromium(browser, quick_run):
    from bench.results.document import load_run

    _, run_dir = quick_run
    open_page(browser, run_dir / "report.html")
    assert_no_alert(browser)
    assert HOSTILE in browser.find_element("tag name", "h1").text  # shown as text, not run
    images = browser.find_elements("css selector", "img.figure")
    assert len(images) >= 4
    for image in images:
        size = browser.execute_script("return [arguments[0].complete, arguments[0].naturalWidth,"
                                      " arguments[0].getBoundingClientRect().height]", image)
        assert size[0] and size[1] > 0 and size[2] > 0, image.get_attribute("id")
    rows = browser.find_elements("css selector", "#results tbody tr")
    assert len(rows) == len(load_run(run_dir)["cells"])
    browser.find_element("css selector", "#results tr.columns th.rate").click()  # train images/s
    rates = [float(r.find_element("css selector", "td.rate").get_attribute("data-sort")) for r in
             browser.find_elements("css selector", "#results tbody tr")]
    assert rates == sorted(rates)
    assert_rows_fit_one_line(browser)
    band = browser.find_element("id", "accuracy-band").text  # the reference fitted with 3 seeds (TINY_ARGS)
    assert "Accuracy band:" in band and "3 fits of tf_data_tuned" in band
    assert "shuffled with seeds 0–2" in band
    losses = browser.find_element("id", "loss-band").text  # the same seeds' final validation losses
    assert losses.startswith("Loss band:") and "cross-entropy" in losses
    caption = browser.find_element("id", "fig-accuracy").get_attribute("alt")
    assert caption.startswith("Validation accuracy of each cell's accuracy fit")
    costs = browser.find_elements("css selector", "#cost-table tbody tr")
    assert len(costs) == len(rows)  # every cell kept its CPU time
    for row in costs:
        cost = row.find_element("css selector", "td.cost").text.replace(",", "")
        assert float(cost) > 0, row.text  # CPU µs per image in training, the deciding mode
    verdicts = {r.find_element("css selector", "td.cost-verdict").text for r in costs}
    assert any(v.endswith(("too few rounds", "within noise", "costs more", "costs less")) for v in verdicts)
    needed = [r.find_element("css selector", "td.cores-needed").text for r in costs]
    assert all(n == "cannot" or n.isdigit() or "service worker" in n for n in needed), needed
    assert "µs of CPU per image" in browser.find_element("id", "headline").text  # what it costs, too
    assert browser.find_element("id", "fig-capacity").get_attribute("alt").startswith("What a pipeline needs")
    screenshot(browser, "report.png")


def test_comparison_report_in_chromium(browser, quick_run, tmp_path):
    _, run_dir = quick_run
    result = run_cli("compare", str(run_dir), str(run_dir), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    open_page(browser, tmp_path / "compare.html")
    assert_no_alert(browser)
    rows = browser.find_elements("css selector", "table.comparison tbody tr")
    # a one-round run against itself: no test can tell anything with one sample a side, and it says so
    assert len(rows) >= 4 and all("too few rounds" in r.text for r in rows)
    costs = browser.find_elements("css selector", "table.comparison td.cost-verdict")
    assert len(costs) == len(rows) and all(c.text == "too few rounds" for c in costs)  # cost: the same rule
    assert "drift of the machine between them is not controlled" in browser.find_element("id", "drift").text
    screenshot(browser, "compare.png")


def test_profile_page_in_chromium(browser, naive_profile):
    _, _, out_dir = naive_profile
    open_page(browser, out_dir / "profile.html")
    figure = browser.find_element("id", "fig-stages")
    size = browser.execute_script("return [arguments[0].complete, arguments[0].naturalWidth]", figure)
    assert size[0] and size[1] > 0
    stages = [r.find_elements("tag name", "td")[0].text
              for r in browser.find_elements("css selector", "#stages tbody tr")]
    assert stages[:3] == ["list", "read", "decode"]
    advice = browser.find_elements("css selector", "#advice tbody tr")
    assert len(advice) >= 2 and all("×" in r.text for r in advice)  # every row measured
    screenshot(browser, "profile.png")


def test_guide_page_in_chromium(browser, tiny_guide):
    """Every tip is a row with its verdict, ratio and interval; the ratio figure is drawn."""
    doc, folder, _ = tiny_guide
    open_page(browser, folder / "guide.html")
    assert_no_alert(browser)
    rows = browser.find_elements("css selector", "#tips tbody tr")
    assert [r.get_attribute("id") for r in rows] == [f"tip-{t['id']}" for t in doc["tips"]]
    for row, tip in zip(rows, doc["tips"], strict=True):
        text = row.text
        assert tip["verdict"] in text and tip["claim"] in text and f"{tip['ratio']:.2f}×" in text
        assert f"({tip['ratio_low']:.2f}–{tip['ratio_high']:.2f}" in text
    assert "band" in browser.find_element("id", "tip-mixed_precision").text  # its accuracy, against the band
    figure = browser.find_element("id", "fig-ratios")
    assert browser.execute_script("return arguments[0].naturalWidth", figure) > 0
    summary = browser.find_element("id", "summary").text
    assert f"{len(doc['tips'])} tips" in summary and "Holm" in summary
    choices = browser.find_elements("css selector", "#autotune tr.choice")  # AUTOTUNE's, from the trace
    assert len(choices) == sum(len(a["choices"]) for a in doc["autotune"]) > 0
    assert "parallelism" in browser.find_element("id", "autotune").text
    sweep = browser.find_element("id", "sweep-autotune_over_sweep").text
    chosen = next(t for t in doc["tips"] if t["id"] == "autotune_over_sweep")["figures"]["sweep"]["chosen"]
    assert f"parallel_calls={chosen}" in sweep and "images/s" in sweep

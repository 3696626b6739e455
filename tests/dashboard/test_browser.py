"""The dashboard in a real browser (Playwright driving Debian's Chromium) against a manager
holding a heal run made through the real services. Without a browser these tests skip —
unless SELFHEAL_REQUIRE_BROWSER=1 (CI), where they fail. The screenshot is saved to
$SELFHEAL_ARTIFACTS_DIR (default reports/artifacts)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveStack, new_sqlite_database
from tests.dashboard.heal_data import heal_run

CHROMIUM = os.environ.get("SELFHEAL_CHROMIUM", "/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("SELFHEAL_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(os.environ.get("SELFHEAL_ARTIFACTS_DIR", "reports/artifacts"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_problem() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def healed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveStack, dict[str, int]]]:
    problem = _browser_problem()
    if problem:
        if REQUIRE_BROWSER:
            pytest.fail(f"SELFHEAL_REQUIRE_BROWSER=1 but {problem}", pytrace=False)
        pytest.skip(problem)
    data = tmp_path_factory.mktemp("dash")
    stack = LiveStack(db_url=new_sqlite_database(data), data_dir=data, watcher=True)
    try:
        with httpx.Client(base_url=stack.url(), timeout=60) as client:
            versions = heal_run(client)
        yield stack, versions
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def browser(healed: tuple[LiveStack, dict[str, int]]) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: object, healed: tuple[LiveStack, dict[str, int]]) -> Iterator[object]:
    stack, _ = healed
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    page.goto(stack.url() + "/dashboard?refresh=0")
    page.wait_for_selector(".chart canvas")
    page.problems = problems
    yield page
    context.close()
    assert problems == [], f"the page logged errors: {problems}"


def test_the_page_loads_and_the_chart_marks_the_version_changes(
    page: object, healed: tuple[LiveStack, dict[str, int]]
) -> None:
    _, versions = healed
    chart = page.locator('.chart[data-task-type="code_generation"]')  # type: ignore[attr-defined]
    assert int(chart.get_attribute("data-points")) >= 1
    markers = chart.locator(".vmarker")
    labels = [markers.nth(i).get_attribute("title") for i in range(markers.count())]
    assert any(t.startswith(f"v{versions['bad']} by human") for t in labels), labels
    healed_marker = next(t for t in labels if t.startswith(f"v{versions['healed']} by optimizer"))
    assert "promoted" in healed_marker
    box = chart.locator("canvas").bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)  # type: ignore[attr-defined]
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def test_a_diff_between_two_versions_opens(
    page: object, healed: tuple[LiveStack, dict[str, int]]
) -> None:
    _, versions = healed
    form = page.locator('.diff-form[data-task-type="code_generation"]')  # type: ignore[attr-defined]
    form.locator('select[name="a"]').select_option(str(versions["bad"]))
    form.locator('select[name="b"]').select_option(str(versions["healed"]))
    form.locator("button.diff-open").click()
    diff = page.locator("#dialog .diff")  # type: ignore[attr-defined]
    diff.wait_for()
    assert f"v{versions['bad']} → v{versions['healed']}" in diff.locator("h3").inner_text()
    assert diff.locator("del").count() >= 1 and diff.locator("ins").count() >= 1


def test_a_failures_detail_opens_with_its_evaluation(page: object) -> None:
    row = page.locator("#failures tr.failure").first  # type: ignore[attr-defined]
    assert row.locator(".badge").inner_text() == "no_code"
    row.locator("button.detail-open").click()
    detail = page.locator("#dialog .request-detail")  # type: ignore[attr-defined]
    detail.wait_for()
    assert "no_code" in detail.inner_text()
    assert '"gates"' in detail.locator(".evaluation-detail").inner_text()


def test_the_page_refreshes_itself(
    browser: object, healed: tuple[LiveStack, dict[str, int]]
) -> None:
    stack, _ = healed
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(stack.url() + "/dashboard?refresh=1")
    page.wait_for_selector(".chart canvas")
    before = page.locator("#status").inner_text()
    total = int(before.split(" requests")[0])
    httpx.post(
        stack.url() + "/api/v1/request",
        json={"user_input": "Write a factorial function"},
        timeout=60,
    ).raise_for_status()
    page.wait_for_function(
        f"document.querySelector('#status').innerText.startsWith('{total + 1} requests')",
        timeout=15_000,
    )
    assert page.locator(".chart canvas").count() >= 1  # the charts are drawn again
    context.close()
    assert errors == []

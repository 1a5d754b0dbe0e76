"""The Dagster UI in a real browser: Debian's chromium (headless) against dagster-webserver on a
temporary DAGSTER_HOME, with calls days pulled from the simulator and the models built.

`make test` installs chromium when /usr/bin/chromium is missing. Set INFINITY_SCREENSHOTS_DIR=docs
to also refresh the README's screenshots (with 30 days pulled, so the trend has a history).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from infinity_dagster.defs import build_definitions
from infinity_dagster.settings import Settings
from infinity_dagster.simulator import SimulatorServer, generate_installation
from infinity_dagster.warehouse import MODEL_TABLES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KEY = "browser-test-key"
FIRST = date(2026, 11, 1)
CALLS_PER_DAY = 300
SCREENSHOTS = os.environ.get("INFINITY_SCREENSHOTS_DIR")
DAYS = 30 if SCREENSHOTS else 3
LAST = FIRST + timedelta(days=DAYS - 1)
# The report assets the graph must show, beside the models.
REPORT_ASSETS = ("calls", "goals", "dial_in_groups", "fallback_numbers", "organisations")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dagster_ui(tmp_path, monkeypatch):
    """A webserver over a DAGSTER_HOME holding materialized calls days and models."""
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium "
        "(apt-get install chromium)."
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        "load_from:\n  - python_module:\n      module_name: infinity_dagster.definitions\n"
        "      location_name: infinity_dagster\n"
    )
    installation = generate_installation(
        igrp=20001,
        start=FIRST,
        end=LAST + timedelta(days=1),
        calls_per_day=CALLS_PER_DAY,
        seed=11,
        tz="UTC",
    )
    with SimulatorServer(installation, api_key=KEY) as server:
        env = {
            "DAGSTER_HOME": str(home),
            "INFINITY_IGRP": "20001",
            "INFINITY_API_KEY": KEY,
            "INFINITY_BASE_URL": server.base_url,
            "INFINITY_START_DATE": FIRST.isoformat(),
            "INFINITY_DATA_DIR": str(tmp_path / "data"),
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("INFINITY_DEMO", raising=False)
        defs = build_definitions(Settings.from_env())
        everything = [*defs.assets, *defs.asset_checks]
        with DagsterInstance.from_config(str(home)) as instance:
            for n in range(DAYS):
                materialize(
                    everything,
                    selection=AssetSelection.assets("calls").without_checks(),
                    partition_key=(FIRST + timedelta(days=n)).isoformat(),
                    resources=dict(defs.resources),
                    instance=instance,
                    raise_on_error=True,
                )
            materialize(
                everything,
                selection=AssetSelection.assets(*MODEL_TABLES) | AssetSelection.all_asset_checks(),
                resources=dict(defs.resources),
                instance=instance,
                raise_on_error=True,
            )
        port = free_port()
        log = (tmp_path / "webserver.log").open("w")
        webserver = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("dagster-webserver")),
                "-w",
                str(workspace),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180
            while True:
                assert webserver.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
                try:
                    if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "dagster-webserver did not start in 180 s"
                time.sleep(0.5)
            yield base, tmp_path
        finally:
            webserver.terminate()
            try:
                webserver.wait(timeout=30)
            except subprocess.TimeoutExpired:
                webserver.kill()
                webserver.wait()
            log.close()


@pytest.fixture
def browser_page(tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),  # a fresh --user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1600, "height": 2200},  # room for every node
        )
        # Dismiss the UI's one-time "join the community" dialog before it opens.
        context.add_init_script("window.localStorage.setItem('communityNux', '1')")
        context.set_default_timeout(60_000)
        try:
            yield context.new_page()
        finally:
            context.close()


def screenshot(locator_or_page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        locator_or_page.screenshot(path=str(Path(SCREENSHOTS) / name))


def test_the_ui_shows_the_assets_and_a_calls_day_with_its_row_count_and_trend(
    dagster_ui, browser_page
) -> None:
    base, _ = dagster_ui
    page = browser_page

    # The asset graph. The raw group's page shows every report asset; the lineage downstream of
    # calls shows the recordings and every model. (The graph draws only the nodes in view: the
    # window is tall enough for all of them.)
    page.goto(f"{base}/locations/infinity_dagster/asset-groups/infinity_raw")
    for key in REPORT_ASSETS:
        page.get_by_text(key, exact=True).first.wait_for(state="visible")
    page.goto(f"{base}/assets/calls?view=lineage&lineageScope=downstream")
    for key in ("calls", "call_recordings", *MODEL_TABLES):
        page.get_by_text(key, exact=True).first.wait_for(state="visible")
    page.wait_for_function("() => !document.body.innerText.includes('Loading')")
    screenshot(page, "asset-graph.png")

    # A materialized partition: its metadata shows the row count, the preview and the pictures.
    page.goto(f"{base}/assets/calls?view=partitions&partition={LAST.isoformat()}")
    row_count = page.locator("tr", has_text="dagster/row_count").first
    row_count.wait_for(state="visible")
    assert row_count.inner_text().split() == ["dagster/row_count", f"{CALLS_PER_DAY}"]
    # The Markdown cell renders after the row itself: wait for its text, then read it.
    preview_row = page.locator("tr", has_text="day_preview").filter(has_text="Top call states")
    preview_row.first.wait_for(state="visible")
    preview = " ".join(preview_row.first.inner_text().split())
    assert preview.startswith(f"day_preview {LAST.isoformat()}: {CALLS_PER_DAY:,} calls, ")
    assert "Top call states" in preview
    sparkline = page.locator("img[alt='fail rate (red), client-id gap rate (blue)']")
    sparkline.wait_for(state="visible")
    screenshot(
        page.locator("tr", has_text="dagster/row_count").locator("xpath=.."), "calls-day.png"
    )
    assert sparkline.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [
        True,
        240,
        50,
    ]

    # The full trend picture is one click away ("[Show Markdown]" holds long Markdown).
    page.locator("tr", has_text="trend_30_days").get_by_text("[Show Markdown]").click()
    picture = page.locator(f"img[alt='30-day trend to {LAST.isoformat()}']")
    picture.wait_for(state="visible")
    assert picture.evaluate("img => [img.complete, img.naturalWidth, img.naturalHeight]") == [
        True,
        720,
        378,
    ]
    screenshot(picture, "trend.png")
    assert AssetKey("calls")  # the key the UI showed is the one users select on the CLI

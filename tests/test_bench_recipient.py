"""Smoke test of `python -m bench.recipient --quick`: the real stack, Chromium and the load generator
run end to end, and the benchmark prints its three sets of figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def test_quick_run_prints_page_weights_flow_times_and_throughput() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI is set, so this test may not be skipped")
        pytest.skip(f"{CHROMIUM} is missing (run `make test`, which installs it)")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    result = subprocess.run(
        [sys.executable, "-m", "bench.recipient", "--quick", "--no-json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    out = result.stdout

    # 1. Page weights: the landing page and the not-found page, with their bytes and requests.
    landing = re.search(r"^landing +200 +([\d,]+) +([\d,]+) +([\d,]+) +(\d+) ", out, re.M)
    assert landing, out
    html, br, gz, requests = (int(x.replace(",", "")) for x in landing.groups())
    assert 0 < br < gz < html
    assert requests >= 2  # the HTML and its stylesheet at least
    assert re.search(r"^link not found +404 ", out, re.M), out
    # The budget and its rule of no render-blocking script.
    budget = re.search(r"≤ 14 KB = 14,336 B: ([\d,]+) B → (PASS|FAIL)", out)
    assert budget, out
    assert budget.group(2) == "PASS", budget.group(0)
    assert "Render-blocking scripts in <head> (no defer/async): none, on every page." in out

    # 2. The flow on slow 3G: the 200,000-byte PDF at 400 kbit/s cannot take less than 4 s,
    # which shows the throttling applies to the download too.
    download = re.search(r"^download the PDF \(200,000 B\) +([\d.]+) ", out, re.M)
    assert download, out
    assert float(download.group(1)) >= 4.0
    total = re.search(r"^total +([\d.]+) +(\d+) ", out, re.M)
    assert total, out
    assert float(total.group(1)) > float(download.group(1))

    # 3. Throughput of both pages, and their ratio.
    bare = re.search(r"^bare Flask page, same HTML +([\d,]+) +([\d.]+) +([\d.]+) +0$", out, re.M)
    app = re.search(r"^landing page +([\d,]+) +([\d.]+) +([\d.]+) +0$", out, re.M)
    assert bare, out
    assert app, out
    assert int(bare.group(1).replace(",", "")) > 0
    assert int(app.group(1).replace(",", "")) > 0
    assert re.search(r"^ratio bare ÷ landing page: [\d.]+$", out, re.M), out

"""The alert rules load in Prometheus and fire on what they are about (promtool)."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers.dashboards import ALERT_TESTS, ALERTS, alert_rules, defined_series, metric_names
from tests.helpers.prometheus import PROMTOOL, missing

pytestmark = pytest.mark.skipif(bool(missing()), reason=missing() or "")


def test_promtool_check_rules_passes() -> None:
    done = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in done.stdout


def test_each_alert_fires_on_its_series_and_not_before() -> None:
    done = subprocess.run(
        [PROMTOOL, "test", "rules", ALERT_TESTS.name],
        cwd=ALERT_TESTS.parent,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {
        line.split(":", 1)[1].strip()
        for line in ALERT_TESTS.read_text().splitlines()
        if line.strip().startswith("alertname:")
    }
    assert tested == set(alert_rules())  # every alert has a case


def test_the_issue_s_alerts_exist_over_metrics_the_code_exposes() -> None:
    rules = alert_rules()
    for wanted in ("QueueGrowing", "NoWorkers", "FailureRatioHigh", "ReaperRecovering", "DiskLow"):
        assert f"AgentFlow{wanted}" in rules
    known = defined_series()
    for name, expression in rules.items():
        assert metric_names(expression) <= known, name

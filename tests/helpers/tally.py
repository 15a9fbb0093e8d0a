"""A count of the combinations a matrix test checked and of the leaks it found, printed
once its module is done (the authorisation matrices state "zero leaks" as a number)."""

from __future__ import annotations

from collections import Counter

import pytest


class Tally(Counter[str]):
    """``combinations``, ``refused`` and ``leaks`` so far."""

    def count(self, *, refused: bool, leaks: int) -> None:
        self.update(combinations=1, refused=int(refused), leaks=leaks)

    def report(self, config: pytest.Config, what: str) -> None:
        """Print the tally past pytest's capture (which holds fixture teardowns)."""
        plugins = config.pluginmanager
        reporter = plugins.get_plugin("terminalreporter")
        capture = plugins.get_plugin("capturemanager")
        if reporter is None or capture is None or not self["combinations"]:
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(
                f"\n{what}: {self['combinations']} combinations checked, "
                f"{self['refused']} refused, {self['leaks']} leaks"
            )

"""Where the suite runs: the repository's root folder, and the one port the browser suite's
``agentflow serve`` listens on (``AGENTFLOW_E2E_PORT``, 3917 unless set)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: One fixed port for the suite's server: the built UI embeds its port (see serve.py).
E2E_PORT = int(os.environ.get("AGENTFLOW_E2E_PORT", "3917"))
#: The port of the browser test that stops its server's Redis (a server of its own, with
#: a UI build of its own): ``AGENTFLOW_E2E_OUTAGE_PORT``, 1000 above the suite's unless set.
E2E_OUTAGE_PORT = int(os.environ.get("AGENTFLOW_E2E_OUTAGE_PORT", str(E2E_PORT + 1000)))

"""When ``agentflow serve`` rebuilds the UI: only when what it is built from changed."""

from __future__ import annotations

from pathlib import Path

from agentflow_app.serve import frontend_fingerprint

API = "http://localhost:3000"


def _tree(root: Path) -> Path:
    (root / "agentflow_app" / "pages").mkdir(parents=True)
    (root / "agentflow_app" / "pages" / "login.py").write_text("title = 'Sign in'\n")
    (root / "agentflow_app" / "react_flow").mkdir()
    (root / "agentflow_app" / "react_flow" / "canvas.jsx").write_text("export default 1;\n")
    (root / "rxconfig.py").write_text("config = None\n")
    return root


def test_what_the_build_writes_does_not_ask_for_another_build(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    before = frontend_fingerprint(API, root)

    # A build copies react_flow's JavaScript under assets/external, and Python caches.
    copied = root / "assets" / "external" / "agentflow_app" / "react_flow"
    copied.mkdir(parents=True)
    (copied / "canvas.jsx").write_text("export default 1;\n")
    cache = root / "agentflow_app" / "pages" / "__pycache__"
    cache.mkdir()
    (cache / "login.cpython-311.pyc").write_bytes(b"\x00")

    assert frontend_fingerprint(API, root) == before


def test_a_changed_page_asset_component_or_api_url_does(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    before = frontend_fingerprint(API, root)

    assert frontend_fingerprint("http://localhost:3917", root) != before
    (root / "agentflow_app" / "pages" / "login.py").write_text("title = 'Log in'\n")
    after_page = frontend_fingerprint(API, root)
    assert after_page != before
    (root / "assets").mkdir()
    (root / "assets" / "logo.svg").write_text("<svg/>")
    after_asset = frontend_fingerprint(API, root)
    assert after_asset != after_page
    (root / "agentflow_app" / "react_flow" / "canvas.jsx").write_text("export default 2;\n")
    assert frontend_fingerprint(API, root) != after_asset

"""The configured file store (``AGENTFLOW_FILES_BACKEND``).

Stores are cached by what configures them, so a process (or a test) that changes the
settings gets the matching store without anyone having to reset a cache.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from agentflow_app.errors import ConfigError
from agentflow_app.files.disk import DiskStore
from agentflow_app.files.s3 import S3Store
from agentflow_app.files.store import FileStore
from agentflow_app.settings import get_settings


def file_store() -> FileStore:
    """The store the settings name.

    Raises:
        ConfigError: ``s3`` without ``AGENTFLOW_FILES_BUCKET``.
    """
    settings = get_settings()
    if settings.agentflow_files_backend == "s3":
        if not settings.agentflow_files_bucket:
            raise ConfigError("AGENTFLOW_FILES_BACKEND=s3 needs AGENTFLOW_FILES_BUCKET")
        return _s3(settings.agentflow_files_bucket, settings.agentflow_files_prefix)
    return _disk(settings.data_dir / "files")


@lru_cache(maxsize=8)
def _disk(root: Path) -> DiskStore:
    return DiskStore(root)


@lru_cache(maxsize=8)
def _s3(bucket: str, prefix: str) -> S3Store:
    return S3Store(bucket, prefix)

"""Both stores keep bytes under a key, stream them back, refuse past the limit leaving
nothing, and forget them: on disk, and on S3 through real boto3 against moto's server."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from agentflow_app.files.disk import DiskStore
from agentflow_app.files.s3 import S3Store
from agentflow_app.files.store import CHUNK, FileStore, MissingBlob, TooLarge
from tests.helpers.moto import AWS_TEST_ENV, moto_server


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture(params=["disk", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, set_env) -> FileStore:
    if request.param == "disk":
        return DiskStore(tmp_path / "files")
    moto_url = request.getfixturevalue("moto_url")
    set_env(**AWS_TEST_ENV, AWS_ENDPOINT_URL_S3=moto_url)
    client = boto3.client("s3")
    bucket = f"files-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    made = S3Store(bucket, "tenant/", client=client)
    made.listing = lambda: [  # type: ignore[attr-defined]
        item["Key"] for item in client.list_objects_v2(Bucket=bucket).get("Contents", [])
    ]
    return made


def _stored(store: FileStore) -> list[str]:
    if isinstance(store, DiskStore):
        return [p.name for p in store.root.rglob("*") if p.is_file()]
    return store.listing()  # type: ignore[attr-defined]


def test_bytes_come_back_identical_in_chunks(store: FileStore) -> None:
    data = os.urandom(CHUNK * 2 + 123)
    parts = [data[i : i + 70_000] for i in range(0, len(data), 70_000)]
    written = store.put("a" * 32, iter(parts), limit=len(data))
    assert written.size == len(data)
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    assert written.head == data[:4096]
    chunks = list(store.open("a" * 32))
    assert b"".join(chunks) == data
    assert max(len(c) for c in chunks) <= CHUNK
    assert len(_stored(store)) == 1


def test_past_the_limit_nothing_is_kept(store: FileStore) -> None:
    with pytest.raises(TooLarge):
        store.put("b" * 32, iter([b"x" * 600, b"y" * 600]), limit=1000)
    assert _stored(store) == []
    with pytest.raises(MissingBlob):
        b"".join(store.open("b" * 32))


def test_deleted_bytes_are_gone_and_deleting_twice_is_fine(store: FileStore) -> None:
    store.put("c" * 32, iter([b"hello"]), limit=100)
    store.delete("c" * 32)
    store.delete("c" * 32)
    assert _stored(store) == []
    with pytest.raises(MissingBlob):
        b"".join(store.open("c" * 32))


def test_keys_before_lists_only_our_keys_written_before_the_time(store: FileStore) -> None:
    store.put("d" * 32, iter([b"one"]), limit=100)
    store.put("e" * 32, iter([b"two"]), limit=100)
    assert sorted(store.keys_before(datetime.now(UTC) + timedelta(minutes=5))) == [
        "d" * 32,
        "e" * 32,
    ]
    assert list(store.keys_before(datetime.now(UTC) - timedelta(minutes=5))) == []


def test_the_disk_store_builds_paths_from_keys_only(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a file key"):
        DiskStore(tmp_path).put("../../escape", iter([b"x"]), limit=10)

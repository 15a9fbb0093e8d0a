"""Files in an S3 bucket (or MinIO, or moto in tests): ``AGENTFLOW_FILES_BACKEND=s3``.

boto3 finds credentials and region the usual way and honours ``AWS_ENDPOINT_URL_S3``.
An upload is measured while it is spooled (in memory up to one chunk, then a temporary
file) and only then sent with ``upload_fileobj``, which streams it in parts: a file over
the limit never reaches the bucket, and memory stays flat whatever the size.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from agentflow_app.files.store import CHUNK, Measure, MissingBlob, Written

_KEY = re.compile(r"^[0-9a-f]{32}$")


class S3Store:
    """A :class:`~agentflow_app.files.store.FileStore` in ``bucket`` under ``prefix``."""

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3")
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def put(self, key: str, chunks: Iterable[bytes], *, limit: int) -> Written:
        measure = Measure(limit)
        with tempfile.SpooledTemporaryFile(max_size=CHUNK) as spool:
            for chunk in measure(chunks):
                spool.write(chunk)
            spool.seek(0)
            self.client.upload_fileobj(spool, self.bucket, self._key(key))
        return measure.written()

    def open(self, key: str) -> Iterator[bytes]:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            raise MissingBlob(key) from None
        return _chunks(answer["Body"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def keys_before(self, before: datetime) -> Iterator[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                key = item["Key"][len(self.prefix) :]
                if _KEY.match(key) and item["LastModified"] < before:
                    yield key


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()

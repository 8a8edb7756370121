"""The S3-compatible image store against a local S3 server (moto's); skipped without boto3 and moto."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import date

import pytest

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

from platewatch.engine.store.images import CROP, OVERVIEW, S3ImageStore, open_image_store  # noqa: E402


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket="pw-images")
    try:
        yield url
    finally:
        server.stop()


def test_s3_store_put_copy_purge(endpoint: str) -> None:
    store = open_image_store(f"s3://pw-images/site-a?endpoint={endpoint}")
    assert isinstance(store, S3ImageStore)
    store.put("reads/2025/11/28/r1", CROP, b"crop")
    store.put("reads/2025/11/28/r1", OVERVIEW, b"over")
    store.put("reads/2025/11/29/r2", CROP, b"crop2")
    assert store.get("reads/2025/11/28/r1", CROP) == b"crop"
    assert store.get("reads/2025/11/28/missing", CROP) is None
    assert store.copy("reads/2025/11/28/r1", "evidence/7/r1") == 2
    assert store.days() == [date(2025, 11, 28), date(2025, 11, 29)]
    assert store.purge_day(date(2025, 11, 28)) == 2
    assert store.days() == [date(2025, 11, 29)]
    assert store.get("evidence/7/r1", OVERVIEW) == b"over"
    assert store.delete("evidence/7/r1") == 2


def test_an_unreachable_bucket_is_an_os_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The persist agent retries OSError (and holds its offsets); botocore errors must arrive as one."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket closes
    config = boto3.session.Config(connect_timeout=1, retries={"max_attempts": 1})
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", config=config)
    store = S3ImageStore("s3://pw-images", client=client)
    with pytest.raises(OSError, match="S3 image store"):
        store.put("reads/2025/11/28/r1", CROP, b"x")

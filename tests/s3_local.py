"""A local S3 server (moto's server mode) for tests of object storage; never AWS."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def local_s3(bucket: str) -> Iterator[tuple[str, object]]:
    """(HOST:PORT, a boto3 S3 client) of a moto server holding `bucket`. The fake
    credentials are set in this process's environment meanwhile (a Ray cluster started
    within inherits them), and restored after."""
    server_mod = pytest.importorskip("moto.server", reason="moto[server] is in the dev extra")
    import boto3

    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client("s3", endpoint_url=f"http://{host}:{port}",
                              region_name="us-east-1")
        client.create_bucket(Bucket=bucket)
        yield f"{host}:{port}", client
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

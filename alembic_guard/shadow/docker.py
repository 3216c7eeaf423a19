"""Shadow PostgreSQL in Docker through testcontainers (extra ``docker``).

The Docker socket is probed with the standard library first (<1 ms) because importing
testcontainers alone costs ~2 s.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

from ..errors import GuardError
from .server import ShadowServer

DEFAULT_IMAGE = "postgres:18-alpine"


def docker_reachable() -> bool:
    """True when a Docker engine answers on ``DOCKER_HOST`` or the default unix socket."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            path = host[len("unix://"):]
            if not os.path.exists(path):
                return False
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(0.5)
                s.connect(path)
            return True
        if host.startswith("tcp://"):
            u = urlparse(host)
            with socket.create_connection((u.hostname or "localhost", u.port or 2375), timeout=0.5):
                return True
    except OSError:
        return False
    return False


def start_container(image: str | None = None) -> ShadowServer:
    """Start ``image`` (default ``$ALEMBIC_GUARD_DOCKER_IMAGE`` or ``postgres:18-alpine``); stop()
    removes it."""
    try:
        from testcontainers.postgres import PostgresContainer
    except ImportError as exc:
        raise GuardError("Docker is running but testcontainers is not installed.",
                         hint="Install it with: pip install 'alembic-guard-pg[docker]'.") from exc
    image = image or os.environ.get("ALEMBIC_GUARD_DOCKER_IMAGE", DEFAULT_IMAGE)
    container = PostgresContainer(image, username="postgres", password="postgres", dbname="postgres")
    container.with_command("postgres -c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    try:
        container.start()
    except Exception as exc:  # docker errors come in many types
        try:
            container.stop()
        except Exception:
            pass
        raise GuardError(f"could not start the Docker shadow ({image}): {exc}") from exc
    server = ShadowServer(provider="docker", host=container.get_container_host_ip(),
                          port=int(container.get_exposed_port(5432)), user="postgres",
                          password="postgres", description=f"Docker image {image}")
    server._stop = container.stop
    return server

"""What the HTTP benchmarks share: a free loopback port, and waiting for a started server to be
ready before anything is timed."""

from __future__ import annotations

import asyncio
import socket

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(client: httpx.AsyncClient, seconds: float) -> None:
    """Polls `/readyz` (model loaded, index answering) every 0.5 s for up to `seconds`."""
    for _ in range(int(seconds / 0.5)):
        try:
            if (await client.get("/readyz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.5)

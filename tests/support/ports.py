"""Free TCP ports for test processes (torchrun rendezvous, Ray nodes, a server nobody runs)."""

from __future__ import annotations

import contextlib
import socket


def free_ports(n: int) -> list[int]:
    """n distinct free ports: every socket stays bound until all are picked, so the kernel cannot
    hand the same port out twice (closing each before the next bind lets it)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind(("", 0))
        return [sock.getsockname()[1] for sock in socks]


def free_port() -> int:
    return free_ports(1)[0]

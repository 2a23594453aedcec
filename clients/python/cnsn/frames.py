"""The gateway's wire format: u32 little-endian header length, JSON header, `bytes` of payload.

Payloads go from numpy buffers to the socket and back without a Python loop over their elements:
`sendall` of a memoryview on the way out, `recv_into` a preallocated array on the way in.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

from .errors import GatewayError

_LEN = struct.Struct("<I")


def send_frame(sock: socket.socket, header: dict[str, Any], payloads: tuple[memoryview, ...] = ()) -> None:
    """Sends a header (with `bytes` set when there are payloads) and then the payloads as they are."""
    total = sum(p.nbytes for p in payloads)
    if total:
        header = {**header, "bytes": total}
    body = json.dumps(header, separators=(",", ":")).encode()
    sock.sendall(_LEN.pack(len(body)) + body)
    for p in payloads:
        sock.sendall(p)


def recv_exact_into(sock: socket.socket, view: memoryview) -> None:
    """Fills `view` from the socket; a closed socket is a GatewayError (the caller names the gateway)."""
    got = 0
    n = view.nbytes
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise GatewayError("the gateway closed the connection")
        got += k


def recv_header(sock: socket.socket) -> dict[str, Any]:
    """The next frame's header (its payload, if `bytes` says so, is read by the caller)."""
    size = bytearray(4)
    recv_exact_into(sock, memoryview(size))
    (length,) = _LEN.unpack(size)
    body = bytearray(length)
    recv_exact_into(sock, memoryview(body))
    header = json.loads(body)
    if not isinstance(header, dict):
        raise GatewayError(f"the gateway sent a header that is not an object: {header!r}")
    return header


def skip_payload(sock: socket.socket, nbytes: int) -> None:
    """Reads and drops `nbytes` (a payload nobody wants)."""
    scratch = memoryview(bytearray(min(nbytes, 1 << 20)))
    while nbytes:
        k = min(nbytes, scratch.nbytes)
        recv_exact_into(sock, scratch[:k])
        nbytes -= k

"""Optional shared secret of the bridge: a challenge-response run before anything else on a connection.

Off by default (PyMoDAQ's own clients never authenticate). When the server has a secret, it speaks
first, which PyMoDAQ's protocol never does, with a preamble no PyMoDAQ message can be confused with:

====================  ==========================================================================
server -> client      ``CHALLENGE_MAGIC`` (8 bytes) + server nonce (32 random bytes)
client -> server      ``RESPONSE_MAGIC`` (8 bytes) + client nonce (32) + HMAC-SHA256(secret,
                      b"client" + server nonce + client nonce) (32)
server -> client      ``ACCEPT_MAGIC`` (8 bytes) + HMAC-SHA256(secret, b"server" + client nonce +
                      server nonce) (32): the server proves it knows the secret too
====================  ==========================================================================

The secret never travels; digests are compared in constant time (``hmac.compare_digest``). The
server reads the client's first 8 bytes and refuses the connection at once unless they are
``RESPONSE_MAGIC`` (a client without the secret starts with its ``GRABBER`` frame): no PyMoDAQ frame
of a peer is read before it has proved the secret. A client with a secret that meets a server
without one gets no challenge and says so. This authenticates; it does not encrypt (use an SSH
tunnel or a VPN on an untrusted network).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import socket
import time

CHALLENGE_MAGIC = b"\x00TTBAUTH"   # as a PyMoDAQ u32 length: 5.5 MB, not a message anyone sends
RESPONSE_MAGIC = b"\x00TTBRESP"
ACCEPT_MAGIC = b"\x00TTBOKAY"
NONCE_BYTES = 32
DIGEST_BYTES = 32
#: a secret file larger than this is not a secret file
MAX_SECRET_FILE_BYTES = 4096


class AuthError(ConnectionError):
    """The peer did not prove the shared secret (or did not follow the challenge-response)."""


def _mac(secret: bytes, *parts: bytes) -> bytes:
    return hmac.new(secret, b"".join(parts), hashlib.sha256).digest()


def _recv_exact(sock: socket.socket, n: int, deadline: float, what: str) -> bytes:
    got = bytearray()
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AuthError(f"{what}: {len(got)} of {n} bytes within the time allowed")
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(got))
        except socket.timeout:
            raise AuthError(f"{what}: {len(got)} of {n} bytes within the time allowed") from None
        if not chunk:
            raise AuthError(f"{what}: the peer closed the connection ({len(got)} of {n} bytes)")
        got += chunk
    return bytes(got)


def check_secret(secret) -> bytes | None:
    """None/b'' -> None (no secret); str -> UTF-8 bytes; anything else must be bytes."""
    if secret is None or secret in (b"", ""):
        return None
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, (bytes, bytearray)):
        raise TypeError(f"the shared secret must be bytes, not {type(secret).__name__}")
    return bytes(secret)


def challenge_peer(sock: socket.socket, secret: bytes, timeout: float) -> None:
    """Server side: challenge a newly accepted peer; return if it proved the secret, else AuthError.

    Reads nothing but the 72-byte response, and stops at its first 8 bytes if they are not
    ``RESPONSE_MAGIC``."""
    deadline = time.monotonic() + timeout
    server_nonce = secrets.token_bytes(NONCE_BYTES)
    sock.settimeout(timeout)
    sock.sendall(CHALLENGE_MAGIC + server_nonce)
    magic = _recv_exact(sock, len(RESPONSE_MAGIC), deadline, "shared secret: the peer's answer")
    if magic != RESPONSE_MAGIC:
        raise AuthError("shared secret: the peer did not answer the challenge (a client without the "
                        "secret, or not this package's client)")
    rest = _recv_exact(sock, NONCE_BYTES + DIGEST_BYTES, deadline, "shared secret: the peer's answer")
    client_nonce, digest = rest[:NONCE_BYTES], rest[NONCE_BYTES:]
    if not hmac.compare_digest(digest, _mac(secret, b"client", server_nonce, client_nonce)):
        raise AuthError("shared secret: wrong secret")
    sock.sendall(ACCEPT_MAGIC + _mac(secret, b"server", client_nonce, server_nonce))


def answer_challenge(sock: socket.socket, secret: bytes, timeout: float) -> None:
    """Client side, right after connecting: answer the server's challenge and check its proof.

    Raises AuthError naming what went wrong (no challenge: the server has no secret set; refused:
    the secrets differ)."""
    deadline = time.monotonic() + timeout
    try:
        magic = _recv_exact(sock, len(CHALLENGE_MAGIC), deadline, "shared secret: the server's challenge")
    except AuthError as e:
        raise AuthError(f"{e} (is the shared secret set on the server?)") from None
    if magic != CHALLENGE_MAGIC:
        raise AuthError("shared secret: the server sent no challenge (is the shared secret set on the "
                        "server?)")
    server_nonce = _recv_exact(sock, NONCE_BYTES, deadline, "shared secret: the server's challenge")
    client_nonce = secrets.token_bytes(NONCE_BYTES)
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    sock.sendall(RESPONSE_MAGIC + client_nonce + _mac(secret, b"client", server_nonce, client_nonce))
    try:
        reply = _recv_exact(sock, len(ACCEPT_MAGIC) + DIGEST_BYTES, deadline,
                            "shared secret: the server's answer")
    except AuthError as e:
        raise AuthError(f"{e}: the server refused the secret (not the same secret on both PCs?)") from None
    if reply[:len(ACCEPT_MAGIC)] != ACCEPT_MAGIC or not hmac.compare_digest(
            reply[len(ACCEPT_MAGIC):], _mac(secret, b"server", client_nonce, server_nonce)):
        raise AuthError("shared secret: the server did not prove the secret (another server?)")


def read_secret_file(path) -> bytes:
    """The secret in a file (its bytes, trailing newline removed); ValueError if missing or empty."""
    try:
        size = os.path.getsize(path)
        if size > MAX_SECRET_FILE_BYTES:
            raise ValueError(f"secret file {path}: {size} bytes, more than {MAX_SECRET_FILE_BYTES}")
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"cannot read the secret file {path}: {e.strerror or e}") from None
    data = data.rstrip(b"\r\n")
    if not data.strip():
        raise ValueError(f"secret file {path} is empty")
    return data

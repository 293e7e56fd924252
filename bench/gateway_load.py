"""Loopback load test of the gateway: echo upstream, N concurrent clients, bounded.

Prints requests/s, p50/p99 latency and errors, in clear text and over TLS
side by side, for unary calls through ``GatewayClient`` and
``AsyncGatewayClient``, the same for a bare gRPC call (no SDK client) to
show the client's added cost, whole streams, and first-chunk latency of
streams. The TLS certificates are made at run time (``LoopbackPki``). The
gateways run in a child process so that client and server do not share one
interpreter lock. Each phase stops at ``--requests`` calls or ``--seconds``,
whichever comes first, after a warm-up that is not counted.

    python bench/gateway_load.py --clients 16 --requests 5000 --seconds 20 [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc

from figures import add_json_option, write_figures
from privacy_partition.cloud import (
    SERVICE_NAME,
    AsyncGatewayClient,
    BackgroundGateway,
    ClientTls,
    EchoUpstream,
    GatewayClient,
    GatewayError,
    GatewayServer,
    LoopbackPki,
    ServerTls,
)
from privacy_partition.cloud._pb import gateway_pb2 as pb

WARM_UP_S = 2.0
PROMPT = "Plan a trip to Lisbon for <PERSON_1> next spring; call <PHONE_NUMBER_1> to confirm."


def serve(tls_dir: Path) -> None:
    """Child process: a clear-text and a TLS gateway until stdin closes."""
    tls = ServerTls((tls_dir / "server.pem").read_bytes(), (tls_dir / "server.key").read_bytes())
    with (
        BackgroundGateway(GatewayServer(EchoUpstream(chunk_chars=8))) as plain,
        BackgroundGateway(GatewayServer(EchoUpstream(chunk_chars=8), tls=tls)) as secure,
    ):
        print(plain.port, secure.port, flush=True)
        sys.stdin.read()


@dataclass(frozen=True)
class Result:
    ok: int
    errors: int
    rate: float
    p50_ms: float
    p99_ms: float

    def __str__(self) -> str:
        return (
            f"{self.rate:>6.0f} req/s  p50 {self.p50_ms:5.2f} ms  p99 {self.p99_ms:6.2f} ms"
            f"  {self.ok:>5} ok {self.errors:>3} err"
        )


class Tally:
    """Calls issued, latencies and errors of one phase, shared by its workers."""

    def __init__(self, requests: int, seconds: float) -> None:
        self._requests = requests
        self._stop_at = time.perf_counter() + seconds
        self._lock = threading.Lock()
        self._issued = 0
        self.latencies: list[float] = []
        self.errors = 0
        self.began = time.perf_counter()

    def take(self) -> bool:
        """Whether one more call may start."""
        with self._lock:
            if self._issued >= self._requests or time.perf_counter() >= self._stop_at:
                return False
            self._issued += 1
            return True

    def record(self, latency: float | None) -> None:
        with self._lock:
            if latency is None:
                self.errors += 1
            else:
                self.latencies.append(latency)

    def result(self) -> Result | None:
        wall = time.perf_counter() - self.began
        if not self.latencies:
            return None
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        ok = len(self.latencies)
        return Result(ok, self.errors, ok / wall, cuts[49] * 1000, cuts[98] * 1000)


def run_threads(
    call: Callable[[], float | None], clients: int, requests: int, seconds: float
) -> Result | None:
    """Run ``call`` from ``clients`` threads; each returns a latency to record (or None)."""
    tally = Tally(requests, seconds)

    def worker() -> None:
        while tally.take():
            start = time.perf_counter()
            try:
                measured = call()
            except (GatewayError, grpc.RpcError):
                tally.record(None)
                continue
            tally.record(measured if measured is not None else time.perf_counter() - start)

    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(worker)
    return tally.result()


def run_tasks(
    connect: Callable[[], AsyncGatewayClient],
    call: Callable[[AsyncGatewayClient], Awaitable[object]],
    clients: int,
    requests: int,
    seconds: float,
) -> Result | None:
    """Run ``call`` from ``clients`` tasks on one event loop, over one async client."""

    async def main() -> Result | None:
        async with connect() as client:
            await call(client)  # connect and warm up
            tally = Tally(requests, seconds)

            async def worker() -> None:
                while tally.take():
                    start = time.perf_counter()
                    try:
                        await call(client)
                    except GatewayError:
                        tally.record(None)
                        continue
                    tally.record(time.perf_counter() - start)

            await asyncio.gather(*(worker() for _ in range(clients)))
            return tally.result()

    return asyncio.run(main())


def measure(
    target: str, tls: ClientTls | None, args: argparse.Namespace
) -> dict[str, Result | None]:
    """Every phase against one gateway."""
    n = (args.clients, args.requests, args.seconds)
    if tls is None:
        channel = grpc.insecure_channel(target)
    else:
        override = [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
        channel = grpc.secure_channel(target, tls.credentials(), options=override)
    insecure = tls is None
    with GatewayClient(target, tls=tls, insecure=insecure, timeout_s=10) as client, channel:
        bare = channel.unary_unary(
            f"/{SERVICE_NAME}/Generate",
            request_serializer=pb.GenerateRequest.SerializeToString,
            response_deserializer=pb.GenerateResponse.FromString,
        )
        bare_request = pb.GenerateRequest(
            request_id="bench", messages=[pb.ChatMessage(role=pb.ROLE_USER, content=PROMPT)]
        )
        client.generate(PROMPT)  # connect and warm up
        bare(bare_request, timeout=10)

        def unary_bare() -> None:
            bare(bare_request, timeout=10)

        def unary_sdk() -> None:
            client.generate(PROMPT)

        def stream_whole() -> None:
            with client.stream(PROMPT) as chunks:
                for _ in chunks:
                    pass

        def stream_first_chunk() -> float:
            start = time.perf_counter()
            with client.stream(PROMPT) as chunks:
                next(chunks)
                first = time.perf_counter() - start
                for _ in chunks:
                    pass
            return first

        # Both processes start cold (thread pools, allocators, caches): two seconds of calls
        # first, not counted, so that the first phase measures the same steady state.
        run_threads(unary_sdk, args.clients, sys.maxsize, WARM_UP_S)
        results = {
            "unary, bare grpc": run_threads(unary_bare, *n),
            "unary, GatewayClient": run_threads(unary_sdk, *n),
            "unary, AsyncGatewayClient": run_tasks(
                lambda: AsyncGatewayClient(target, tls=tls, insecure=insecure, timeout_s=10),
                lambda c: c.generate(PROMPT),
                *n,
            ),
            "stream, whole answer": run_threads(stream_whole, *n),
            "stream, first chunk": run_threads(stream_first_chunk, *n),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=5000, help="per phase, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase, at most")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    add_json_option(parser)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    pki = LoopbackPki.generate()
    with tempfile.TemporaryDirectory() as folder:
        tls_dir = Path(folder)
        (tls_dir / "server.pem").write_bytes(pki.server_chain)
        (tls_dir / "server.key").write_bytes(pki.server_key)
        child = subprocess.Popen(
            [sys.executable, __file__, "--serve", folder],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None
            plain_port, tls_port = (int(p) for p in child.stdout.readline().split())
            print(
                f"echo upstream, {args.clients} clients, at most {args.requests} calls"
                f" or {args.seconds:.0f} s per phase; TLS with P-256 certificates made at run time"
            )
            plain = measure(f"127.0.0.1:{plain_port}", None, args)
            secure = measure(f"127.0.0.1:{tls_port}", pki.client_tls(), args)
        finally:
            child.communicate(timeout=30)
    width = 27
    print(f"{'':<{width}} {'clear text':<52} {'TLS':<52}")
    for name in plain:
        cells = [str(r) if r else "no successful calls" for r in (plain[name], secure[name])]
        print(f"{name:<{width}} {cells[0]:<52} {cells[1]:<52}")
    write_figures(
        args.json,
        {
            "clients": args.clients,
            "requests_per_phase": args.requests,
            "seconds_per_phase": args.seconds,
            "baseline": "unary, bare grpc",
            "transports": {
                transport: {name: asdict(r) if r else None for name, r in results.items()}
                for transport, results in (("clear text", plain), ("TLS", secure))
            },
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Loopback load test of the gateway: echo upstream, N concurrent clients, bounded.

Prints requests/s, p50/p99 latency and errors for unary calls through
``GatewayClient``, the same for a bare gRPC call (no SDK client) to show the
client's added cost, and first-chunk latency for streams. The gateway runs
in a child process so that client and server do not share one interpreter
lock. Each phase stops at ``--requests`` calls or ``--seconds``, whichever
comes first.

    python bench/gateway_load.py --clients 16 --requests 5000 --seconds 20
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc

from privacy_partition.cloud import (
    SERVICE_NAME,
    BackgroundGateway,
    EchoUpstream,
    GatewayClient,
    GatewayError,
    GatewayServer,
)
from privacy_partition.cloud._pb import gateway_pb2 as pb

PROMPT = "Plan a trip to Lisbon for <PERSON_1> next spring; call <PHONE_NUMBER_1> to confirm."


def serve() -> None:
    """Child process: run the gateway until stdin closes."""
    with BackgroundGateway(GatewayServer(EchoUpstream(chunk_chars=8))) as gateway:
        print(gateway.port, flush=True)
        sys.stdin.read()


def run_phase(
    name: str, call: Callable[[], float | None], clients: int, requests: int, seconds: float
) -> None:
    """Run ``call`` from ``clients`` threads; each returns a latency to record (or None)."""
    latencies: list[float] = []
    errors = 0
    issued = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def worker() -> None:
        nonlocal errors, issued
        while True:
            with lock:
                if issued >= requests or time.perf_counter() >= stop_at:
                    return
                issued += 1
            start = time.perf_counter()
            try:
                measured = call()
            except (GatewayError, grpc.RpcError):
                with lock:
                    errors += 1
                continue
            elapsed = measured if measured is not None else time.perf_counter() - start
            with lock:
                latencies.append(elapsed)

    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for _ in range(clients):
            pool.submit(worker)
    wall = time.perf_counter() - began
    if not latencies:
        print(f"{name:<28} no successful calls, {errors} errors")
        return
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    print(
        f"{name:<28} {len(latencies):>6} ok {errors:>4} err  {len(latencies) / wall:>8.0f} req/s"
        f"  p50 {cuts[49] * 1000:6.2f} ms  p99 {cuts[98] * 1000:6.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=5000, help="per phase, at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="per phase, at most")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return 0
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert child.stdout is not None
        target = f"127.0.0.1:{int(child.stdout.readline())}"
        print(
            f"gateway {target}, echo upstream, {args.clients} clients,"
            f" at most {args.requests} calls or {args.seconds:.0f} s per phase"
        )
        with (
            GatewayClient(target, insecure=True, timeout_s=10) as client,
            grpc.insecure_channel(target) as channel,
        ):
            bare = channel.unary_unary(
                f"/{SERVICE_NAME}/Generate",
                request_serializer=pb.GenerateRequest.SerializeToString,
                response_deserializer=pb.GenerateResponse.FromString,
            )
            bare_request = pb.GenerateRequest(
                request_id="bench", messages=[pb.ChatMessage(role=pb.ROLE_USER, content=PROMPT)]
            )
            client.generate(PROMPT)  # connect and warm up

            def unary_sdk() -> None:
                client.generate(PROMPT)

            def unary_bare() -> None:
                bare(bare_request, timeout=10)

            def stream_first_chunk() -> float:
                start = time.perf_counter()
                with client.stream(PROMPT) as chunks:
                    next(chunks)
                    first = time.perf_counter() - start
                    for _ in chunks:
                        pass
                return first

            def stream_whole() -> None:
                with client.stream(PROMPT) as chunks:
                    for _ in chunks:
                        pass

            phases = (
                ("unary, bare grpc", unary_bare),
                ("unary, GatewayClient", unary_sdk),
                ("stream, whole answer", stream_whole),
                ("stream, first chunk", stream_first_chunk),
            )
            for name, call in phases:
                run_phase(name, call, args.clients, args.requests, args.seconds)
    finally:
        child.communicate(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

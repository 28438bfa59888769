"""RTP echo capacity: concurrent calls until outbound pacing or sequence breaks.

One load generator (this process plus a sender and a receiver process
sharing the calls' UDP sockets) drives N echo calls over RTP against a
`callbot serve` subprocess. Calls send 20 ms µ-law packets at independent
phases spread over the interval, as real callers do. The receiver reads the
bot's packets with kernel receive timestamps (SO_TIMESTAMPNS) and reports
sequence gaps and |inter-arrival - 20 ms| percentiles over all packets of all
calls. Server CPU (from /proc) is reported apart from the generator's.

    python -m bench.rtp [--steps 50,100,200,400,600,800,1000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import grpc
import numpy as np

from bench.serving import wait_serving
from callbot.media import g711
from callbot.v1 import callbot_pb2 as pb
from callbot.v1 import callbot_pb2_grpc as pb_grpc

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
INTERVAL = 0.020
RESULTS = Path(__file__).parent / "results" / "rtp.json"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _sender(socks: list[socket.socket], ports: list[int], seconds: float) -> dict[str, Any]:
    """Send one 20 ms packet per call per interval, each call at its own phase."""
    payload = g711.ulaw_encode((800 * np.sin(np.arange(160) * 0.15)).astype(np.int16))
    rng = random.Random(1)
    phases = [rng.random() * INTERVAL for _ in ports]
    order = sorted(range(len(ports)), key=lambda i: phases[i])
    header = struct.Struct("!BBHII")
    start = time.monotonic() + 0.1
    end = start + seconds
    n = 0
    while True:
        base = start + n * INTERVAL
        if base >= end:
            break
        for i in order:
            due = base + phases[i]
            delay = due - time.monotonic()
            if delay > 0.0005:
                time.sleep(delay)
            pkt = header.pack(0x80, 0, n & 0xFFFF, (n * 160) & 0xFFFFFFFF, 0x1000 + i) + payload
            socks[i].sendto(pkt, ("127.0.0.1", ports[i]))
        n += 1
    return {"cpu_s": _cpu_seconds(os.getpid())}


def _receiver(socks: list[socket.socket], seconds: float, warmup: float) -> dict[str, Any]:
    """Record (kernel arrival time, seq) of every bot packet, per call."""
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, i)
    arrivals: list[list[tuple[float, int]]] = [[] for _ in socks]
    cpu0 = _cpu_seconds(os.getpid())
    deadline = time.monotonic() + seconds + 1.0
    while time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.05):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            while True:
                try:
                    data, anc, _, _ = sock.recvmsg(2048, 64)
                except BlockingIOError:
                    break
                ts = 0.0
                for level, kind, raw in anc:
                    if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", raw[:16])
                        ts = sec + nsec / 1e9
                if len(data) >= 12:
                    arrivals[key.data].append((ts, struct.unpack("!H", data[2:4])[0]))
    gaps = 0
    deviations: list[float] = []
    received = 0
    for per_call in arrivals:
        if not per_call:
            continue
        t0 = per_call[0][0]
        kept = [(t, s) for t, s in per_call if t - t0 >= warmup]
        received += len(kept)
        for (ta, sa), (tb, sb) in itertools.pairwise(kept):
            step = (sb - sa) % 65536
            if step != 1:
                gaps += 1
            else:
                deviations.append(abs((tb - ta) - INTERVAL) * 1000)
    dev = np.array(deviations) if deviations else np.zeros(1)
    return {
        "received": received,
        "silent_calls": sum(1 for a in arrivals if not a),
        "gaps": gaps,
        "p50_ms": float(np.percentile(dev, 50)),
        "p99_ms": float(np.percentile(dev, 99)),
        "max_ms": float(dev.max()),
        "cpu_s": _cpu_seconds(os.getpid()) - cpu0,
    }


def _role(role: str, fds: str) -> None:
    """A generator process (sender or receiver) over the calls' inherited sockets.

    Its own interpreter, not a fork: this process has used gRPC, and a forked
    child of a gRPC process can hang. Parameters come as one JSON line on
    stdin, the result leaves as one JSON line on stdout.
    """
    socks = [socket.socket(fileno=int(fd)) for fd in fds.split(",")]
    args = json.loads(sys.stdin.readline())
    if role == "sender":
        result = _sender(socks, args["ports"], args["seconds"])
    else:
        result = _receiver(socks, args["seconds"], args["warmup"])
    print(json.dumps(result), flush=True)


async def _open_calls(port: int, n: int) -> tuple[grpc.aio.Channel, list[Any], list[int]]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = pb_grpc.CallbotStub(channel)
    streams, ports = [], []
    for i in range(n):
        stream = stub.Converse()  # type: ignore[call-arg]
        await stream.write(
            pb.ClientMessage(
                start=pb.CallStart(
                    call_id=f"bench-{i}",
                    media_mode=pb.MEDIA_MODE_RTP,
                    codec=pb.CODEC_PCMU,
                    sample_rate_hz=8000,
                    flow="echo",  # the server's default flow may be a whole dialogue
                )
            )
        )
        msg = cast(pb.ServerMessage, await stream.read())
        if not msg.HasField("accepted"):
            raise RuntimeError(f"call {i} refused: {msg}")
        streams.append(stream)
        ports.append(msg.accepted.local_rtp.port)
    return channel, streams, ports


async def _close_calls(channel: grpc.aio.Channel, streams: list[Any]) -> None:
    for s in streams:
        await s.write(pb.ClientMessage(hangup=pb.Hangup()))
        await s.done_writing()
    for s in streams:
        while await s.read() is not grpc.aio.EOF:  # type: ignore[attr-defined]
            pass
    await channel.close(None)


def _step(n: int, seconds: float, grpc_port: int, server_pid: int) -> dict[str, Any]:
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    # Not "fork": this process has used gRPC (health checks), and a forked child
    # of a gRPC process can hang. The forkserver starts clean; sockets pass as fds.
    fds = [sock.fileno() for sock in socks]

    def spawn(role: str) -> subprocess.Popen[str]:
        cmd = [sys.executable, "-m", "bench.rtp", "--role", role, "--fds", ",".join(map(str, fds))]
        return subprocess.Popen(cmd, pass_fds=fds, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)  # fmt: skip

    def talk(proc: subprocess.Popen[str], args: dict[str, Any]) -> None:
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(args) + "\n")
        proc.stdin.flush()

    def result(proc: subprocess.Popen[str]) -> dict[str, Any]:
        out, _ = proc.communicate(timeout=seconds + 60)
        return cast(dict[str, Any], json.loads(out))

    sender, receiver = spawn("sender"), spawn("receiver")

    async def run() -> dict[str, Any]:
        channel, streams, ports = await _open_calls(grpc_port, n)
        cpu0 = _cpu_seconds(server_pid)
        t0 = time.monotonic()
        talk(receiver, {"seconds": seconds, "warmup": 2.0})
        talk(sender, {"ports": ports, "seconds": seconds})
        got = await asyncio.to_thread(result, receiver)
        sender_cpu = (await asyncio.to_thread(result, sender))["cpu_s"]
        elapsed = time.monotonic() - t0
        server_cpu = _cpu_seconds(server_pid) - cpu0
        await _close_calls(channel, streams)
        got.update(
            calls=n,
            server_cpu_core=server_cpu / elapsed,
            server_cpu_pct_per_100_calls=100 * server_cpu / elapsed / n * 100,
            generator_cpu_core=(sender_cpu + got.pop("cpu_s")) / elapsed,
            expected=int(n * (seconds - 2.0) / INTERVAL),
        )
        return got

    try:
        return asyncio.run(run())
    finally:
        for proc in (sender, receiver):
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
        for s in socks:
            s.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="50,100,200,400,600,800,1000")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=50071)
    parser.add_argument(
        "--keep-going", action="store_true", help="run every step even after one fails"
    )
    parser.add_argument("--role", choices=("sender", "receiver"), help=argparse.SUPPRESS)
    parser.add_argument("--fds", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        _role(args.role, args.fds)
        return 0
    env = dict(os.environ)
    env.update(
        CALLBOT_GRPC_ADDRESS=f"127.0.0.1:{args.port}",
        CALLBOT_METRICS_ADDRESS="",
        CALLBOT_MAX_CALLS="5000",
        CALLBOT_RTP_PORT_MIN="30000",
        CALLBOT_RTP_PORT_MAX="39999",
        CALLBOT_RECORDS_DIR="/tmp/callbot-bench/records",
        CALLBOT_LOG_LEVEL="WARNING",
    )

    proc = subprocess.Popen([sys.executable, "-m", "callbot.cli", "serve"], env=env)
    try:
        asyncio.run(wait_serving(args.port))
        results = []
        for n in (int(x) for x in args.steps.split(",")):
            r = _step(n, args.seconds, args.port, proc.pid)
            ok = r["gaps"] == 0 and r["p99_ms"] <= 5.0 and r["silent_calls"] == 0
            r["pass"] = ok
            results.append(r)
            print(
                f"{n:5d} calls: p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms  "
                f"max {r['max_ms']:.1f} ms  gaps {r['gaps']}  pkts {r['received']}/"
                f"{r['expected']}  server {r['server_cpu_core'] * 100:.1f}% of a core "
                f"({r['server_cpu_pct_per_100_calls']:.1f}%/100 calls)  generator "
                f"{r['generator_cpu_core'] * 100:.1f}%  {'PASS' if ok else 'FAIL'}",
                flush=True,
            )
            if not ok and not args.keep_going:
                break
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"steps": results, "nproc": os.cpu_count()}, indent=2))
        print(f"wrote {RESULTS}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

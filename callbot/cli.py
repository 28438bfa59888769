"""`callbot …`: the command-line entry point."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from callbot import __version__
from callbot.config import ConfigError, Settings


def _serve_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the gRPC service")
    p.add_argument("--config", help="YAML config file (see docs/configuration.md)")
    p.add_argument("--grpc-address", help="host:port to listen on (default 127.0.0.1:50051)")
    p.add_argument("--metrics-address", help="host:port for /metrics ('' disables)")
    p.add_argument("--max-calls", type=int, help="concurrent calls before refusing")
    p.add_argument("--sip-address", help="host:port to take SIP calls on (UDP and TCP)")
    p.add_argument("--echo-delay-ms", type=int, help="delay of the echo loop")
    p.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")


def main(argv: Sequence[str] | None = None) -> int:
    # Small models on 2 cores: thread wake-ups cost more than they save (DESIGN §6).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Subcommands with their own argument parsers.
    if args_list[:1] == ["flow"]:
        from callbot.dialog.cli import main as flow_main

        return flow_main(args_list[1:])
    if args_list[:1] == ["models"]:
        from callbot.stt.models_cli import main as models_main

        return models_main(args_list[1:])
    if args_list[:1] == ["call"]:
        from callbot.client.call import main as call_main

        return call_main(args_list[1:])
    if args_list[:1] == ["transcribe"]:
        from callbot.stt.cli import main as transcribe_main

        return transcribe_main(args_list[1:])
    parser = argparse.ArgumentParser(prog="callbot", description=__doc__)
    parser.add_argument("--version", action="version", version=f"callbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    sub.add_parser("flow", help="check, chat with and test dialogue flows (callbot flow -h)")
    sub.add_parser("models", help="list and verify the bundled models (callbot models -h)")
    sub.add_parser("transcribe", help="run a WAV through the call's hearing path")
    sub.add_parser("call", help="place a call to a running bot (callbot call -h)")
    args = parser.parse_args(args_list)
    if args.command == "serve":
        return _serve(args)
    parser.error(f"unknown command {args.command}")
    return 2


def _serve(args: argparse.Namespace) -> int:
    from callbot.logs import setup_logging
    from callbot.server.app import serve

    overrides = {
        "grpc_address": args.grpc_address,
        "metrics_address": args.metrics_address,
        "max_calls": args.max_calls,
        "sip_address": args.sip_address,
        "echo_delay_ms": args.echo_delay_ms,
        "log_level": args.log_level,
    }
    try:
        settings = Settings.load(args.config, overrides=overrides)
    except ConfigError as exc:
        print(f"callbot: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    try:
        import uvloop

        return uvloop.run(serve(settings))
    except ImportError:
        return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())

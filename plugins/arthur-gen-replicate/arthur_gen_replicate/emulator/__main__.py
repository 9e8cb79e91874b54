"""Run the emulator: ``python -m arthur_gen_replicate.emulator [--port 8787] ...``.

The first line printed is the base URL, so a parent process can read it (``--port 0``).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from . import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m arthur_gen_replicate.emulator",
        description="Serve a loopback emulator of Replicate's HTTP API until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    parser.add_argument("--starting", type=float, default=1.0, help="seconds in 'starting'")
    parser.add_argument("--processing", type=float, default=3.0, help="seconds in 'processing'")
    parser.add_argument("--ttl", type=float, default=3600.0, help="seconds outputs are kept")
    parser.add_argument("--token", action="append", help="accept only this token (repeatable; default: any)")
    parser.add_argument("--output-mode", choices=("url", "data"), default="url")
    parser.add_argument("--output-size", type=int, help="pad every output to this many bytes")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--fail", metavar="ERROR", help="make every prediction fail with ERROR")
    parser.add_argument("--no-billing", action="store_true", help="answer creates with 402")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not log requests")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    emulator = Emulator(
        args.host,
        args.port,
        starting_s=args.starting,
        processing_s=args.processing,
        ttl_s=args.ttl,
        tokens=args.token,
        billing_ok=not args.no_billing,
        page_size=args.page_size,
        output_mode=args.output_mode,
        output_size_bytes=args.output_size,
        log=None if args.quiet else lambda line: print(line, file=sys.stderr, flush=True),
    )
    if args.fail:
        emulator.set_outcome(args.fail)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with emulator:
        token = args.token[0] if args.token else "r8_emulator"
        print(emulator.url)
        print("Replicate API emulator running. Point scripts at it with:")
        print(f"  export REPLICATE_BASE_URL={emulator.url}")
        print(f"  export REPLICATE_API_TOKEN={token}")
        print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    print("Stopped.", flush=True)


if __name__ == "__main__":
    main()

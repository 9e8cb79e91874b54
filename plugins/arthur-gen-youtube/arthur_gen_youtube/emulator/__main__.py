"""``python -m arthur_gen_youtube.emulator [--port N]``: run the emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse

from arthur_gen.testing import serve_until_stopped

from . import Emulator


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m arthur_gen_youtube.emulator")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with Emulator(port=args.port) as emu:
        return serve_until_stopped(
            [
                f"YouTube emulator on {emu.url}",
                f"  export ARTHUR_GEN_YOUTUBE_ROOT_URL={emu.url}",
                f"  arthur-gen accounts add youtube --credentials {emu.write_credentials()}",
            ]
        )


if __name__ == "__main__":
    raise SystemExit(main())

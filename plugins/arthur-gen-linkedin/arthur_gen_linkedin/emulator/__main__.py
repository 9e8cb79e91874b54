"""``python -m arthur_gen_linkedin.emulator [--port N]``: run the emulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse

from arthur_gen.testing import serve_until_stopped

from . import Emulator


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m arthur_gen_linkedin.emulator")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with Emulator(port=args.port) as emu:
        return serve_until_stopped(
            [
                f"LinkedIn emulator on {emu.url}",
                f"  export ARTHUR_GEN_LINKEDIN_API_URL={emu.url} EMU_TOKEN={emu.token}",
                "  arthur-gen accounts add linkedin --token-env EMU_TOKEN",
            ]
        )


if __name__ == "__main__":
    raise SystemExit(main())

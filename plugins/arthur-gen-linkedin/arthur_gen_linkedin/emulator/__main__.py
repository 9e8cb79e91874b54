"""``python -m arthur_gen_linkedin.emulator [--port N]``: run the emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import time

from . import Emulator


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m arthur_gen_linkedin.emulator")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with Emulator(port=args.port) as emu:
        print(f"LinkedIn emulator on {emu.url}")
        print(f"  export ARTHUR_GEN_LINKEDIN_API_URL={emu.url} EMU_TOKEN={emu.token}")
        print("  arthur-gen accounts add linkedin --token-env EMU_TOKEN")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

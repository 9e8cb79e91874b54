"""Judge the emulator's answers with Replicate's own OpenAPI-generated client.

``replicate-stainless`` (Stainless, generated from Replicate's OpenAPI spec) validates every
response against the spec when built with ``_strict_response_validation=True``. It installs
under the import name ``replicate``, like the 1.0.7 client the plugin uses, so it lives in its
own folder and this script runs with that folder first on ``sys.path``::

    pip install --target /tmp/stainless replicate-stainless==0.6.0
    PYTHONPATH=/tmp/stainless:plugins/arthur-gen-replicate python \
        plugins/arthur-gen-replicate/scripts/stainless_check.py

It starts an emulator, makes every call the plugin relies on, prints one line per call and
exits non-zero if any answer fails the spec.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from typing import Any


def main() -> int:
    import replicate
    from arthur_gen_replicate.emulator import Emulator
    from arthur_gen_replicate.emulator._models import version_id

    if not hasattr(replicate, "Replicate"):
        print("this is not replicate-stainless (no replicate.Replicate); see the docstring")
        return 2
    failures = 0
    with Emulator(starting_s=0.05, processing_s=0.2) as emu:
        client = replicate.Replicate(
            bearer_token="r8_stainless", base_url=f"{emu.url}/v1", _strict_response_validation=True
        )

        def check(name: str, call: Callable[[], Any]) -> Any:
            nonlocal failures
            try:
                result = call()
            except Exception as exc:  # the judge's verdict, printed
                failures += 1
                print(f"FAIL {name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                return None
            print(f"ok   {name}")
            return result

        created = check(
            "models.predictions.create (official)",
            lambda: client.models.predictions.create(
                model_owner="minimax", model_name="video-01", input={"prompt": "x"}
            ),
        )
        check(
            "predictions.create (community model, latest version)",
            lambda: client.predictions.create(version=version_id("acme/painter"), input={"prompt": "x"}),
        )
        check(
            "predictions.create (official, owner/name)",
            lambda: client.predictions.create(
                version="black-forest-labs/flux-schnell", input={"prompt": "x"}
            ),
        )
        check(
            "predictions.create with Prefer: wait past its timeout",
            lambda: client.models.predictions.create(
                model_owner="google", model_name="veo-3.1", input={"prompt": "x"}, prefer="wait=1"
            ),
        )
        if created is not None:
            time.sleep(0.4)
            check("predictions.get (succeeded)", lambda: client.predictions.get(prediction_id=created.id))
        check("predictions.list", lambda: list(client.predictions.list()))
        check(
            "predictions.list (created_after)",
            lambda: list(client.predictions.list(created_after="2020-01-01T00:00:00Z")),
        )
        slow = check(
            "models.predictions.create (with Cancel-After: a deadline)",
            lambda: client.models.predictions.create(
                model_owner="kwaivgi",
                model_name="kling-v2.5-turbo-pro",
                input={"prompt": "x"},
                extra_headers={"Cancel-After": "5m"},
            ),
        )
        if slow is not None:
            check("predictions.cancel", lambda: client.predictions.cancel(prediction_id=slow.id))
        upload = io.BytesIO(b"\x89PNG not really")
        file = check("files.create", lambda: client.files.create(content=("a.png", upload, "image/png")))
        if file is not None:
            check("files.get", lambda: client.files.get(file_id=file.id))
        check("files.list", lambda: list(client.files.list()))
        check(
            "models.get (official)", lambda: client.models.get(model_owner="minimax", model_name="video-01")
        )
        check("models.get (community)", lambda: client.models.get(model_owner="acme", model_name="painter"))
    print(f"{failures} of the emulator's answers failed Replicate's spec")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

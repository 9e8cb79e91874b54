"""An image from any image backend, animated on Replicate: the video's lineage names the image.

    export REPLICATE_API_TOKEN=r8_...
    python examples/hybrid_pipeline.py                              # keyframe: mflux or Replicate
    python examples/hybrid_pipeline.py --image-backend replicate    # FLUX schnell on Replicate
    python examples/hybrid_pipeline.py --image-backend mflux        # free, local (Apple Silicon)
    python examples/hybrid_pipeline.py --video-model kwaivgi/kling-v2.1

By default (``--image-backend auto``) the keyframe is made locally for $0 with mflux on an
Apple Silicon Mac whose Hugging Face cache holds the model's weights, else with FLUX schnell
on Replicate ($0.003).

The image is passed to the video model as its first frame (uploaded, or inlined when small);
arthur-gen records the image's job as the video's parent, in the store and in the sidecar.

Without REPLICATE_API_TOKEN it runs offline against the local Replicate emulator: no money
spent, and its jobs go to a throwaway ledger. (mflux still runs for real when chosen.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arthur_gen_replicate.emulator import replicate_or_emulator

import arthur_gen


def choose_image_backend(wanted: str) -> str:
    """``auto``: mflux when it can run here quickly with its weights present, else Replicate."""
    if wanted != "auto":
        return wanted
    if sys.platform != "darwin":
        return "replicate"  # mflux on Linux runs on MLX's CPU backend: minutes per image
    try:
        backend = arthur_gen.get_backend("mflux", "image")
    except arthur_gen.UnknownModelError:
        return "replicate"
    model = next((m for m in backend.models() if m.id == backend.default_model), None)
    if model is None or not backend.availability().ok:
        return "replicate"
    return "mflux" if backend.model_availability(model).ok else "replicate"


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description="Image (any backend) -> video (Replicate).")
    parser.add_argument("--prompt", default="a paper boat on a rainy street, cinematic light")
    parser.add_argument("--motion", default="the boat drifts along the stream, rain falling")
    parser.add_argument("--image-backend", default="auto", help="auto, replicate, mflux, ...")
    parser.add_argument("--image-model", default=None, help="default: the backend's")
    parser.add_argument("--video-model", default="minimax/video-01")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=None, help="output folder (offline default: ./out)")
    args = parser.parse_args()

    with replicate_or_emulator(starting_s=0.3, processing_s=1.5) as offline:
        out_dir = args.out or ("out" if offline else None)
        image_backend = choose_image_backend(args.image_backend)
        on_replicate = image_backend == "replicate"
        try:
            image = arthur_gen.generate_image(
                args.prompt,
                backend=image_backend,
                model=args.image_model,
                seed=args.seed,
                aspect_ratio="16:9" if on_replicate else None,
                # a PNG carries its metadata inside it too
                options={"output_format": "png"} if on_replicate else None,
                out_dir=out_dir,
            )
            print(
                f"image  {image.paths[0]}  ({image.backend}/{image.model}, "
                f"{_money(image.cost_usd)}, job {image.job_id})"
            )
            video = arthur_gen.generate_video(
                args.motion,
                backend="replicate",
                model=args.video_model,
                first_frame=image,
                out_dir=out_dir,
            )
        except arthur_gen.ArthurGenError as exc:
            print(f"failed: {exc}", file=sys.stderr)
            return 1
        print(f"video  {video.paths[0]}  ({video.model}, {_money(video.cost_usd)}, job {video.job_id})")
        job = arthur_gen.get_job(video.job_id)
        assert image.job_id in job.parents, "the video's lineage names the image's job"
        sidecar = json.loads(Path(f"{video.paths[0]}.json").read_text())
        print(
            f"lineage: video {video.job_id} <- image {', '.join(job.parents)} "
            f"(sidecar parents: {sidecar['parents']})"
        )
        from arthur_gen import media

        # The post-ready cut: LinkedIn portrait (1080x1350), the keyframe's job as a brand logo
        # stand-in, a title, an outro card; a local $0 edit job whose lineage names the video.
        try:
            post = video.edit(
                [
                    media.Reformat(preset="linkedin-portrait", mode="blur"),
                    media.Logo(path=str(image.paths[0]), size=0.18),
                    media.Title(text=args.prompt[:60], duration=2.0, position="top"),
                    media.Card(where="outro", text="made with arthur-gen", duration=2.0),
                ],
                out_dir=out_dir,
            )
        except arthur_gen.ArthurGenError as exc:
            print(f"edit failed: {exc}", file=sys.stderr)
            return 1
        assert video.job_id in post.parents, "the edit's lineage names the video's job"
        print(f"post   {post.paths[0]}  (linkedin-portrait, $0, job {post.job_id})")
        total = (image.cost_usd or 0) + (video.cost_usd or 0)
        print(f"total {_money(total)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

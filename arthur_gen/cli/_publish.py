"""CLI commands for publishing: ``publish``, ``publications`` and ``accounts``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

__all__ = ["add_commands"]


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


class _Progress:
    """``sent / total (pct) at rate`` on stderr, at most every 0.5 s."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.last = 0.0
        self.first: int | None = None

    def __call__(self, sent: int, total: int) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first = sent
        if now - self.last < 0.5 and sent < total:
            return
        self.last = now
        rate = (sent - self.first) / max(now - self.start, 1e-6)
        pct = 100 * sent / total if total else 100
        sys.stderr.write(
            f"\r  {sent / 2**20:,.1f} / {total / 2**20:,.1f} MiB ({pct:.0f}%) at {rate / 2**20:,.1f} MiB/s"
        )
        if sent >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _cmd_publish(args: argparse.Namespace) -> int:
    from ..errors import SubmitUncertainError
    from ..publish._driver import publish
    from ._main import EXIT_INTERRUPT

    options: dict[str, Any] = {
        "to": args.to,
        "account": args.account,
        "force": args.force,
        "dry_run": args.dry_run,
        "preset": args.preset,
        "title": args.title or "",
        "description": args.description or "",
        "tags": args.tags or "",
        "privacy": args.privacy,
        "publish_at": args.publish_at,
        "thumbnail": args.thumbnail,
        "text": args.text or "",
        "synthetic": not args.not_synthetic,
    }
    if args.category:
        options["category"] = args.category
    if args.visibility:
        options["visibility"] = args.visibility
    progress = None if args.json or args.quiet else _Progress()
    try:
        result = publish(args.video, progress=progress, **options)
    except KeyboardInterrupt:
        print(
            "\nInterrupted: the upload is saved; run the same `arthur-gen publish` again to resume it "
            "from the server's offset.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPT
    except SubmitUncertainError as exc:
        print(f"arthur-gen: needs confirmation: {exc}", file=sys.stderr)
        return 4
    if args.json:
        _print_json(result)
    elif result["state"] == "dry run":
        print(f"Dry run: {args.video} passes {args.to}'s checks; nothing was uploaded.")
    else:
        print(f"Published to {result['platform']}: {result['url']} (job {result['job_id']})")
        if args.to == "youtube" and args.privacy == "private":
            print(
                "  It is private: uploads from unverified API projects are forced private; "
                "change it in YouTube Studio."
            )
    return 0


def _cmd_publications(args: argparse.Namespace) -> int:
    from ..publish._driver import confirm, publications
    from ._main import _table

    if args.action == "confirm":
        if not args.job:
            raise SystemExit("usage: arthur-gen publications confirm JOB --posted URN | --not-posted")
        row = confirm(args.job, posted=args.posted, not_posted=args.not_posted)
        print(f"Job {row['job_id']} is now {row['state']}.")
        return 0
    rows = publications(limit=args.limit)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("No publications yet.")
        return 0
    body = [
        [
            r["job_id"],
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r["created_at"])),
            r["platform"],
            r["account"],
            r["state"],
            r["url"] or "",
            (r["title"] or "")[:40],
        ]
        for r in rows
    ]
    print(_table(body, ["job", "when", "platform", "account", "state", "link", "title"]))
    for r in rows:
        if r["state"] == "needs confirmation":
            print(f"\n{r['error']}")
    return 0


def _login(args: argparse.Namespace) -> Any:
    from ..errors import InvalidRequestError

    if args.platform == "youtube":
        if not args.client_secrets:
            raise InvalidRequestError(
                "YouTube login needs --client-secrets FILE "
                "(an OAuth 'Desktop app' client JSON from Google Cloud)."
            )
        from arthur_gen_youtube import login

        return login(args.client_secrets, name=args.name)
    if args.platform == "linkedin":
        from arthur_gen_linkedin import login as linkedin_login

        return linkedin_login(
            name=args.name, client_id=args.client_id, client_secret_env=args.client_secret_env
        )
    raise InvalidRequestError(f"No login for {args.platform!r}: use youtube or linkedin.")


def _cmd_accounts(args: argparse.Namespace) -> int:
    from ..errors import InvalidRequestError
    from ..publish._accounts import list_accounts, remove_account

    if args.action == "list":
        accounts = list_accounts()
        if args.json:
            _print_json([{"platform": a.platform, "name": a.name, **a.public()} for a in accounts])
        elif not accounts:
            print("No accounts. Add one with `arthur-gen accounts login youtube|linkedin`.")
        for a in accounts:
            if not args.json:
                expires = a.get("expires_at")
                note = (
                    f", token expires {time.strftime('%Y-%m-%d', time.localtime(expires))}" if expires else ""
                )
                print(f"{a.platform}/{a.name}{note}")
        return 0
    if not args.platform:
        raise InvalidRequestError(f"`accounts {args.action}` needs the platform: youtube or linkedin.")
    if args.action == "remove":
        if not remove_account(args.platform, args.name):
            raise InvalidRequestError(f"No {args.platform} account named {args.name!r}.")
        print(f"Removed {args.platform}/{args.name} (revoke the app's access on the platform too).")
        return 0
    if args.action == "login":
        account = _login(args)
    elif args.platform == "youtube":
        if not args.credentials:
            raise InvalidRequestError(
                "`accounts add youtube` needs --credentials FILE (an authorized-user JSON)."
            )
        from arthur_gen_youtube import add_credentials

        account = add_credentials(args.credentials, name=args.name)
    elif args.platform == "linkedin":
        if not args.token_env:
            raise InvalidRequestError(
                "`accounts add linkedin` needs --token-env VAR (a variable holding the token)."
            )
        token = os.environ.get(args.token_env)
        if not token:
            raise InvalidRequestError(
                f"${args.token_env} is empty or unset; export the access token into it first."
            )
        from arthur_gen_linkedin import add_token

        account = add_token(token, name=args.name, author=args.author)
    else:
        raise InvalidRequestError(f"Unknown platform {args.platform!r}: use youtube or linkedin.")
    print(f"Saved {account.platform}/{account.name} (file mode 0600).")
    if account.platform == "linkedin" and not account.get("refresh_token"):
        print(
            "  LinkedIn gave no refresh token (most apps get none): log in again when it expires (60 days)."
        )
    if account.platform == "youtube":
        print("  If the Google app is in 'Testing', its refresh token stops working after 7 days.")
    return 0


def add_commands(sub: Any) -> None:
    """Add ``publish``, ``publications`` and ``accounts``; nothing heavy is imported here."""
    p = sub.add_parser(
        "publish",
        help="upload a video to YouTube or LinkedIn (resumable; never posts twice)",
        description="Checks the video against the platform's limits, then uploads it as a durable job: "
        "after a crash or Ctrl-C the same command resumes from the server's offset.",
    )
    p.add_argument("video", help="the video file")
    p.add_argument("--to", required=True, choices=("youtube", "linkedin"), help="the platform")
    p.add_argument("--account", default="default", help="account name (see `arthur-gen accounts list`)")
    p.add_argument("--title", help="video title (YouTube: required, at most 100 characters)")
    p.add_argument("--description", help="video description")
    p.add_argument("--tags", help="comma-separated tags")
    p.add_argument("--category", help="YouTube category id (default 22, People & Blogs)")
    p.add_argument(
        "--privacy",
        default="private",
        choices=("private", "unlisted", "public"),
        help="YouTube privacy (default private: uploads from unverified API projects are forced private)",
    )
    p.add_argument("--publish-at", help="schedule: an ISO time with zone (needs --privacy private)")
    p.add_argument("--thumbnail", help="a PNG/JPEG thumbnail (YouTube)")
    p.add_argument("--text", help="the post's text (LinkedIn)")
    p.add_argument("--visibility", choices=("PUBLIC", "CONNECTIONS", "LOGGED_IN"), help="LinkedIn visibility")
    p.add_argument(
        "--preset", help="edit the video to this preset first (`arthur-gen presets`), then publish"
    )
    p.add_argument("--not-synthetic", action="store_true", help="do not declare AI-generated content")
    p.add_argument("--force", action="store_true", help="upload even if this file is already published there")
    p.add_argument("--dry-run", action="store_true", help="check everything, upload nothing")
    p.add_argument(
        "--json", action="store_true", help="print job_id, platform, remote_id, url, state as JSON"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=_cmd_publish)

    p = sub.add_parser(
        "publications", help="published videos and posts: links and states; settle uncertain posts"
    )
    p.add_argument("action", nargs="?", choices=("list", "confirm"), default="list")
    p.add_argument("job", nargs="?", help="the job to confirm")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--posted", metavar="URN", help="it is online under this id/URN")
    how.add_argument("--not-posted", action="store_true", help="it is not online")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_publications)

    p = sub.add_parser("accounts", help="YouTube and LinkedIn accounts: login, add, list, remove")
    p.add_argument("action", choices=("login", "add", "list", "remove"))
    p.add_argument("platform", nargs="?", choices=("youtube", "linkedin"))
    p.add_argument("--name", default="default", help="account name (default: default)")
    p.add_argument("--client-secrets", help="youtube login: the OAuth client JSON")
    p.add_argument("--credentials", help="youtube add: an authorized-user JSON")
    p.add_argument("--client-id", help="linkedin login: the app's client id")
    p.add_argument(
        "--client-secret-env",
        default="LINKEDIN_CLIENT_SECRET",
        help="linkedin login: variable holding the client secret",
    )
    p.add_argument("--token-env", help="linkedin add: variable holding an access token")
    p.add_argument(
        "--author", help="linkedin add: the author URN (urn:li:person:... or urn:li:organization:...)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_accounts)

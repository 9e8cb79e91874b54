"""LinkedIn: initializeUpload, part PUTs (ETags), finalizeUpload, status polling, then one post.

Every step is saved before the next one starts. The post create has no idempotency key: it is
marked as attempted before it is sent, so a crash (or a lost answer) between sending it and its
answer becomes ``needs confirmation`` with the exact command to settle it, never a second post.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arthur_gen.errors import (
    AuthenticationError,
    ConfigError,
    GenerationError,
    InvalidRequestError,
    SubmitUncertainError,
)
from arthur_gen.publish import (
    Account,
    Limits,
    Outcome,
    PublishContext,
    Publisher,
    PublishRequest,
    UploadInterruptedError,
    check_endpoint,
    receive_redirect,
    save_account,
)

__all__ = ["DEFAULT_VERSION", "LinkedInPublisher", "TokenRefusedError", "add_token", "login"]

API_ENV = "ARTHUR_GEN_LINKEDIN_API_URL"
VERSION_ENV = "ARTHUR_GEN_LINKEDIN_VERSION"
DEFAULT_API = "https://api.linkedin.com"
DEFAULT_AUTH = "https://www.linkedin.com"
DEFAULT_VERSION = "202511"
SCOPES = "openid profile w_member_social"
MAX_RETRIES = 5


def _api() -> str:
    return check_endpoint(API_ENV, DEFAULT_API)


def _auth_root() -> str:
    return _api() if os.environ.get(API_ENV) else DEFAULT_AUTH


class TokenRefusedError(AuthenticationError):
    """LinkedIn answered 401: the access token expired or was revoked."""


_SIGN_IN_AGAIN = (
    "LinkedIn refused the account's token (expired or revoked; most LinkedIn apps get no refresh "
    "token, tokens last 60 days). Sign in again with `arthur-gen accounts login linkedin`."
)
REFRESH_MARGIN_S = 300.0  # refresh a token this close to its expiry before using it


def _error(resp: Any) -> Exception:
    try:
        data = resp.json()
    except ValueError:
        data = {}
    message = str(data.get("message") or data.get("code") or resp.reason_phrase)
    if resp.status_code == 401:
        return TokenRefusedError(_SIGN_IN_AGAIN)
    if resp.status_code == 403:
        return AuthenticationError(
            f"LinkedIn refused the permission ({message}): the app needs the w_member_social scope "
            "(or w_organization_social for a page) and the account must be allowed to post as that author."
        )
    if resp.status_code == 426 or "VERSION" in message.upper():
        return ConfigError(
            f"LinkedIn does not accept the API version in use ({message}); set {VERSION_ENV} to an active "
            "version (YYYYMM, within the last year)."
        )
    return GenerationError(f"LinkedIn answered {resp.status_code}: {message}.")


class LinkedInPublisher(Publisher):
    """``linkedin``: one video post for the account's author (a person or an organisation)."""

    name = "linkedin"
    hashes_during_upload = True  # nothing is public before the finalize and the post
    limits = Limits(
        containers=("mp4",),
        max_bytes=5 * 1024**3,
        min_bytes=75 * 1024,
        min_duration_s=3,
        max_duration_s=30 * 60,
        min_aspect=1 / 2.4,
        max_aspect=2.4,
        max_fps=60,
    )

    def __init__(self, sleep: Callable[[float], None] = time.sleep, poll_s: float = 2.0) -> None:
        self._sleep = sleep
        self.poll_s = poll_s

    def target(self, request: PublishRequest, account: Account) -> str:
        return str(account.get("author") or account.name)

    def url_for(self, remote_id: str) -> str:
        return f"https://www.linkedin.com/feed/update/{remote_id}/"

    def _client(self, account: Account) -> Any:
        import httpx

        token = account.secret("token")
        if token is None:
            raise AuthenticationError(
                "The LinkedIn account has no token; run `arthur-gen accounts login linkedin`."
            )
        headers = {
            "Authorization": f"Bearer {token.reveal()}",
            "LinkedIn-Version": os.environ.get(VERSION_ENV) or str(account.get("version") or DEFAULT_VERSION),
            "X-Restli-Protocol-Version": "2.0.0",
        }
        return httpx.Client(base_url=_api(), headers=headers, timeout=httpx.Timeout(60.0, connect=10.0))

    def _call(self, client: Any, method: str, url: str, **kwargs: Any) -> Any:
        """One request with bounded retries on 429/5xx and transport errors (never for posts)."""
        import httpx

        for attempt in range(MAX_RETRIES + 1):
            try:
                resp = client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == MAX_RETRIES:
                    raise UploadInterruptedError(
                        f"LinkedIn could not be reached ({type(exc).__name__})."
                    ) from None
            else:
                if resp.status_code < 400:
                    return resp
                if resp.status_code not in (429, 500, 502, 503, 504) or attempt == MAX_RETRIES:
                    if resp.status_code in (429, 500, 502, 503, 504):
                        raise UploadInterruptedError(
                            f"LinkedIn kept answering {resp.status_code}; "
                            "run the same publish again to resume."
                        )
                    raise _error(resp)
                retry_after = resp.headers.get("Retry-After")
                if retry_after and retry_after.isdigit():
                    self._sleep(min(float(retry_after), 60.0))
                    continue
            self._sleep(min(30.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    def upload(self, ctx: PublishContext) -> Outcome:
        author = str(ctx.account.get("author") or "")
        if not author.startswith(("urn:li:person:", "urn:li:organization:")):
            raise ConfigError(
                "The LinkedIn account has no author URN; re-add it with --author urn:li:person:..."
            )
        if _expiring(ctx.account):
            ctx.account = _refreshed(ctx.account)
        try:
            return self._upload_with(ctx, author)
        except TokenRefusedError:
            if ctx.account.secret("refresh_token") is None:
                raise
            ctx.account = _refreshed(ctx.account)  # then on from the checkpoint, once
            return self._upload_with(ctx, author)

    def _upload_with(self, ctx: PublishContext, author: str) -> Outcome:
        with self._client(ctx.account) as client:
            cp = ctx.checkpoint
            if cp.get("post_urn"):
                return Outcome(remote_id=cp["post_urn"], url=self.url_for(cp["post_urn"]))
            if cp.get("post_attempted"):
                return self._found_or_uncertain(ctx, client, author)
            if not cp.get("available"):
                self._upload_video(ctx, client, author)
            ctx.before_publish()
            return self._post(ctx, client, author)

    def _confirm_text(self, ctx: PublishContext) -> str:
        return (
            f"The LinkedIn post of job {ctx.job_id} was sent but its answer never came, and LinkedIn has no "
            "idempotency key, so it is not sent again; the author's posts could not be read to find it "
            "(that needs r_member_social, or r_organization_social for a page). Look at the author's "
            f"recent activity, then run `arthur-gen publications confirm {ctx.job_id} --posted URN` (with "
            f"the post's urn:li:share:... or urn:li:ugcPost:...) or `arthur-gen publications confirm "
            f"{ctx.job_id} --not-posted`."
        )

    def find_published(self, ctx: PublishContext) -> Outcome | None:
        """The post of this job's video among the author's recent posts, when the app may read them."""
        author = str(ctx.account.get("author") or "")
        video = ctx.checkpoint.get("video_urn")
        if not video or not ctx.checkpoint.get("post_attempted"):
            return None
        with self._client(ctx.account) as client:
            urn = self._find_post(client, author, str(video))
        if urn is None:
            return None
        ctx.save(post_urn=urn)
        return Outcome(remote_id=urn, url=self.url_for(urn))

    def _find_post(self, client: Any, author: str, video: str) -> str | None:
        """Posts API finder by author (``q=author``); None when it cannot be read (most apps: 403)."""
        import httpx

        try:
            resp = client.get(
                "/rest/posts",
                params={"q": "author", "author": author, "count": 50, "sortBy": "LAST_MODIFIED"},
                headers={"X-RestLi-Method": "FINDER"},
            )
        except httpx.TransportError:
            return None
        if resp.status_code != 200:
            return None
        for post in resp.json().get("elements") or []:
            if ((post.get("content") or {}).get("media") or {}).get("id") == video and post.get("id"):
                return str(post["id"])
        return None

    def _found_or_uncertain(self, ctx: PublishContext, client: Any, author: str) -> Outcome:
        urn = self._find_post(client, author, str(ctx.checkpoint.get("video_urn") or ""))
        if urn is None:
            raise SubmitUncertainError(self._confirm_text(ctx))
        ctx.save(post_urn=urn)
        return Outcome(remote_id=urn, url=self.url_for(urn))

    def _upload_video(self, ctx: PublishContext, client: Any, author: str) -> None:
        path = ctx.request.video
        size = Path(path).stat().st_size
        for _attempt in range(3):
            cp = ctx.checkpoint
            if not cp.get("video_urn") or cp.get("expires_at", 0) / 1000 < time.time() + 60:
                resp = self._call(
                    client,
                    "POST",
                    "/rest/videos",
                    params={"action": "initializeUpload"},
                    json={
                        "initializeUploadRequest": {
                            "owner": author,
                            "fileSizeBytes": size,
                            "uploadCaptions": False,
                            "uploadThumbnail": False,
                        }
                    },
                )
                value = resp.json()["value"]
                parts = [
                    {"url": p["uploadUrl"], "first": int(p["firstByte"]), "last": int(p["lastByte"])}
                    for p in value["uploadInstructions"]
                ]
                ctx.save(
                    video_urn=value["video"],
                    upload_token=value.get("uploadToken", ""),
                    expires_at=int(value.get("uploadUrlsExpireAt", 0)),
                    parts=parts,
                    etags={},
                    finalized=False,
                )
            if self._send_parts(ctx, client, path, size):
                break
        else:
            raise GenerationError("LinkedIn's upload URLs kept expiring; try again later.")
        if not ctx.checkpoint.get("finalized"):
            ctx.before_publish()  # the finalized video can be posted: duplicates checked first
            cp = ctx.checkpoint
            self._call(
                client,
                "POST",
                "/rest/videos",
                params={"action": "finalizeUpload"},
                json={
                    "finalizeUploadRequest": {
                        "video": cp["video_urn"],
                        "uploadToken": cp.get("upload_token", ""),
                        "uploadedPartIds": [cp["etags"][str(i)] for i in range(len(cp["parts"]))],
                    }
                },
            )
            ctx.save(finalized=True)
        self._wait_available(ctx, client)

    def _send_parts(self, ctx: PublishContext, client: Any, path: str, size: int) -> bool:
        """Upload the parts not yet acknowledged; False when the URLs expired (start again)."""
        import httpx

        cp = ctx.checkpoint
        etags: dict[str, str] = dict(cp.get("etags") or {})
        sent = sum(p["last"] - p["first"] + 1 for i, p in enumerate(cp["parts"]) if str(i) in etags)
        with open(path, "rb") as fh:
            for i, part in enumerate(cp["parts"]):
                if str(i) in etags:
                    continue
                fh.seek(part["first"])
                data = fh.read(part["last"] - part["first"] + 1)
                for attempt in range(MAX_RETRIES + 1):
                    try:
                        resp = httpx.put(
                            part["url"],
                            content=data,
                            headers={"Content-Type": "application/octet-stream"},
                            timeout=120,
                        )
                    except httpx.TransportError:
                        resp = None
                    if resp is not None and resp.status_code < 300 and resp.headers.get("etag"):
                        break
                    if resp is not None and resp.status_code in (403, 404, 410):  # expired upload URL
                        ctx.save(video_urn=None, parts=[], etags={})
                        return False
                    if attempt == MAX_RETRIES:
                        raise UploadInterruptedError(
                            "A LinkedIn part upload kept failing; run the same publish again."
                        )
                    self._sleep(min(30.0, 0.5 * 2**attempt))
                assert resp is not None
                etags[str(i)] = resp.headers["etag"]
                ctx.save(etags=dict(etags))
                sent += len(data)
                ctx.progress(sent, size)
        return True

    def _wait_available(self, ctx: PublishContext, client: Any, timeout_s: float = 1800.0) -> None:
        urn = urllib.parse.quote(str(ctx.checkpoint["video_urn"]), safe="")
        deadline = time.monotonic() + timeout_s
        while True:
            status = self._call(client, "GET", f"/rest/videos/{urn}").json().get("status")
            if status == "AVAILABLE":
                ctx.save(available=True)
                return
            if status == "PROCESSING_FAILED":
                ctx.save(video_urn=None, parts=[], etags={}, finalized=False)
                raise GenerationError(
                    "LinkedIn could not process the video (PROCESSING_FAILED): check it plays, is H.264/AAC "
                    "MP4 and within the limits, or re-encode it with --preset linkedin."
                )
            if time.monotonic() > deadline:
                raise UploadInterruptedError(
                    "LinkedIn is still processing the video; run the same publish later."
                )
            self._sleep(self.poll_s)

    def _post(self, ctx: PublishContext, client: Any, author: str) -> Outcome:
        import httpx

        r = ctx.request
        body = {
            "author": author,
            "commentary": r.text or r.description or r.title,
            "visibility": r.visibility,
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "content": {"media": {"title": r.title or Path(r.video).stem, "id": ctx.checkpoint["video_urn"]}},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        ctx.save(post_attempted=True)  # durable before the request leaves
        try:
            resp = client.post("/rest/posts", json=body)
        except httpx.TransportError:
            return self._found_or_uncertain(ctx, client, author)
        if resp.status_code >= 400:
            if resp.status_code >= 500:
                return self._found_or_uncertain(ctx, client, author)
            ctx.save(post_attempted=False)  # refused: nothing was posted
            raise _error(resp)
        urn = resp.headers.get("x-restli-id") or resp.headers.get("x-linkedin-id")
        if not urn:
            return self._found_or_uncertain(ctx, client, author)
        ctx.save(post_urn=urn)
        return Outcome(remote_id=urn, url=self.url_for(urn))


def _expiring(account: Account) -> bool:
    """A refreshable token that has expired or is about to."""
    expires_at = account.get("expires_at")
    if account.secret("refresh_token") is None or not isinstance(expires_at, (int, float)):
        return False
    return float(expires_at) < time.time() + REFRESH_MARGIN_S


def _refreshed(account: Account) -> Account:
    """A new access token from the account's refresh token (LinkedIn's programmatic refresh), saved."""
    import httpx

    refresh, secret = account.secret("refresh_token"), account.secret("client_secret")
    client_id = account.get("client_id")
    if refresh is None or secret is None or not client_id:
        raise AuthenticationError(_SIGN_IN_AGAIN)
    try:
        resp = httpx.post(
            f"{_auth_root()}/oauth/v2/accessToken",
            data={
                "grant_type": "refresh_token",
                "refresh_token": refresh.reveal(),
                "client_id": client_id,
                "client_secret": secret.reveal(),
            },
            timeout=30,
        )
    except httpx.TransportError as exc:
        raise UploadInterruptedError(f"LinkedIn could not be reached ({type(exc).__name__}).") from None
    if resp.status_code >= 400:
        raise AuthenticationError(
            f"LinkedIn refused to refresh the account's token ({resp.status_code}; refresh tokens last a "
            "year). Sign in again with `arthur-gen accounts login linkedin`."
        )
    data = resp.json()
    changes: dict[str, Any] = {
        "token": data["access_token"],
        "expires_at": time.time() + float(data.get("expires_in", 0)),
    }
    if data.get("refresh_token"):
        changes["refresh_token"] = data["refresh_token"]
    updated = account.updated(**changes)
    save_account(updated)
    return updated


def add_token(
    token: str, name: str = "default", author: str | None = None, version: str | None = None
) -> Account:
    """Store an access token (for scripts and CI); the author URN comes from ``/v2/userinfo`` if not given."""
    if not author:
        author = _whoami(token)
    if not author.startswith(("urn:li:person:", "urn:li:organization:")):
        raise InvalidRequestError(
            f"--author {author!r} is not a urn:li:person:... or urn:li:organization:... URN."
        )
    data: dict[str, Any] = {"token": token, "author": author}
    if version:
        data["version"] = version
    account = Account("linkedin", name, data)
    save_account(account)
    return account


def _whoami(token: str) -> str:
    import httpx

    try:
        resp = httpx.get(f"{_api()}/v2/userinfo", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except httpx.TransportError as exc:
        raise GenerationError(f"LinkedIn could not be reached ({type(exc).__name__}).") from None
    if resp.status_code >= 400:
        raise _error(resp)
    return f"urn:li:person:{resp.json()['sub']}"


def login(
    name: str = "default",
    client_id: str | None = None,
    client_secret_env: str = "LINKEDIN_CLIENT_SECRET",
    open_url: Callable[[str], Any] | None = None,
) -> Account:
    """3-legged OAuth, loopback redirect, ``state`` checked (LinkedIn offers no PKCE to web apps)."""
    import httpx

    from arthur_gen import Secret

    if not client_id:
        raise InvalidRequestError(
            "LinkedIn login needs --client-id (your app's, from the LinkedIn developer portal)."
        )
    secret = Secret(os.environ.get(client_secret_env, ""))
    if not secret.reveal():
        raise InvalidRequestError(f"Put the app's client secret in ${client_secret_env} first.")
    root = _auth_root()

    def build(redirect_uri: str, state: str) -> str:
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": SCOPES,
        }
        return f"{root}/oauth/v2/authorization?{urllib.parse.urlencode(query)}"

    answer = receive_redirect(build, open_url)
    resp = httpx.post(
        f"{root}/oauth/v2/accessToken",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": answer["redirect_uri"],
            "client_id": client_id,
            "client_secret": secret.reveal(),
        },
        timeout=30,
    )
    if resp.status_code >= 400:
        raise AuthenticationError(f"LinkedIn refused the sign-in code ({resp.status_code}).")
    data = resp.json()
    fields: dict[str, Any] = {
        "token": data["access_token"],
        "expires_at": time.time() + float(data.get("expires_in", 0)),
    }
    if data.get("refresh_token"):  # only apps LinkedIn approved for programmatic refresh get one
        fields.update(refresh_token=data["refresh_token"], client_id=client_id, client_secret=secret.reveal())
    fields["author"] = _whoami(data["access_token"])
    account = Account("linkedin", name, fields)
    save_account(account)
    return account

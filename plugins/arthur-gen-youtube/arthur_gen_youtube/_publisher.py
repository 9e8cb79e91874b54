"""Uploads through googleapiclient's resumable upload, checkpointed in the job store.

Traps of the client library handled here: the session URI is only known inside the first
``next_chunk`` (so the session is opened here and persisted before any byte goes out);
``num_retries`` re-sends whole chunks blindly (so it is 0 and retries are ours, each one
asking the server for its offset first); a lost session after bytes were sent may already
have produced a video (so it is looked up by the job's marker tag before uploading again).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from arthur_gen.errors import AuthenticationError, ConfigError, GenerationError, InvalidRequestError
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

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["CHUNK_BYTES", "YouTubePublisher", "add_credentials", "login"]

log = logging.getLogger("arthur_gen.youtube")

ROOT_ENV = "ARTHUR_GEN_YOUTUBE_ROOT_URL"
DEFAULT_ROOT = "https://youtube.googleapis.com"
SCOPES = [
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
]
CHUNK_BYTES = 8 * 1024 * 1024  # a multiple of 256 KiB, as the API requires
MAX_RETRIES = 6
QUOTA_INSERT = 1600
QUOTA_THUMBNAIL = 50
QUOTA_LIST = 1


def _root() -> str:
    return check_endpoint(ROOT_ENV, DEFAULT_ROOT)


def _service(account: Account) -> tuple[Any, Any]:
    """The YouTube service built from the bundled discovery document, and its authorised http."""
    from google.oauth2.credentials import Credentials
    from google_auth_httplib2 import AuthorizedHttp
    from googleapiclient import discovery_cache
    from googleapiclient.discovery import build_from_document
    from googleapiclient.http import build_http

    root = _root() + "/"
    doc = json.loads(discovery_cache.get_static_doc("youtube", "v3") or "{}")
    doc["rootUrl"] = doc["mtlsRootUrl"] = root
    doc["baseUrl"] = root + doc.get("servicePath", "")
    token_uri = str(account.get("token_uri") or "https://oauth2.googleapis.com/token")
    parts_ok = token_uri.startswith("https://") or token_uri.startswith(
        ("http://127.0.0.1", "http://localhost")
    )
    if not parts_ok:
        raise ConfigError(f"The account's token_uri {token_uri!r} is not https; re-add the account.")
    access, refresh, secret = (account.secret(k) for k in ("token", "refresh_token", "client_secret"))
    creds = Credentials(  # type: ignore[no-untyped-call]
        token=access.reveal() if access else None,
        refresh_token=refresh.reveal() if refresh else None,
        token_uri=token_uri,
        client_id=account.get("client_id"),
        client_secret=secret.reveal() if secret else None,
        scopes=SCOPES,
    )
    http = AuthorizedHttp(creds, http=build_http())
    service = build_from_document(doc, http=http)
    return service, http


def _reason(exc: Any) -> str:
    try:
        data = json.loads(exc.content)
        return str(data["error"]["errors"][0]["reason"])
    except (ValueError, KeyError, IndexError, TypeError):
        return ""


def _final_http_error(exc: Any) -> Exception:
    status = int(exc.resp.status)
    reason = _reason(exc)
    if status == 401:
        return AuthenticationError(
            "YouTube refused the account's token and it could not be refreshed. Sign in again with "
            "`arthur-gen accounts login youtube --client-secrets FILE` (refresh tokens of Google apps "
            "in 'Testing' stop working after 7 days)."
        )
    if reason == "quotaExceeded":
        return GenerationError(
            "The YouTube API quota of this Google Cloud project is used up for today (an upload costs "
            f"{QUOTA_INSERT} units of the default 10,000); it resets at midnight Pacific time."
        )
    if reason == "uploadLimitExceeded":
        return GenerationError(
            "This channel has reached YouTube's upload limit for now; try again in 24 hours."
        )
    return GenerationError(f"YouTube answered {status} {reason or ''}".strip() + ".")


def _transient(status: int) -> bool:
    return status in (408, 429) or status >= 500


class YouTubePublisher(Publisher):
    """``youtube``: videos.insert through a resumable session, then an optional thumbnail."""

    name = "youtube"
    hashes_during_upload = True  # the video exists only once its last chunk is in
    limits = Limits(
        containers=("mp4", "mov", "webm", "mkv", "avi", "mpeg", "mpg", "flv", "3gp", "wmv"),
        max_bytes=256 * 1024**3,
        max_duration_s=12 * 3600,
        max_fps=60,
    )

    def __init__(self, chunk_bytes: int | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if chunk_bytes is None:
            import os

            chunk_bytes = int(os.environ.get("ARTHUR_GEN_YOUTUBE_CHUNK_BYTES") or CHUNK_BYTES)
        if chunk_bytes <= 0 or chunk_bytes % (256 * 1024):
            raise InvalidRequestError("The YouTube chunk size must be a multiple of 256 KiB.")
        self.chunk_bytes = chunk_bytes
        self._sleep = sleep

    def validate(self, request: PublishRequest) -> None:
        if not request.title:
            raise InvalidRequestError("YouTube needs a title: pass --title.")

    def target(self, request: PublishRequest, account: Account) -> str:
        return str(account.get("channel") or account.name)

    def url_for(self, remote_id: str) -> str:
        return f"https://youtu.be/{remote_id}"

    def _body(self, ctx: PublishContext) -> dict[str, Any]:
        r = ctx.request
        status: dict[str, Any] = {
            "privacyStatus": r.privacy,
            "selfDeclaredMadeForKids": False,
            "containsSyntheticMedia": r.synthetic,
        }
        if r.publish_at:
            status["publishAt"] = r.publish_at
        return {
            "snippet": {
                "title": r.title,
                "description": r.description,
                "tags": [*r.tags, ctx.marker],
                "categoryId": r.category,
            },
            "status": status,
        }

    def upload(self, ctx: PublishContext) -> Outcome:
        from googleapiclient.errors import HttpError

        cp = ctx.checkpoint
        quota = int(cp.get("quota_units", 0))
        service, http = _service(ctx.account)
        if not cp.get("video_id"):
            video_id = self._upload_media(ctx, service, http)
            quota += QUOTA_INSERT
            ctx.save(video_id=video_id, quota_units=quota)
        video_id = str(ctx.checkpoint["video_id"])
        if ctx.request.thumbnail and not ctx.checkpoint.get("thumbnail_set"):
            from googleapiclient.http import MediaFileUpload

            thumb = ctx.request.thumbnail
            mime = mimetypes.guess_type(thumb)[0] or "image/png"
            try:
                service.thumbnails().set(
                    videoId=video_id, media_body=MediaFileUpload(thumb, mimetype=mime)
                ).execute(num_retries=3)
            except HttpError as exc:
                raise _final_http_error(exc) from None
            quota += QUOTA_THUMBNAIL
            ctx.save(thumbnail_set=True, quota_units=quota)
        self._persist_refreshed(ctx, http)
        return Outcome(remote_id=video_id, url=self.url_for(video_id), quota_units=quota)

    def _persist_refreshed(self, ctx: PublishContext, http: Any) -> None:
        token = getattr(http.credentials, "token", None)
        old = ctx.account.secret("token")
        if token and (old is None or old.reveal() != token):
            save_account(ctx.account.updated(token=token))

    def _find_by_marker(self, ctx: PublishContext, service: Any) -> str | None:
        """The video this job already made, found in the channel's uploads by its marker tag."""
        channels = service.channels().list(part="contentDetails", mine=True).execute(num_retries=3)
        items = channels.get("items") or []
        if not items:
            return None
        playlist = items[0]["contentDetails"]["relatedPlaylists"]["uploads"]
        listed = (
            service.playlistItems()
            .list(part="snippet", playlistId=playlist, maxResults=50)
            .execute(num_retries=3)
        )
        ids = [i["snippet"]["resourceId"]["videoId"] for i in listed.get("items", [])]
        if not ids:
            return None
        videos = service.videos().list(part="snippet", id=",".join(ids)).execute(num_retries=3)
        for video in videos.get("items", []):
            if ctx.marker in (video.get("snippet", {}).get("tags") or []):
                return str(video["id"])
        return None

    def _open_session(self, request: Any, http: Any) -> str:
        """Start the resumable session ourselves, so its URI is saved before the first chunk."""
        from googleapiclient.errors import HttpError

        headers = dict(request.headers)
        headers["X-Upload-Content-Type"] = request.resumable.mimetype()
        headers["X-Upload-Content-Length"] = str(request.resumable.size())
        headers["content-length"] = str(request.body_size)
        for attempt in range(MAX_RETRIES + 1):
            try:
                resp, content = http.request(
                    request.uri, method=request.method, body=request.body, headers=headers
                )
            except OSError as exc:
                if attempt == MAX_RETRIES:
                    raise UploadInterruptedError(f"Could not reach YouTube ({type(exc).__name__}).") from None
                self._backoff(attempt)
                continue
            if resp.status == 200 and "location" in resp:
                return str(resp["location"])
            error = HttpError(resp, content, uri=request.uri)
            if _transient(resp.status) and attempt < MAX_RETRIES:
                self._backoff(attempt)
                continue
            raise _final_http_error(error)
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> None:
        self._sleep(min(30.0, (2**attempt) * 0.25 * (1 + random.random())))

    def _upload_media(self, ctx: PublishContext, service: Any, http: Any) -> str:
        from googleapiclient.errors import HttpError
        from googleapiclient.http import MediaFileUpload

        class WholeChunks(MediaFileUpload):  # type: ignore[misc]
            """Each chunk goes out as one buffer: given the file as a stream, http.client would
            write it 8 KiB per call (half the throughput); a chunk in memory is ``chunk_bytes``."""

            def has_stream(self) -> bool:
                return False

        path = ctx.request.video
        size = Path(path).stat().st_size
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        for _session in range(3):
            media = WholeChunks(path, mimetype=mime, chunksize=self.chunk_bytes, resumable=True)
            request = service.videos().insert(
                part="snippet,status", body=self._body(ctx), media_body=media, notifySubscribers=False
            )
            uri = ctx.checkpoint.get("session_uri")
            if uri:
                request.resumable_uri = uri
                request._in_error_state = True  # ask the server for its offset before sending
            else:
                uri = self._open_session(request, http)
                ctx.save(session_uri=uri, sent=0, sessions=int(ctx.checkpoint.get("sessions", 0)) + 1)
                request.resumable_uri = uri
            failures = 0
            while True:
                if request._in_error_state or request.resumable_progress + self.chunk_bytes >= size:
                    ctx.before_publish()  # this call may send the last chunk: duplicates checked first
                try:
                    status, response = request.next_chunk(num_retries=0)
                except HttpError as exc:
                    code = int(exc.resp.status)
                    if code in (404, 410):  # the session is gone
                        if int(ctx.checkpoint.get("sent", 0)) > 0:
                            found = self._find_by_marker(ctx, service)
                            if found:
                                return found
                        ctx.save(session_uri=None, sent=0)
                        break
                    if _transient(code) and failures < MAX_RETRIES:
                        self._backoff(failures)
                        failures += 1
                        request._in_error_state = True
                        continue
                    if _transient(code):
                        raise UploadInterruptedError(
                            f"YouTube kept failing ({code}); run the same publish again to resume "
                            "from its offset."
                        ) from None
                    raise _final_http_error(exc) from None
                except OSError as exc:
                    if failures >= MAX_RETRIES:
                        raise UploadInterruptedError(
                            f"The connection to YouTube kept failing ({type(exc).__name__}); run the same "
                            "publish again to resume from its offset."
                        ) from None
                    self._backoff(failures)
                    failures += 1
                    request._in_error_state = True
                    continue
                if response is not None:
                    video_id = str(response["id"])
                    ctx.save(video_id=video_id, sent=size)  # the first 200/201: recorded at once
                    ctx.progress(size, size)
                    return video_id
                failures = 0
                sent = status.resumable_progress if status is not None else request.resumable_progress
                ctx.save(sent=sent, durable=False)  # advisory: the server's offset is the truth
                ctx.progress(sent, size)
        raise GenerationError("YouTube dropped three upload sessions in a row; try again later.")


def add_credentials(path: str | Path, name: str = "default") -> Account:
    """Store an authorized-user JSON (as google-auth writes it) as account ``name``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(f"Cannot read credentials from {path} ({type(exc).__name__}).") from None
    missing = [k for k in ("client_id", "client_secret", "refresh_token") if not data.get(k)]
    if missing:
        raise InvalidRequestError(
            f"{path} is not an authorized-user JSON (missing {', '.join(missing)}); "
            "create one with `arthur-gen accounts login youtube --client-secrets FILE`."
        )
    fields = {k: data[k] for k in ("client_id", "client_secret", "refresh_token", "token") if data.get(k)}
    fields["token_uri"] = data.get("token_uri") or "https://oauth2.googleapis.com/token"
    account = Account("youtube", name, fields)
    save_account(account)
    return account


def login(
    client_secrets: str | Path, name: str = "default", open_url: Callable[[str], Any] | None = None
) -> Account:
    """Google's installed-app flow: loopback redirect, ``state`` checked, PKCE, one answer."""
    from google_auth_oauthlib.flow import Flow

    try:
        config = json.loads(Path(client_secrets).read_text())
    except (OSError, ValueError) as exc:
        raise InvalidRequestError(
            f"Cannot read the client secrets {client_secrets} ({type(exc).__name__})."
        ) from None
    if "installed" not in config:
        raise InvalidRequestError(
            f"{client_secrets} is not a 'Desktop app' OAuth client JSON (no 'installed' key)."
        )
    import os
    from urllib.parse import urlsplit

    from arthur_gen.publish import is_loopback_host

    endpoints = [config["installed"].get(k, "") for k in ("auth_uri", "token_uri")]
    for url in endpoints:
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(parts.hostname)):
            raise InvalidRequestError(f"{client_secrets}: the OAuth endpoint {url!r} is not https.")
    if any(u.startswith("http://") for u in endpoints):
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"  # an emulator on a loopback address only
    flow = Flow.from_client_config(config, scopes=SCOPES, autogenerate_code_verifier=True)

    def build(redirect_uri: str, state: str) -> str:
        flow.redirect_uri = redirect_uri
        url, _ = flow.authorization_url(access_type="offline", prompt="consent", state=state)
        return str(url)

    answer = receive_redirect(build, open_url)
    try:
        flow.fetch_token(code=answer["code"])
    except Exception as exc:
        raise AuthenticationError(f"Google refused the sign-in code ({type(exc).__name__}).") from None
    creds = flow.credentials
    if not creds.refresh_token:
        raise AuthenticationError(
            "Google gave no refresh token; remove the app's access in your Google account and retry."
        )
    account = Account(
        "youtube",
        name,
        {
            "client_id": creds.client_id,
            "client_secret": creds.client_secret,
            "refresh_token": creds.refresh_token,
            "token": creds.token,
            "token_uri": creds.token_uri,
        },
    )
    save_account(account)
    return account

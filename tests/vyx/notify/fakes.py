"""Local fakes of the services alerts go to, as ASGI apps served on 127.0.0.1 (port 0).

- :class:`FakeTelegram` — the Bot API: ``POST /bot<token>/sendMessage`` and
  ``/editMessageText``; answers ``{"ok": true, "result": Message}`` or ``{"ok": false,
  "error_code", "description", "parameters": {"retry_after"}}``; checks the token, the chat,
  ``parse_mode=HTML`` (only Telegram's tags, balanced: "can't parse entities" otherwise), the
  4096-character limit after entity parsing, ``reply_parameters``; enforces 1 message/s and
  20/min per chat and 30/s per bot with real 429s.
- :class:`FakeDiscord` — webhooks: ``POST /api/webhooks/<id>/<token>[?wait=true]`` (200 with a
  message object, or 204) and ``PATCH …/messages/<message_id>``; 2000-character ``content``;
  ``X-RateLimit-*`` headers on every answer, 5 per 2 s per webhook and 30/min enforced with
  429 ``{"message", "retry_after", "global"}`` plus ``Retry-After``.
- :class:`FakeReceiver` — a JSON webhook receiver (apprise's ``json://`` payload, any path);
  also accepts apprise's ``form://`` posts (form-encoded) for the apprise path.

Each has a :attr:`~FakeService.script` of behaviours for the next requests: ``ok``, ``429``
(with ``retry_after`` seconds), ``500``, ``502`` (an HTML proxy page), ``hang`` (no answer for
:attr:`~FakeService.hang_s`), ``accept_hang`` (the message is taken, then no answer: the lost
acknowledgement), ``malformed`` (200 with a body that is not JSON). Time is Trio's clock, so
rate windows and hangs run under ``autojump_clock``.
"""

from __future__ import annotations

import collections
import html
import html.parser
import itertools
import json
import re
import urllib.parse
from typing import Any

import trio

from tests.vyx.store.supabase.fake_postgrest import Receive, Scope, Send, read_body, serve_lifespan

Headers = list[tuple[bytes, bytes]]

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)


class FakeService:
    """Scripted behaviours, a request log and the ASGI plumbing shared by the fakes."""

    def __init__(self) -> None:
        self.script: collections.deque[str] = collections.deque()
        self.retry_after = 3.0
        self.hang_s = 120.0
        #: Every request: (behaviour, method, path).
        self.log: list[tuple[str, str, str]] = []
        #: Requests refused by the fake's own rate limits (a sender that respects the limits
        #: never sees one).
        self.limit_violations = 0
        #: An outage: every request answers 502 (a proxy's HTML page) while set.
        self.down = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await serve_lifespan(receive, send)
            return
        body = await read_body(receive)
        if self.down:
            behaviour = "502"
        else:
            behaviour = self.script.popleft() if self.script else "ok"
        self.log.append((behaviour, scope["method"], scope["path"]))
        if behaviour == "hang":
            await trio.sleep(self.hang_s)
            return
        if behaviour in ("500", "502", "malformed"):
            status = 200 if behaviour == "malformed" else int(behaviour)
            page = b"<html><body>502 Bad Gateway</body></html>"
            await respond(send, status, page if behaviour == "502" else b"{not json", [])
            return
        status, answer, headers = self.handle(scope, body, behaviour)
        if behaviour == "accept_hang":
            await trio.sleep(self.hang_s)
            return
        await respond(
            send, status, json.dumps(answer).encode() if answer is not None else b"", headers
        )

    def handle(self, scope: Scope, body: bytes, behaviour: str) -> tuple[int, Any, Headers]:
        raise NotImplementedError


async def respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    """Send one whole ASGI response."""
    all_headers = [(b"content-type", b"application/json"), *headers]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body})


class Windows:
    """Sliding windows on Trio's clock: ``allow(key)`` takes a slot or says how long to wait."""

    def __init__(self, *limits: tuple[int, float]) -> None:
        self.limits = limits
        self.starts: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    def wait(self, key: str) -> float:
        now = trio.current_time()
        starts = self.starts[key]
        wait = 0.0
        for limit, period in self.limits:
            recent = [t for t in starts if t > now - period]
            if len(recent) >= limit:
                wait = max(wait, recent[-limit] + period - now)
        return wait

    def take(self, key: str) -> None:
        starts = self.starts[key]
        starts.append(trio.current_time())
        while len(starts) > 100:
            starts.popleft()


class _TelegramHTML(html.parser.HTMLParser):
    """Telegram's HTML subset: these tags only, properly nested."""

    ALLOWED = frozenset(
        {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
        | {"tg-spoiler", "blockquote", "span"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.ALLOWED:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = self.error or f'unexpected end tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def telegram_entities(text: str) -> tuple[str, str | None]:
    """The visible text of an HTML message, and the parse error if any."""
    if re.search(r"&(?!(lt|gt|amp|quot|#\d+);)", text):
        return text, "unsupported HTML entity"
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.stack and parser.error is None:
        parser.error = f'can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
    return "".join(parser.text), parser.error


class FakeTelegram(FakeService):
    """See the module docstring. :attr:`chats` are the chats the bot may write to."""

    def __init__(
        self,
        token: str = "123456789:AAFakeTokenForTests_xyz",
        chats: tuple[str, ...] = ("42", "-1001234567890"),
    ) -> None:
        super().__init__()
        self.token = token
        self.chats = set(chats)
        #: Messages by chat, in order: {"message_id", "text", "reply_to", "silent", "edits"}.
        self.messages: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self.ids = itertools.count(100)
        self.per_chat = Windows((1, 1.0), (20, 60.0))
        self.per_bot = Windows((30, 1.0))

    def _error(
        self, code: int, description: str, parameters: dict[str, Any] | None = None
    ) -> tuple[int, Any, Headers]:
        answer: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            answer["parameters"] = parameters
        return code, answer, []

    def handle(self, scope: Scope, body: bytes, behaviour: str) -> tuple[int, Any, Headers]:
        match = re.fullmatch(r"/bot([^/]+)/(\w+)", scope["path"])
        if match is None:
            return self._error(404, "Not Found")
        if match.group(1) != self.token:
            return self._error(401, "Unauthorized")
        if behaviour == "429":
            retry = int(self.retry_after)
            return self._error(
                429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}
            )
        try:
            request = json.loads(body)
        except ValueError:
            return self._error(400, "Bad Request: invalid JSON")
        method = match.group(2)
        if method not in ("sendMessage", "editMessageText"):
            return self._error(404, "Not Found")
        chat = str(request.get("chat_id", ""))
        if chat not in self.chats:
            return self._error(400, "Bad Request: chat not found")
        text = request.get("text")
        if not isinstance(text, str) or not text.strip():
            return self._error(400, "Bad Request: message text is empty")
        if request.get("parse_mode") == "HTML":
            visible, error = telegram_entities(text)
            if error:
                return self._error(400, f"Bad Request: can't parse entities: {error}")
        else:
            visible = text
        if len(visible) > 4096:
            return self._error(400, "Bad Request: message is too long")
        if method == "editMessageText":
            return self._edit(chat, request, text, visible)
        wait = max(self.per_chat.wait(chat), self.per_bot.wait("bot"))
        if wait > 0:
            self.limit_violations += 1
            retry = max(1, round(wait))
            return self._error(
                429, f"Too Many Requests: retry after {retry}", {"retry_after": retry}
            )
        self.per_chat.take(chat)
        self.per_bot.take("bot")
        reply = request.get("reply_parameters") or {}
        reply_to = reply.get("message_id")
        known = {m["message_id"] for m in self.messages[chat]}
        if (
            reply_to is not None
            and reply_to not in known
            and not reply.get("allow_sending_without_reply")
        ):
            return self._error(400, "Bad Request: message to be replied not found")
        message = {
            "message_id": next(self.ids),
            "text": text,
            "visible": visible,
            "reply_to": reply_to,
            "silent": bool(request.get("disable_notification")),
            "edits": 0,
        }
        self.messages[chat].append(message)
        result = {
            "message_id": message["message_id"],
            "date": 1700000000,
            "chat": {"id": chat},
            "text": visible,
        }
        return 200, {"ok": True, "result": result}, []

    def _edit(
        self, chat: str, request: dict[str, Any], text: str, visible: str
    ) -> tuple[int, Any, Headers]:
        for message in self.messages[chat]:
            if message["message_id"] == request.get("message_id"):
                if message["text"] == text:
                    return self._error(
                        400,
                        NOT_MODIFIED,
                    )
                message["text"] = text
                message["visible"] = visible
                message["edits"] += 1
                return (
                    200,
                    {"ok": True, "result": {"message_id": message["message_id"], "text": text}},
                    [],
                )
        return self._error(400, "Bad Request: message to edit not found")

    def sent(self, chat: str | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent (to one chat, or all in chat order)."""
        if chat is not None:
            return list(self.messages[chat])
        return [m for msgs in self.messages.values() for m in msgs]


class FakeDiscord(FakeService):
    """See the module docstring. :attr:`hooks` maps webhook ids to their tokens."""

    def __init__(self, hooks: dict[str, str] | None = None) -> None:
        super().__init__()
        self.hooks = hooks or {"112233445566778899": "hook-token_ABCdef.123456"}
        self.messages: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self.ids = itertools.count(900_000_000_000_000_000)
        self.windows = Windows((5, 2.0), (30, 60.0))

    def _rate_headers(self, hook: str) -> Headers:
        starts = [t for t in self.windows.starts[hook] if t > trio.current_time() - 2.0]
        remaining = max(0, 5 - len(starts))
        reset_after = (starts[0] + 2.0 - trio.current_time()) if starts else 0.0
        return [
            (b"x-ratelimit-limit", b"5"),
            (b"x-ratelimit-remaining", str(remaining).encode()),
            (b"x-ratelimit-reset-after", f"{reset_after:.3f}".encode()),
            (b"x-ratelimit-bucket", b"fakebucket"),
        ]

    def _limited(self, retry_after: float) -> tuple[int, Any, Headers]:
        answer = {
            "message": "You are being rate limited.",
            "retry_after": round(retry_after, 3),
            "global": False,
        }
        headers = [
            (b"retry-after", str(max(1, int(retry_after + 0.999))).encode()),
            (b"x-ratelimit-scope", b"user"),
        ]
        return 429, answer, headers

    def handle(self, scope: Scope, body: bytes, behaviour: str) -> tuple[int, Any, Headers]:
        match = re.fullmatch(r"/api/webhooks/(\d+)/([^/]+)(?:/messages/(\d+))?", scope["path"])
        if match is None:
            return 404, {"message": "404: Not Found", "code": 0}, []
        hook, token, message_id = match.groups()
        if hook not in self.hooks:
            return 404, {"message": "Unknown Webhook", "code": 10015}, []
        if self.hooks[hook] != token:
            return 401, {"message": "Invalid Webhook Token", "code": 50027}, []
        if behaviour == "429":
            return self._limited(self.retry_after)
        try:
            request = json.loads(body)
        except ValueError:
            return 400, {"message": "The request body contains invalid JSON.", "code": 50109}, []
        content = request.get("content")
        if not isinstance(content, str) or not content or len(content) > 2000:
            errors = {
                "content": {
                    "_errors": [
                        {
                            "code": "BASE_TYPE_MAX_LENGTH",
                            "message": "Must be 2000 or fewer in length.",
                        }
                    ]
                }
            }
            return 400, {"message": "Invalid Form Body", "code": 50035, "errors": errors}, []
        wait = self.windows.wait(hook)
        if wait > 0:
            self.limit_violations += 1
            return self._limited(wait)
        self.windows.take(hook)
        query = dict(urllib.parse.parse_qsl(scope["query_string"].decode()))
        if message_id is not None:
            for message in self.messages[hook]:
                if message["id"] == message_id:
                    message["content"] = content
                    message["edits"] += 1
                    return (
                        200,
                        {"id": message_id, "content": content, "webhook_id": hook},
                        self._rate_headers(hook),
                    )
            return 404, {"message": "Unknown Message", "code": 10008}, []
        message = {
            "id": str(next(self.ids)),
            "content": content,
            "username": request.get("username"),
            "mentions": request.get("allowed_mentions"),
            "thread": query.get("thread_id"),
            "edits": 0,
        }
        self.messages[hook].append(message)
        if query.get("wait") != "true":
            return 204, None, self._rate_headers(hook)
        return (
            200,
            {
                "id": message["id"],
                "type": 0,
                "content": content,
                "webhook_id": hook,
                "channel_id": "1",
            },
            self._rate_headers(hook),
        )

    def sent(self) -> list[dict[str, Any]]:
        return [m for msgs in self.messages.values() for m in msgs]


class FakeReceiver(FakeService):
    """A JSON (and form) webhook receiver; :attr:`bodies` in arrival order."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    def handle(self, scope: Scope, body: bytes, behaviour: str) -> tuple[int, Any, Headers]:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if behaviour == "429":
            return (
                429,
                {"error": "slow down"},
                [(b"retry-after", str(int(self.retry_after)).encode())],
            )
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            parsed: Any = dict(urllib.parse.parse_qsl(body.decode()))
        else:
            try:
                parsed = json.loads(body)
            except ValueError:
                return 400, {"error": "not JSON"}, []
        self.bodies.append(parsed)
        self.headers.append(
            {**headers, "path": scope["path"], "query": scope["query_string"].decode()}
        )
        return 200, {"received": True}, []

    def unique(self) -> list[dict[str, Any]]:
        """Bodies without repeats of an ``Idempotency-Key`` (what a careful receiver keeps)."""
        seen: set[str] = set()
        kept = []
        for body, headers in zip(self.bodies, self.headers, strict=True):
            key = headers.get("idempotency-key", "")
            if key and key in seen:
                continue
            seen.add(key)
            kept.append(body)
        return kept


def visible_text(message_html: str) -> str:
    """The text a Telegram user sees of an HTML message."""
    return html.unescape(re.sub(r"<[^>]+>", "", message_html))

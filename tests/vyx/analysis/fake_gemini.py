"""An in-process fake of Gemini's ``generateContent``, answering with the recorded captures.

It is an httpx transport (``httpx.MockTransport`` with an async handler), so tests run under
Trio's autojump clock without real sockets. Each request takes the next behaviour of
:attr:`FakeGemini.script` (then :attr:`FakeGemini.default`); every answer is a recorded body of
``shared/data/gemini`` with, for successes, the candidate text replaced by a verdict and the
``usageMetadata`` recomputed from the request (prompt tokens by the analyzer's estimator, so the
numbers mean "what this prompt costs").

Behaviours: ``ok``, ``json_mode`` (constrained-decoding capture: no usageMetadata), ``thinking``
(a thought part before the answer), ``bad_json``, ``bad_schema``, ``safety``, ``blocked`` (only
promptFeedback), ``no_content`` (finishReason OTHER, no content), ``malformed``,
``unknown_finish``, ``400`` (invalid key; the API echoes the key), ``404`` (unknown model),
``429`` (quota capture plus a ``RetryInfo`` of :attr:`retry_delay`, as the live API sends),
``429_plain`` (the capture verbatim), ``503``, ``hang``, and ``text``: a success whose candidate
text is the next of :attr:`FakeGemini.texts` (any answer a test scripts: a trader draft, broken
JSON, ...).
"""

from __future__ import annotations

import collections
import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import trio

from vyx.analysis.prompt import estimate_tokens

ROUTE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")

GOOD_VERDICT: dict[str, Any] = {
    "decision": "enter_trade",
    "confidence": 72,
    "reasoning": "RSI recovered from oversold while price holds above ema50; volume confirms.",
    "trade_plan": {
        "setup": "Oversold bounce in an uptrend.",
        "execution": "Buy at the entry, stop below support.",
        "invalidation": "A close below the stop loss.",
        "riskReward": "1.5 to the first target",
    },
    "technical_context": "Uptrend (ema50 > ema200), momentum turning up, ATR normal.",
}


class FakeGemini:
    """See the module docstring."""

    def __init__(self, shared_data: Path, *, api_key: str = "test-key-123") -> None:
        self.dir = shared_data / "gemini" / "firebase_vertexai-sdk-test-data"
        self.api_key = api_key
        self.script: collections.deque[str] = collections.deque()
        self.default = "ok"
        self.latency_s = 0.0
        self.retry_delay = "20s"
        self.verdict: dict[str, Any] = dict(GOOD_VERDICT)
        #: Candidate texts of the ``text`` behaviour, in order.
        self.texts: collections.deque[str] = collections.deque()
        #: JSON bodies of every request, in arrival order.
        self.requests: list[dict[str, Any]] = []
        self.models: list[str] = []
        #: Trio time at which each request arrived.
        self.starts: list[float] = []
        self.behaviours: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def capture(self, name: str) -> dict[str, Any]:
        """A recorded body (``googleai/...`` or ``vertexai/...``), as a fresh copy."""
        data: dict[str, Any] = json.loads((self.dir / name).read_text(encoding="utf-8"))
        return data

    def client(self) -> httpx.AsyncClient:
        """An AsyncClient whose requests reach this fake."""
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        match = ROUTE.match(request.url.path)
        if request.method != "POST" or match is None:
            return httpx.Response(404, json={"error": {"code": 404, "status": "NOT_FOUND"}})
        body = json.loads(request.content)
        behaviour = self.script.popleft() if self.script else self.default
        self.requests.append(body)
        self.models.append(match["model"])
        self.behaviours.append(behaviour)
        self.starts.append(trio.current_time())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if behaviour == "hang":
                await trio.sleep_forever()
            if self.latency_s:
                await trio.sleep(self.latency_s)
            return self.respond(behaviour, body)
        finally:
            self.in_flight -= 1

    def respond(self, behaviour: str, body: dict[str, Any]) -> httpx.Response:
        """The response for ``behaviour`` to a request with JSON ``body``."""
        if behaviour in ("ok", "thinking", "bad_json", "bad_schema", "text"):
            text = self.texts.popleft() if behaviour == "text" else json.dumps(self.verdict)
            if behaviour == "bad_json":
                text = '{"decision": "enter_trade", "confidence": 7'
            if behaviour == "bad_schema":
                text = json.dumps({**self.verdict, "decision": "buy"})
            if behaviour == "thinking":
                data = self.capture("googleai/unary-success-thinking-reply-thought-summary.json")
                data["candidates"][0]["content"]["parts"][1]["text"] = text
            else:
                data = self.capture("googleai/unary-success-basic-reply-short.json")
                data["candidates"][0]["content"]["parts"][0]["text"] = text
            data["usageMetadata"] = self.usage(body, text, data["usageMetadata"])
            return httpx.Response(200, json=data)
        if behaviour == "json_mode":
            data = self.capture("vertexai/unary-success-constraint-decoding-json.json")
            data["candidates"][0]["content"]["parts"][0]["text"] = json.dumps(self.verdict)
            return httpx.Response(200, json=data)
        files = {
            "safety": "googleai/unary-failure-finish-reason-safety.json",
            "blocked": "googleai/unary-failure-only-prompt-feedback.json",
            "no_content": "googleai/unary-failure-with-message-no-content.json",
            "malformed": "vertexai/unary-failure-malformed-content.json",
            "unknown_finish": "vertexai/unary-failure-unknown-enum-finish-reason.json",
        }
        if behaviour in files:
            return httpx.Response(200, json=self.capture(files[behaviour]))
        if behaviour == "400":
            data = self.capture("googleai/unary-failure-api-key.json")
            data["error"]["details"][2]["detail"] = f"Invalid API key: {self.api_key}"
            return httpx.Response(400, json=data)
        if behaviour == "404":
            return httpx.Response(
                404, json=self.capture("googleai/unary-failure-unknown-model.json")
            )
        if behaviour in ("429", "429_plain"):
            data = self.capture("vertexai/unary-failure-quota-exceeded.json")
            if behaviour == "429":
                data["error"]["details"].append(
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": self.retry_delay,
                    }
                )
            return httpx.Response(429, json=data)
        if behaviour == "503":
            error = {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
            return httpx.Response(503, json={"error": error})
        raise AssertionError(f"unknown behaviour {behaviour!r}")

    @staticmethod
    def usage(body: dict[str, Any], text: str, recorded: dict[str, Any]) -> dict[str, Any]:
        """``usageMetadata`` of the recorded shape, counted for this request and answer."""
        system = "".join(
            p.get("text", "") for p in body.get("systemInstruction", {}).get("parts", [])
        )
        prompt = "".join(
            p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])
        )
        usage = copy.deepcopy(recorded)
        prompt_tokens = estimate_tokens(system + prompt)
        output_tokens = estimate_tokens(text)
        thoughts = int(usage.get("thoughtsTokenCount", 0))
        usage["promptTokenCount"] = prompt_tokens
        usage["candidatesTokenCount"] = output_tokens
        usage["totalTokenCount"] = prompt_tokens + output_tokens + thoughts
        for key, count in (
            ("promptTokensDetails", prompt_tokens),
            ("candidatesTokensDetails", output_tokens),
        ):
            if key in usage:
                usage[key] = [{"modality": "TEXT", "tokenCount": count}]
        return usage

    def prompt_text(self, i: int = -1) -> str:
        """The user turn of request ``i``."""
        return "".join(p["text"] for c in self.requests[i]["contents"] for p in c["parts"])

    def turns(self, i: int = -1) -> list[tuple[str, str]]:
        """``(role, text)`` of every turn of request ``i`` (a conversation's history)."""
        return [
            (c.get("role", "user"), "".join(p.get("text", "") for p in c["parts"]))
            for c in self.requests[i]["contents"]
        ]

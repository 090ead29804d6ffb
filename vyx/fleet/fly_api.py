"""A client of the Fly Machines API (``https://api.machines.dev/v1``, bearer token) on httpx.

Covers what Vyx needs of a user's machine: list, get, create, update (a new guest size: Fly
restarts the machine), start, stop, wait for a state, delete; and of its volume: list, create.
Request bodies follow the API's Swagger definitions (``CreateMachineRequest``,
``UpdateMachineRequest``, ``fly.MachineConfig``, ``StopRequest``, ``CreateVolumeRequest``);
responses are read into :class:`Machine` and :class:`~vyx.fleet.fly_volumes.Volume`.

Exceptions::

    FlyError                   any failure of a Machines API call
     ├── FlyUnavailable        network error, timeout, 5xx or 429 still failing after the retries
     ├── FlyRequestError       the API refused the request (4xx); .status, .method, .path
     │    ├── FlyAuthError     401/403: token missing, wrong, or without access to the app
     │    ├── FlyNotFound      404: no such app or machine
     │    └── FlyConflict      409/412: wrong state, version or lease for this operation
     └── FlyWaitTimeout        the machine did not reach the state before the deadline

Retries (:data:`FLY_RETRY`): 429 (honouring ``Retry-After``) for every call; 5xx, timeouts
and network errors for idempotent calls; for ``create`` only failures before the request was
sent (a connection error) — a created machine must never be duplicated (provisioning also
adopts a machine created by an attempt whose answer was lost).

The token is sent as a header and never appears in a repr, a log line or an exception message
(any echo of it in an error body is replaced by ``<hidden>``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import attrs
import httpx
import trio
from loguru import logger

from vyx.fleet.fly_volumes import Volume
from vyx.retry import Backoff, RetryPolicy, parse_retry_after
from vyx.settings import DEFAULT_FLY_API_URL, FlyConfig

#: States ``wait`` accepts.
WaitState = Literal["started", "stopped", "suspended", "destroyed"]
#: The Machines API answers a wait after at most this many seconds (then 408).
MAX_WAIT_CALL_S = 60


class FlyError(Exception):
    """A Machines API call failed."""


class FlyUnavailable(FlyError):
    """The API could not be reached or kept failing (5xx, 429, network) after the retries."""


class FlyRequestError(FlyError):
    """The API refused the request (a 4xx answer)."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        super().__init__(f"{method} {path}: HTTP {status}: {message}")


class FlyAuthError(FlyRequestError):
    """401/403: the token is missing, wrong, or has no access to this app."""


class FlyNotFound(FlyRequestError):
    """404: the app or the machine does not exist."""


class FlyConflict(FlyRequestError):
    """409/412: the machine's state, version or lease does not allow the operation."""


class FlyWaitTimeout(FlyError):
    """The machine did not reach the wanted state before the deadline."""


#: The Machines API's retries: exact (unjittered) doubling from 0.5 s up to 8 s, 4 attempts in
#: all; a ``Retry-After`` wins, capped to 60 s (and still retried).
FLY_RETRY = RetryPolicy(
    backoff=Backoff(initial=0.5, maximum=8.0, jitter=0.0), max_attempts=4, max_retry_after_s=60.0
)


@attrs.frozen
class Guest:
    """A machine's size (``fly.MachineGuest``)."""

    cpus: int = attrs.field(validator=[attrs.validators.ge(1), attrs.validators.le(16)])
    memory_mb: int = attrs.field(validator=attrs.validators.ge(256))
    cpu_kind: str = "shared"

    def to_api(self) -> dict[str, Any]:
        """The ``fly.MachineGuest`` object."""
        return {"cpu_kind": self.cpu_kind, "cpus": self.cpus, "memory_mb": self.memory_mb}

    @classmethod
    def from_api(cls, guest: Mapping[str, Any]) -> Guest:
        """Read a ``fly.MachineGuest``; a missing ``cpu_kind`` (older answers) means shared."""
        return cls(int(guest["cpus"]), int(guest["memory_mb"]), guest.get("cpu_kind") or "shared")


@attrs.frozen
class Machine:
    """A machine as the API describes it (the fields Vyx reads; ``config`` as sent)."""

    id: str
    state: str
    name: str = ""
    region: str | None = None
    #: Changes with every update (the machine's version).
    instance_id: str | None = None
    private_ip: str | None = None
    config: Mapping[str, Any] = attrs.field(factory=dict)
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def from_api(cls, body: Mapping[str, Any]) -> Machine:
        """Read a ``Machine`` answer; raises :class:`FlyError` when it has no id or state."""
        if not isinstance(body.get("id"), str) or not isinstance(body.get("state"), str):
            raise FlyError("the Machines API answered a machine without an id or a state")
        config = body.get("config")
        return cls(
            id=body["id"],
            state=body["state"],
            name=body.get("name") or "",
            region=body.get("region"),
            instance_id=body.get("instance_id"),
            private_ip=body.get("private_ip"),
            config=dict(config) if isinstance(config, Mapping) else {},
            created_at=body.get("created_at"),
            updated_at=body.get("updated_at"),
        )

    @property
    def guest(self) -> Guest | None:
        """The configured size, if the config has one."""
        guest = self.config.get("guest")
        return Guest.from_api(guest) if isinstance(guest, Mapping) and "cpus" in guest else None

    @property
    def metadata(self) -> Mapping[str, str]:
        """``config.metadata`` (Vyx keeps its own keys there, e.g. ``vyx_user_id``)."""
        meta = self.config.get("metadata")
        return meta if isinstance(meta, Mapping) else {}

    @property
    def image(self) -> str | None:
        """``config.image``."""
        image = self.config.get("image")
        return image if isinstance(image, str) else None


def authorization(token: str) -> str:
    """The ``Authorization`` value of a token: macaroon tokens (``FlyV1 fm2_...``, from
    ``fly tokens create``) go as they are, like flyctl sends them; others as ``Bearer``."""
    return token if token.startswith("FlyV1 ") else f"Bearer {token}"


def go_duration(seconds: float) -> str:
    """A Go duration string (``"30s"``, ``"1m30s"``) as the API takes for ``fly.Duration``."""
    whole = math.ceil(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class FlyMachines:
    """The Machines API of one Fly app. Use ``async with`` (or :meth:`aclose`).

    Args:
        token: a Fly API token (``fly tokens create deploy``); never logged.
        app: the Fly app whose machines this client manages.
        base_url: ``https://api.machines.dev/v1`` by default (``FLY_API_URL``).
        transport: an httpx transport (tests pass a fake Machines API).
        policy: retries of 429/5xx/network failures.
        timeout_s: per-request timeout (a wait call adds its own server-side timeout).
    """

    def __init__(
        self,
        token: str,
        app: str,
        *,
        base_url: str = DEFAULT_FLY_API_URL,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        if not token:
            raise FlyAuthError(401, "-", "-", "no Fly API token configured (FLY_API_TOKEN)")
        self.app = app
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._policy = policy or FLY_RETRY
        self._timeout_s = timeout_s
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=timeout_s,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )

    @classmethod
    def from_config(
        cls,
        fly: FlyConfig,
        *,
        app: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> FlyMachines:
        """A client from ``FLY_API_TOKEN``/``FLY_API_URL``/``FLY_APP_NAME`` (``app`` overrides).

        Raises :class:`FlyAuthError` without a token and ``ValueError`` without an app name."""
        name = app or fly.app_name
        if not name:
            raise ValueError("no Fly app name: set FLY_APP_NAME or pass --app")
        return cls(
            fly.api_token or "", name, base_url=fly.api_url, transport=transport, policy=policy
        )

    def __repr__(self) -> str:
        return f"FlyMachines(app={self.app!r}, base_url={self.base_url!r})"

    async def __aenter__(self) -> FlyMachines:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- calls ---------------------------------------------------------------------------------

    async def list(self, *, region: str | None = None) -> list[Machine]:
        """The app's machines (``GET /apps/{app}/machines``)."""
        params = {"region": region} if region else None
        body = await self._call("GET", self._path(), params=params)
        return [Machine.from_api(m) for m in body or []]

    async def get(self, machine_id: str) -> Machine:
        """One machine; :class:`FlyNotFound` if it does not exist (or was destroyed)."""
        return Machine.from_api(await self._call("GET", self._path(machine_id)))

    async def create(self, request: Mapping[str, Any]) -> Machine:
        """Create (and launch) a machine from a ``CreateMachineRequest`` body."""
        body = await self._call("POST", self._path(), json=dict(request), idempotent=False)
        return Machine.from_api(body)

    async def update(
        self,
        machine_id: str,
        config: Mapping[str, Any],
        *,
        current_version: str | None = None,
        skip_launch: bool = False,
    ) -> Machine:
        """Replace the machine's config (``UpdateMachineRequest``); Fly restarts it with the new
        config (a stopped machine is started) unless ``skip_launch``. ``current_version`` (an
        ``instance_id``) makes the update conditional: :class:`FlyConflict` if the machine
        changed meanwhile."""
        request: dict[str, Any] = {"config": dict(config)}
        if skip_launch:
            request["skip_launch"] = True
        if current_version:
            request["current_version"] = current_version
        # Same config twice gives the same machine: safe to retry.
        body = await self._call("POST", self._path(machine_id), json=request)
        return Machine.from_api(body)

    async def update_guest(self, machine_id: str, guest: Guest) -> Machine:
        """Change the machine's size, keeping the rest of its config (restarts it)."""
        machine = await self.get(machine_id)
        config = {**machine.config, "guest": guest.to_api()}
        return await self.update(machine_id, config, current_version=machine.instance_id)

    async def start(self, machine_id: str) -> None:
        """Start a stopped machine (returns once Fly accepted; :meth:`wait` for ``started``)."""
        await self._call("POST", self._path(machine_id, "start"))

    async def stop(
        self, machine_id: str, *, signal: str = "SIGTERM", timeout_s: float = 30
    ) -> None:
        """Ask the machine to stop: ``signal`` first, SIGKILL after ``timeout_s``."""
        request = {"signal": signal, "timeout": go_duration(timeout_s)}
        await self._call("POST", self._path(machine_id, "stop"), json=request)

    async def delete(self, machine_id: str, *, force: bool = False) -> None:
        """Destroy the machine (``force`` also destroys a running one)."""
        params = {"force": "true"} if force else None
        await self._call("DELETE", self._path(machine_id), params=params)

    async def wait(
        self,
        machine_id: str,
        state: WaitState,
        *,
        instance_id: str | None = None,
        timeout_s: float = 60.0,
    ) -> None:
        """Return once the machine is in ``state`` (``instance_id`` pins the version to wait
        for, needed to wait for ``stopped``); :class:`FlyWaitTimeout` after ``timeout_s``.
        Longer waits are several API calls (each at most :data:`MAX_WAIT_CALL_S`).
        Cancellation: cancels the pending call."""
        deadline = trio.current_time() + timeout_s
        while True:
            remaining = deadline - trio.current_time()
            if remaining <= 0:
                break
            params: dict[str, str] = {
                "state": state,
                "timeout": str(max(1, min(MAX_WAIT_CALL_S, math.ceil(remaining)))),
            }
            if instance_id:
                params["instance_id"] = instance_id
            called = trio.current_time()
            try:
                with trio.move_on_after(remaining + self._timeout_s):
                    await self._call(
                        "GET",
                        self._path(machine_id, "wait"),
                        params=params,
                        read_timeout_s=remaining + self._timeout_s,
                    )
                    return
            except FlyRequestError as exc:
                if exc.status != 408:  # 408: this call's timeout passed; try again
                    raise
                # A 408 sooner than asked (a proxy in between): do not spin.
                await trio.sleep_until(min(called + 1.0, deadline))
        raise FlyWaitTimeout(
            f"machine {machine_id} of app {self.app} did not reach {state!r} in {timeout_s:g} s"
        )

    async def list_volumes(self) -> tuple[Volume, ...]:
        """The app's volumes (``GET /apps/{app}/volumes``)."""
        body = await self._call("GET", f"/apps/{self.app}/volumes")
        return tuple(_volume(v) for v in body or [] if isinstance(v, Mapping))

    async def create_volume(self, request: Mapping[str, Any]) -> Volume:
        """Create a volume from a ``CreateVolumeRequest`` body (not retried once sent: a volume
        must not be duplicated; provisioning finds one an attempt left by its name)."""
        path = f"/apps/{self.app}/volumes"
        return _volume(await self._call("POST", path, json=dict(request), idempotent=False))

    # -- plumbing ------------------------------------------------------------------------------

    def _path(self, machine_id: str | None = None, action: str | None = None) -> str:
        path = f"/apps/{self.app}/machines"
        if machine_id is not None:
            path += f"/{machine_id}"
        if action is not None:
            path += f"/{action}"
        return path

    def _hide(self, text: str) -> str:
        return text.replace(self._token, "<hidden>")

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        idempotent: bool = True,
        read_timeout_s: float | None = None,
    ) -> Any:
        policy = self._policy
        headers = {"Authorization": authorization(self._token)}
        timeout = httpx.Timeout(self._timeout_s, read=read_timeout_s or self._timeout_s)
        while True:
            retry_after: float | None = None
            try:
                response = await self._http.request(
                    method, path, json=json, params=params, headers=headers, timeout=timeout
                )
            except httpx.TransportError as exc:
                # Nothing reached the API on a connect error: safe to retry even a create.
                retryable = idempotent or isinstance(exc, httpx.ConnectError)
                failure = f"{method} {path}: {type(exc).__name__}"
                if not retryable or policy.exhausted:
                    raise FlyUnavailable(f"{failure} after {policy.attempt} attempt(s)") from None
            else:
                status = response.status_code
                if status < 400:
                    return response.json() if response.content else None
                retryable = status == 429 or (status >= 500 and idempotent)
                failure = f"{method} {path}: HTTP {status}: {self._message(response)}"
                if not retryable:
                    raise self._refusal(status, method, path, self._message(response))
                if policy.exhausted:
                    raise FlyUnavailable(f"{failure} after {policy.attempt} attempt(s)")
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
            delay = policy.delay(retry_after)
            logger.warning(
                "Fly API {} (attempt {}); retrying in {:.1f} s", failure, policy.attempt, delay
            )
            await trio.sleep(delay)
            policy = policy.failed()

    def _message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            body = None
        text = body.get("error") if isinstance(body, Mapping) else None
        if not isinstance(text, str) or not text:
            text = response.text[:200] or response.reason_phrase
        return self._hide(text)

    @staticmethod
    def _refusal(status: int, method: str, path: str, message: str) -> FlyRequestError:
        kind: type[FlyRequestError] = FlyRequestError
        if status in (401, 403):
            kind = FlyAuthError
        elif status == 404:
            kind = FlyNotFound
        elif status in (409, 412):
            kind = FlyConflict
        return kind(status, method, path, message)


def _volume(body: Mapping[str, Any]) -> Volume:
    try:
        return Volume.from_api(body)
    except ValueError as exc:
        raise FlyError(str(exc)) from None


def utc_now_ms() -> int:
    """Wall-clock epoch milliseconds (timestamps of rows)."""
    return int(datetime.now(UTC).timestamp() * 1000)

"""A fake Fly Machines API: an httpx transport that checks every request against the Swagger 2.0
spec in ``../shared/data/flyio`` and simulates machines.

Validation (the subset of Swagger 2.0 the spec uses): ``$ref``, ``allOf``, ``type`` (object,
array, string, integer, number, boolean), ``properties`` (strict: an unknown property is an
error, so a misspelt field fails), ``additionalProperties``, ``items``, ``enum``; the operation
must exist, path/query parameters must be declared with the right type, the body must match the
``in: body`` schema. One deliberate deviation: the spec types ``fly.Duration`` as an object
``{"time.Duration": int}`` (Go's struct), while the API and the official examples in the same
folder send Go duration strings (``"15s"``); a ``fly.Duration`` must be such a string here.

Simulation: created → starting → started; stop: stopping → stopped; update = restart with a new
``instance_id``; delete → destroyed (gone from list/get). Transitions advance when the machine
is read (get, list, wait). ``fail`` queues error answers; ``stuck`` machines never reach a
waited-for state (wait answers 408).

Volumes: list and create; a machine's ``mounts`` must name an existing volume of its region not
attached to another machine (else 400/409, as Fly answers); a destroyed machine's volume is
detached and kept. Disks (with ``disk`` set): each boot of a machine (start, update, a
:meth:`FakeFly.crash`) gets a fresh root filesystem, as Fly's; :meth:`FakeFly.data_dir` is where
``/data`` is for the current boot — the volume's directory when one is mounted there.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from vyx.fleet.fly_api import authorization

SPEC_FILE = "flyio/machines_api_swagger2_docs.machines.dev_2024-03-07.json"
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


class SwaggerValidator:
    """Checks values against the definitions of a Swagger 2.0 document."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.spec = spec

    def resolve(self, ref: str) -> tuple[str, Mapping[str, Any]]:
        name = ref.removeprefix("#/definitions/")
        return name, self.spec["definitions"][name]

    def errors(self, value: Any, schema: Mapping[str, Any], where: str = "$") -> list[str]:
        """Every violation of ``schema`` by ``value`` (empty when valid)."""
        if "$ref" in schema:
            name, target = self.resolve(schema["$ref"])
            if name == "fly.Duration":
                ok = isinstance(value, str) and _GO_DURATION.match(value)
                return [] if ok else [f"{where}: expected a Go duration string like '15s'"]
            return self.errors(value, target, where)
        problems: list[str] = []
        for part in schema.get("allOf", ()):
            problems += self.errors(value, part, where)
        kind = schema.get("type")
        checks = {
            "object": lambda v: isinstance(v, dict),
            "array": lambda v: isinstance(v, list),
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
        }
        if kind is not None and not checks[kind](value):
            return [*problems, f"{where}: expected {kind}, got {type(value).__name__}"]
        if "enum" in schema and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} is not one of {schema['enum']}")
        if kind == "array" and "items" in schema:
            for i, item in enumerate(value):
                problems += self.errors(item, schema["items"], f"{where}[{i}]")
        if kind == "object" or "properties" in schema:
            props = schema.get("properties", {})
            extra = schema.get("additionalProperties")
            for key, item in value.items():
                if key in props:
                    problems += self.errors(item, props[key], f"{where}.{key}")
                elif isinstance(extra, dict):
                    problems += self.errors(item, extra, f"{where}.{key}")
                elif props or extra is False:
                    problems.append(f"{where}: unknown property {key!r}")
        return problems

    def operation(self, method: str, path: str) -> tuple[Mapping[str, Any], dict[str, str]]:
        """The operation serving ``method path`` (path without the base path) and its path
        parameters; ``KeyError`` if the spec has none."""
        for template, ops in self.spec["paths"].items():
            pattern = "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$"
            match = re.match(pattern, path)
            if match and method.lower() in ops:
                return ops[method.lower()], match.groupdict()
        raise KeyError(f"{method} {path} is not in the Machines API spec")

    def request_errors(self, request: httpx.Request, base_path: str) -> list[str]:
        """Problems of a whole request: operation, query parameters, body."""
        path = request.url.path.removeprefix(base_path)
        try:
            op, _ = self.operation(request.method, path)
        except KeyError as exc:
            return [str(exc)]
        params = {p["name"]: p for p in op.get("parameters", ())}
        problems = []
        for name, raw in request.url.params.items():
            param = params.get(name)
            if param is None or param["in"] != "query":
                problems.append(f"query parameter {name!r} is not declared")
            elif param.get("type") == "integer" and not raw.lstrip("-").isdigit():
                problems.append(f"query parameter {name!r}: expected an integer, got {raw!r}")
            elif param.get("type") == "boolean" and raw not in ("true", "false"):
                problems.append(f"query parameter {name!r}: expected true/false, got {raw!r}")
        body_param = next((p for p in params.values() if p["in"] == "body"), None)
        content = request.content
        if body_param is None:
            if content:
                problems.append("a body was sent to an operation that takes none")
        elif content:
            problems += self.errors(json.loads(content), body_param["schema"], "body")
        return problems


@attrs.define
class FakeMachine:
    id: str
    name: str
    region: str
    config: dict[str, Any]
    instance_id: str
    state: str = "created"
    #: States still to go through, advanced one per read.
    pending: list[str] = attrs.field(factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "region": self.region,
            "instance_id": self.instance_id,
            "private_ip": "fdaa:0:1::2",
            "config": self.config,
            "created_at": "2024-03-07T00:00:00Z",
        }


@attrs.define
class FakeVolume:
    id: str
    name: str
    region: str
    size_gb: int
    created_at: str
    state: str = "created"
    attached_machine_id: str | None = None

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "size_gb": self.size_gb,
            "state": self.state,
            "encrypted": True,
            "attached_machine_id": self.attached_machine_id or "",
            "created_at": self.created_at,
        }


@attrs.define
class Failure:
    """An error answer for the next matching request."""

    method: str
    path_regex: str
    status: int
    body: dict[str, Any] = attrs.field(factory=lambda: {"error": "injected"})
    headers: dict[str, str] = attrs.field(factory=dict)


class FakeFly:
    """The fake API; ``transport`` is what :class:`~vyx.fleet.fly_api.FlyMachines` takes."""

    BASE = "https://api.machines.test/v1"

    def __init__(self, spec: Mapping[str, Any], *, token: str, app: str = "vyx-test") -> None:
        self.validator = SwaggerValidator(spec)
        self.token = token
        self.app = app
        self.machines: dict[str, FakeMachine] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.invalid: list[str] = []
        self.fail: list[Failure] = []
        self.stuck: set[str] = set()
        self.volumes: dict[str, FakeVolume] = {}
        #: Where machines' disks live (None: no disks simulated).
        self.disk: Path | None = None
        #: Boots of each machine so far (a fresh root filesystem each).
        self.boots: dict[str, int] = {}
        self._ids = itertools.count(1)
        self.transport = httpx.MockTransport(self._handle)

    @classmethod
    def from_shared(cls, shared_data: Path, *, token: str) -> FakeFly:
        return cls(json.loads((shared_data / SPEC_FILE).read_text()), token=token)

    def add(
        self,
        *,
        user_id: str,
        state: str,
        cpus: int = 1,
        memory_mb: int = 256,
        image: str = "registry.fly.io/vyx-test:old",
        env: dict[str, str] | None = None,
        region: str = "ams",
    ) -> FakeMachine:
        """A machine that exists before the test (Vyx metadata, the given state)."""
        mid = f"m{next(self._ids):04x}"
        config = {
            "image": image,
            "env": env or {"USER_ID": user_id},
            "guest": {"cpu_kind": "shared", "cpus": cpus, "memory_mb": memory_mb},
            "metadata": {"vyx_user_id": user_id},
        }
        machine = FakeMachine(mid, f"vyx-{user_id}", region, config, f"i{mid}-1", state)
        self.machines[mid] = machine
        return machine

    def calls(self, method: str | None = None) -> list[str]:
        """``"METHOD /path/after/app"`` of each request so far (optionally one method)."""
        prefix = f"/v1/apps/{self.app}/machines"
        return [
            f"{m} {p.removeprefix(prefix) or '/'}"
            for m, p, _ in self.requests
            if method is None or m == method
        ]

    # -- handler -------------------------------------------------------------------------------

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if request.headers.get("Authorization") != authorization(self.token):
            return httpx.Response(401, json={"error": "unauthorized"})
        problems = self.validator.request_errors(request, "/v1")
        if problems:
            self.invalid.extend(problems)
            return httpx.Response(400, json={"error": "; ".join(problems)})
        for failure in self.fail:
            if failure.method == request.method and re.search(failure.path_regex, request.url.path):
                self.fail.remove(failure)
                return httpx.Response(failure.status, json=failure.body, headers=failure.headers)
        if request.url.path == f"/v1/apps/{self.app}/volumes":
            return self._volumes(request.method, body)
        parts = request.url.path.removeprefix(f"/v1/apps/{self.app}/machines").strip("/")
        segments = parts.split("/") if parts else []
        if not request.url.path.startswith(f"/v1/apps/{self.app}/"):
            return httpx.Response(404, json={"error": "app not found"})
        if not segments:
            return self._collection(request.method, body, request.url.params)
        machine = self.machines.get(segments[0])
        if machine is None or machine.state == "destroyed":
            return httpx.Response(404, json={"error": "machine not found"})
        action = segments[1] if len(segments) > 1 else None
        response = self._member(request.method, action, machine, body, request.url.params)
        if response.status_code == 408:  # the API holds a wait for its timeout
            await trio.sleep(int(request.url.params["timeout"]))
        return response

    def _collection(self, method: str, body: Any, params: httpx.QueryParams) -> httpx.Response:
        if method == "GET":
            alive = [m for m in self.machines.values() if m.state != "destroyed"]
            for m in alive:
                self._advance(m)
            return httpx.Response(200, json=[m.body() for m in alive])
        name = body.get("name") or f"gen-{next(self._ids)}"
        if any(m.name == name and m.state != "destroyed" for m in self.machines.values()):
            return httpx.Response(409, json={"error": f"a machine named {name} exists"})
        mid = f"m{next(self._ids):04x}"
        launch = [] if body.get("skip_launch") else ["starting", "started"]
        machine = FakeMachine(
            mid, name, body.get("region") or "ord", body["config"], f"i{mid}-1", "created", launch
        )
        refused = self._attach(machine, body["config"])
        if refused is not None:
            return refused
        self.machines[mid] = machine
        if launch:
            self._boot(machine)
        return httpx.Response(200, json=machine.body())

    def _member(
        self, method: str, action: str | None, m: FakeMachine, body: Any, params: httpx.QueryParams
    ) -> httpx.Response:
        ok = httpx.Response(200, json={"ok": True})
        if method == "GET" and action is None:
            self._advance(m)
            return httpx.Response(200, json=m.body())
        if method == "POST" and action is None:  # update = restart with the new config
            refused = self._attach(m, body["config"])
            if refused is not None:
                return refused
            m.config = body["config"]
            if not body.get("skip_launch"):
                self._boot(m)
            version = int(m.instance_id.rsplit("-", 1)[1]) + 1
            m.instance_id = f"i{m.id}-{version}"
            if not body.get("skip_launch"):
                m.state, m.pending = "replacing", ["starting", "started"]
            return httpx.Response(200, json=m.body())
        if method == "POST" and action == "start":
            if m.state not in ("stopped", "created", "suspended"):
                return httpx.Response(412, json={"error": f"machine is {m.state}"})
            previous = m.state
            m.state, m.pending = "starting", ["started"]
            self._boot(m)
            return httpx.Response(
                200, json={"previous_state": previous, "migrated": False, "new_host": ""}
            )
        if method == "POST" and action == "stop":
            if m.state in ("started", "starting"):
                m.state, m.pending = "stopping", ["stopped"]
            return ok
        if method == "DELETE":
            if m.state not in ("stopped", "created") and params.get("force") != "true":
                return httpx.Response(412, json={"error": "machine is running: stop it or force"})
            m.state, m.pending = "destroyed", []
            for volume in self.volumes.values():
                if volume.attached_machine_id == m.id:
                    volume.attached_machine_id = None  # Fly keeps a destroyed machine's volume
            return ok
        if method == "GET" and action == "wait":
            want = params["state"]
            if "instance_id" in params and params["instance_id"] != m.instance_id:
                return httpx.Response(400, json={"error": "instance_id is not current"})
            if m.id not in self.stuck:
                while m.state != want and m.pending:
                    self._advance(m)
            if m.state == want:
                return ok
            return httpx.Response(408, json={"error": "deadline_exceeded"})
        return httpx.Response(405, json={"error": "not simulated"})

    def _volumes(self, method: str, body: Any) -> httpx.Response:
        if method == "GET":
            return httpx.Response(200, json=[v.body() for v in self.volumes.values()])
        vid = f"vol_{next(self._ids):04x}"
        created = f"2024-03-07T00:00:{len(self.volumes):02d}Z"
        volume = FakeVolume(vid, body["name"], body["region"], body.get("size_gb") or 1, created)
        self.volumes[vid] = volume
        return httpx.Response(200, json=volume.body())

    def _attach(self, m: FakeMachine, config: Mapping[str, Any]) -> httpx.Response | None:
        """Attach the volumes ``config`` mounts to ``m``; Fly's refusal when one cannot be."""
        for mount in config.get("mounts") or ():
            volume = self.volumes.get(mount.get("volume", ""))
            if volume is None or volume.state == "destroyed":
                return httpx.Response(
                    400, json={"error": f"volume {mount.get('volume')} not found"}
                )
            if volume.region != m.region:
                msg = f"volume {volume.id} is in {volume.region}, the machine in {m.region}"
                return httpx.Response(400, json={"error": msg})
            if volume.attached_machine_id not in (None, m.id):
                msg = f"volume {volume.id} is attached to {volume.attached_machine_id}"
                return httpx.Response(409, json={"error": msg})
            volume.attached_machine_id = m.id
        return None

    def _boot(self, m: FakeMachine) -> None:
        self.boots[m.id] = self.boots.get(m.id, 0) + 1

    def crash(self, machine_id: str) -> None:
        """The machine's process is killed and Fly restarts it (``on-failure``): a new boot."""
        self._boot(self.machines[machine_id])

    def data_dir(self, machine_id: str) -> Path:
        """Where the current boot of the machine has ``/data``: its volume's directory when one
        is mounted there, else a directory of this boot's (fresh) root filesystem."""
        assert self.disk is not None, "set FakeFly.disk to simulate disks"
        m = self.machines[machine_id]
        for mount in m.config.get("mounts") or ():
            if mount.get("path") == "/data":
                path = self.disk / "volumes" / mount["volume"]
                break
        else:
            path = self.disk / "machines" / m.id / f"boot-{self.boots.get(m.id, 0)}" / "data"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def _advance(m: FakeMachine) -> None:
        if m.pending:
            m.state = m.pending.pop(0)

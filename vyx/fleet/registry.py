"""The provisioning registry on the Supabase backend's PostgREST client (service key).

Implements :class:`~vyx.fleet.provision.MachineRegistry` for the operator's ``vyx provision`` and
``vyx machines`` with :class:`vyx.store.supabase.Rest` (bounded retries, error verdicts) and the
backend's wire format (:func:`~vyx.store.supabase.wire.to_wire`: epoch ms → ISO timestamps):

- ``user_subscriptions``: read by ``user_id``;
- ``cloud_machines``: read by ``user_id``, upserted ``on_conflict=user_id`` (the column is
  unique; the daemon's own lifecycle upserts on it too, so the row keeps its ``id``), deleted
  after a destroy;
- ``cloud_events``: inserted ``on_conflict=id``, duplicates ignored (ids derive from content).

Every failure is a :class:`~vyx.fleet.provision.RegistryError` naming the operation; the service
key never appears in one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

from vyx.fleet.provision import RegistryError, Subscription
from vyx.settings import SupabaseConfig
from vyx.store.errors import StoreError
from vyx.store.records import MachineRecord
from vyx.store.supabase import Rest
from vyx.store.supabase.wire import from_wire, to_wire

T = TypeVar("T")


class SupabaseRegistry:
    """:class:`~vyx.fleet.provision.MachineRegistry` on a Supabase project. ``async with``."""

    def __init__(self, rest: Rest) -> None:
        self.rest = rest

    @classmethod
    def open(
        cls, supabase: SupabaseConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> SupabaseRegistry:
        """A registry on ``supabase`` (``transport`` is the test seam)."""
        return cls(Rest.open(supabase, transport=transport))

    def __repr__(self) -> str:
        return "SupabaseRegistry()"

    async def __aenter__(self) -> SupabaseRegistry:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rest.aclose()

    async def _call(self, what: str, request: Callable[[], Awaitable[T]]) -> T:
        try:
            return await self.rest.call(what, request)
        except StoreError as exc:
            raise RegistryError(f"{what}: {exc}") from None

    async def subscription(self, user_id: str) -> Subscription | None:
        columns = "user_id,tier,status"
        rows = await self._call(
            "read user_subscriptions",
            lambda: self.rest.select(
                "user_subscriptions", eq={"user_id": user_id}, columns=columns
            ),
        )
        subs = [Subscription(str(r["user_id"]), str(r["tier"]), str(r["status"])) for r in rows]
        return next((s for s in subs if s.serves_machine), subs[0] if subs else None)

    async def machine_of_user(self, user_id: str) -> MachineRecord | None:
        rows = await self._call(
            "read cloud_machines",
            lambda: self.rest.select("cloud_machines", eq={"user_id": user_id}),
        )
        if not rows:
            return None
        try:
            return MachineRecord.from_row(from_wire("cloud_machines", rows[0]))
        except StoreError as exc:
            raise RegistryError(f"read cloud_machines: {exc}") from None

    async def save_machine(self, record: MachineRecord) -> None:
        row = to_wire("cloud_machines", record.to_row())
        if row["created_at"] is None:
            del row["created_at"]  # the database default
        await self._call(
            "write cloud_machines",
            lambda: self.rest.upsert("cloud_machines", [row], on_conflict="user_id"),
        )

    async def delete_machine(self, user_id: str) -> None:
        await self._call(
            "delete cloud_machines",
            lambda: self.rest.delete("cloud_machines", eq={"user_id": user_id}),
        )

    async def save_event(self, row: Mapping[str, Any]) -> None:
        wire = to_wire("cloud_events", row)
        await self._call(
            "write cloud_events",
            lambda: self.rest.upsert(
                "cloud_events", [wire], on_conflict="id", ignore_duplicates=True
            ),
        )

"""Rows adapted to the project's tables as PostgREST describes them (pure), and a PostgREST
that will not describe them."""

from __future__ import annotations

import httpx
import trio

from tests.vyx.store.supabase.factory import USER
from vyx.settings import SupabaseConfig
from vyx.store.records import analysis_row_id
from vyx.store.supabase import Rest
from vyx.store.supabase.project import Project, ProjectSchema

ORIGINAL_LATER = {
    "definitions": {
        "signals": {
            "properties": {
                "id": {"format": "uuid", "description": "Note:\nThis is a Primary Key.<pk/>"},
                "fly_app_id": {
                    "format": "uuid",
                    "description": "Note:\nThis is a Foreign Key to "
                    "`user_fly_apps.id`.<fk table='user_fly_apps' column='id'/>",
                },
            }
        },
        "cloud_metrics": {
            "properties": {
                "memory_used_mb": {"format": "integer"},
                "cpu_usage_vcpus": {"format": "numeric"},
            }
        },
    }
}


def test_rows_take_the_projects_shape() -> None:
    schema = ProjectSchema.from_openapi(ORIGINAL_LATER)
    assert schema.machine_column() == ("fly_app_id", False)
    signal = schema.adapt("signals", {"id": "s", "machine_id": "m", "bar_open_time": 7}, {})
    assert signal == {"id": "s", "fly_app_id": None}  # no bar_open_time column there
    metrics = schema.adapt(
        "cloud_metrics",
        {"memory_used_mb": 187.6, "cpu_usage_vcpus": 0.25, "machine_id": "old"},
        {"old": "new"},
    )
    assert metrics == {"memory_used_mb": 188, "cpu_usage_vcpus": 0.25, "machine_id": "new"}
    analysis = schema.adapt("signal_analyses", {"signal_id": "s"}, {})
    assert analysis["id"] == analysis_row_id("s")
    assert any("fly_app_id" in line for line in schema.differences())
    assert any("memory_used_mb" in line for line in schema.differences())
    assert any("signals.bar_open_time" in line for line in schema.differences())
    ours = ProjectSchema.assumed()
    assert ours.adapt("signals", {"machine_id": "m"}, {}) == {"machine_id": "m"}
    # Not described: an optional column might be missing, so it is left out.
    assert ours.adapt("signals", {"machine_id": "m", "bar_open_time": 7}, {}) == {"machine_id": "m"}
    assert ours.differences() == []


async def test_a_project_that_is_not_described_is_written_as_ours() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await trio.lowlevel.checkpoint()
        return httpx.Response(404, json={"message": "no Route matched with those values"})

    cfg = SupabaseConfig(url="http://supabase.test", service_key="k")
    rest = Rest.open(cfg, transport=httpx.MockTransport(handler))
    try:
        project = Project(rest, None)
        schema = await project.describe()
    finally:
        await rest.aclose()
    assert not schema.described
    assert project.adapt("signals", {"machine_id": USER}) == {"machine_id": USER}

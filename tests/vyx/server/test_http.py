"""/health, /metrics, / and the HTTP edges."""

from __future__ import annotations

import hashlib
import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

from vyx.telemetry.health import COMPONENTS, ComponentState

from .harness import serving


async def test_health_is_200_until_a_critical_component_is_down() -> None:
    async with serving() as running, httpx.AsyncClient(base_url=running.handle.url) as http:
        response = await http.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "degraded"  # the other components have not reported yet
        assert set(body["components"]) == set(COMPONENTS)
        assert body["components"]["server"]["state"] == "ok"
        assert body["uptime_s"] >= 0
        assert {"signals", "ws_clients", "rss_mb"} <= set(body["metrics"])

        for name in COMPONENTS:
            if name != "server":
                running.health.report(name, ComponentState.OK, "fine")
        assert (await http.get("/health")).json()["status"] == "healthy"

        running.health.report("analyzer", ComponentState.DOWN, "quota exhausted")
        response = await http.get("/health")
        assert (response.status_code, response.json()["status"]) == (200, "degraded")

        running.health.report("store", ComponentState.DOWN, "database unreachable")
        response = await http.get("/health")
        assert (response.status_code, response.json()["status"]) == (503, "unhealthy")
        assert response.json()["components"]["store"]["detail"] == "database unreachable"


async def test_metrics_parse_with_the_prometheus_parser() -> None:
    async with serving() as running, httpx.AsyncClient(base_url=running.handle.url) as http:
        running.metrics.frames.inc(3)
        running.metrics.screen_duration.labels("5m").observe(0.004)
        running.metrics.queue_depth.labels("analysis").set(2)
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    for name in (
        "vyx_market_frames",
        "vyx_market_reconnects",
        "vyx_market_gaps_repaired",
        "vyx_screens",
        "vyx_screen_duration_seconds",
        "vyx_signals",
        "vyx_queue_depth",
        "vyx_ws_clients",
        "process_resident_memory_bytes",
    ):
        assert name in families, name
    frames = families["vyx_market_frames"].samples
    assert [s.value for s in frames if s.name == "vyx_market_frames_total"] == [3.0]
    assert families["vyx_screen_duration_seconds"].type == "histogram"


async def test_dashboard_and_unknown_paths() -> None:
    async with serving() as running, httpx.AsyncClient(base_url=running.handle.url) as http:
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "<html" in page.text.lower()
        head = await http.head("/health")
        assert (head.status_code, head.content) == (200, b"")
        assert (await http.get("/nope")).status_code == 404
        post = await http.post("/health", content=b"x")
        assert (post.status_code, post.headers["allow"]) == (405, "GET, HEAD")


async def test_the_page_loads_only_its_own_scripts_served_with_the_chart_librarys_license() -> None:
    """Offline: every script the page names is served here (none from elsewhere, no inline
    code), among them the vendored Lightweight Charts with its version and Apache license."""
    async with serving() as running, httpx.AsyncClient(base_url=running.handle.url) as http:
        page = await http.get("/")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "unsafe-eval" not in csp
        scripts = re.findall(r'<script src="([^"]+)"', page.text)
        assert "<script>" not in page.text  # no inline code
        assert "/static/lightweight-charts/lightweight-charts.standalone.production.js" in scripts
        for src in scripts:
            assert src.startswith("/static/")
            served = await http.get(src)
            assert served.status_code == 200, src
            assert served.headers["content-type"] == "text/javascript; charset=utf-8"
        library = await http.get(scripts[0])
        assert "TradingView Lightweight Charts™ v5.2.1" in library.text[:300]
        notice = await http.get("/static/lightweight-charts/NOTICE.md")
        sha = hashlib.sha256(library.content).hexdigest()
        assert sha in notice.text  # the vendored file is the one the note names
        license_text = await http.get("/static/lightweight-charts/LICENSE")
        assert "Apache License" in license_text.text
        # Revalidated with its ETag; nothing outside the shipped files is reachable.
        again = await http.get(scripts[0], headers={"if-none-match": library.headers["etag"]})
        assert (again.status_code, again.content) == (304, b"")
        for path in ("/static/../dashboard.html", "/static/", "/static/dashboard", "/static/x.js"):
            assert (await http.get(path)).status_code == 404, path

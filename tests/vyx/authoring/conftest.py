"""Authoring fixtures: the Gemini fake (shared with the analyzer's tests) and drafts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.vyx.analysis.conftest import KEY
from tests.vyx.analysis.fake_gemini import FakeGemini


@pytest.fixture
def fake(shared_data: Path) -> FakeGemini:
    return FakeGemini(shared_data, api_key=KEY)

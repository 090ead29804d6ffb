"""The daemon's tests share the fleet tests' fake Machines API (the scaler resizes through it)."""

from tests.vyx.fleet.conftest import fake_fly, fly

__all__ = ["fake_fly", "fly"]

"""The cloud services' tests run on the Supabase store's fixtures (the fake PostgREST)."""

from tests.vyx.store.supabase.conftest import clock, fake, store_cfg, supabase_cfg

__all__ = ["clock", "fake", "store_cfg", "supabase_cfg"]

"""The Supabase backend (placeholder docstring, completed below)."""

from vyx.store.supabase.rest import Rest, RestError, SupabaseUnavailable
from vyx.store.supabase.store import SupabaseStatistics, SupabaseStore, run_supabase_store
from vyx.store.supabase.wire import RetryPolicy

__all__ = [
    "Rest", "RestError", "RetryPolicy", "SupabaseStatistics", "SupabaseStore",
    "SupabaseUnavailable", "run_supabase_store",
]  # fmt: skip

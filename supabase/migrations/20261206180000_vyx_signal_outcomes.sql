-- Signal outcomes: how each signal did over the 24 bars after it (README "Did it work?").
--
-- Additive and idempotent on any project (a fresh one made by 20261125120000_vyx_schema.sql,
-- or the Vyx web app's, ../shared/data/vyx-original): one new table, nothing else changed.
-- One row per signal, written by the machine as the signal's outcome progresses (upserted by
-- signal_id) and complete after 24 bars. No foreign key to signals: a signal the database
-- quarantined must not make its outcome a poison row too.
--
-- Access: owners (auth.uid() = user_id) may SELECT their rows; only the service role (the
-- machine's key) writes; anon has no privilege.

create table if not exists public.signal_outcomes (
    signal_id uuid primary key,
    trader_id uuid not null,
    user_id uuid not null,
    symbol text not null,
    interval text not null,
    bar_open_time timestamptz not null,
    direction text not null
        constraint signal_outcomes_direction_check check (direction in ('long', 'short')),
    entry double precision not null,
    stop_level double precision,
    target_level double precision,
    levels text not null
        constraint signal_outcomes_levels_check check (levels in ('analysis', 'atr', 'none')),
    bars integer not null constraint signal_outcomes_bars_check check (bars between 0 and 24),
    complete boolean not null default false,
    return_1 double precision,
    return_3 double precision,
    return_6 double precision,
    return_12 double precision,
    return_24 double precision,
    mfe double precision,
    mae double precision,
    touch text not null default 'none'
        constraint signal_outcomes_touch_check check (touch in ('none', 'target', 'stop')),
    touch_bar integer,
    trade_return double precision,
    updated_at timestamptz not null default now()
);
create index if not exists signal_outcomes_user_open_idx
    on public.signal_outcomes (user_id, complete, bar_open_time desc);
create index if not exists signal_outcomes_trader_idx
    on public.signal_outcomes (trader_id, bar_open_time desc);

grant all on public.signal_outcomes to service_role;
revoke all on public.signal_outcomes from anon;
grant select on public.signal_outcomes to authenticated;
revoke insert, update, delete, truncate on public.signal_outcomes from authenticated;
alter table public.signal_outcomes enable row level security;

drop policy if exists vyx_signal_outcomes_owner_select on public.signal_outcomes;
create policy vyx_signal_outcomes_owner_select on public.signal_outcomes
    for select to authenticated using ((select auth.uid()) = user_id);

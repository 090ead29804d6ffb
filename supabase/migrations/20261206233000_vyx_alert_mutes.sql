-- The user's mutes: symbols and traders whose signals raise no alert (README "Alerts";
-- vyx/mutes.py). Set from the dashboard, read by the machine at start.
--
-- Additive and idempotent on any project (a fresh one made by 20261125120000_vyx_schema.sql,
-- or the Vyx web app's, ../shared/data/vyx-original): one new table, nothing else changed. One
-- row per mute; its id is derived from (user, kind, target), so setting a mute twice changes
-- nothing. A project without this table keeps every other row; the machine then refuses to
-- set a mute (its error says to apply the migrations).
--
-- Access: owners (auth.uid() = user_id) may SELECT their rows; only the service role (the
-- machine's key) writes; anon has no privilege.

create table if not exists public.alert_mutes (
    id uuid primary key,
    user_id uuid not null,
    kind text not null constraint alert_mutes_kind_check check (kind in ('symbol', 'trader')),
    target text not null
        constraint alert_mutes_target_check check (char_length(target) between 1 and 128),
    created_at timestamptz not null default now()
);
create index if not exists alert_mutes_user_idx on public.alert_mutes (user_id, created_at);

grant all on public.alert_mutes to service_role;
revoke all on public.alert_mutes from anon;
grant select on public.alert_mutes to authenticated;
revoke insert, update, delete, truncate on public.alert_mutes from authenticated;
alter table public.alert_mutes enable row level security;

drop policy if exists vyx_alert_mutes_owner_select on public.alert_mutes;
create policy vyx_alert_mutes_owner_select on public.alert_mutes
    for select to authenticated using ((select auth.uid()) = user_id);

-- Vyx: the tables a user's machine reads and writes (CONTRACTS.md "Supabase tables").
--
-- Idempotent: every statement may run again. Additive on an existing project (the Vyx web
-- app's, see ../shared/data/vyx-original): tables that already exist are left as they are --
-- their grants, their row level security and the web app's policies (e.g. the anonymous
-- SELECT on signals) stay; only indexes and the owner policies below are added. Timestamps are
-- timestamptz; ids written by the machine are deterministic UUIDs (retries and replays
-- upsert, never duplicate).
--
-- Access on a fresh project (tables this migration creates): owners (auth.uid() = user_id)
-- may SELECT their rows; traders are also written by their owner (the web app edits them).
-- Only the service role (the machine's key, which bypasses RLS) writes signals, analyses,
-- machines, metrics, events and subscriptions: anon has no privilege at all, authenticated
-- no INSERT/UPDATE/DELETE on them.

-- Which of our tables the project already had (their access is the web app's to decide).
drop table if exists pg_temp.vyx_preexisting;
create temporary table vyx_preexisting as
    select c.relname::text as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname in (
        'traders', 'signals', 'signal_analyses', 'cloud_machines', 'cloud_metrics',
        'cloud_events', 'user_subscriptions');

create extension if not exists pgcrypto;

-- ----------------------------------------------------------------------------- traders
create table if not exists public.traders (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null,
    name text not null,
    description text default '',
    enabled boolean not null default true,
    filter jsonb not null default '{}'::jsonb,
    strategy jsonb default '{}'::jsonb,
    cloud_config jsonb default '{}'::jsonb,
    execution_interval text not null default '5m',
    access_tier text,
    language text,
    auto_analyze_signals boolean not null default false,
    version integer not null default 1,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists traders_user_enabled_idx on public.traders (user_id, enabled);

-- ----------------------------------------------------------------------------- signals
create table if not exists public.signals (
    id uuid primary key,
    trader_id uuid not null,
    user_id uuid not null,
    symbol text not null,
    interval text not null,
    price double precision not null constraint signals_price_check check (price >= 0),
    matched_conditions jsonb not null default '[]'::jsonb,
    indicator_data jsonb not null default '{}'::jsonb,
    status text not null default 'new',
    source text not null default 'cloud',
    machine_id uuid,
    created_at timestamptz not null default now()
);
create index if not exists signals_user_created_idx on public.signals (user_id, created_at desc);
create index if not exists signals_trader_created_idx
    on public.signals (trader_id, created_at desc);

-- ----------------------------------------------------------------------------- analyses
create table if not exists public.signal_analyses (
    id uuid primary key default gen_random_uuid(),
    signal_id uuid not null unique references public.signals (id) on delete cascade,
    trader_id uuid not null,
    user_id uuid not null,
    decision text not null
        constraint signal_analyses_decision_check
        check (decision in ('enter_trade', 'bad_setup', 'wait')),
    confidence double precision not null
        constraint signal_analyses_confidence_check check (confidence between 0 and 100),
    reasoning text,
    key_levels jsonb,
    trade_plan jsonb,
    technical_indicators jsonb,
    raw_ai_response text,
    analysis_latency_ms integer,
    gemini_tokens_used integer,
    model_name text,
    created_at timestamptz not null default now()
);
create index if not exists signal_analyses_user_created_idx
    on public.signal_analyses (user_id, created_at desc);

-- ----------------------------------------------------------------------------- machines
create table if not exists public.cloud_machines (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null unique,
    machine_id text not null unique,
    region text,
    status text not null default 'provisioning'
        constraint cloud_machines_status_check check (status in
            ('provisioning', 'starting', 'running', 'stopping', 'stopped', 'error')),
    cpus integer constraint cloud_machines_cpus_check check (cpus between 1 and 8),
    memory_mb integer,
    websocket_url text,
    health_check_url text,
    provisioned_at timestamptz,
    started_at timestamptz,
    stopped_at timestamptz,
    last_health_check timestamptz,
    error_message text,
    error_count integer not null default 0,
    fly_app_name text,
    fly_machine_version text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index if not exists cloud_machines_status_idx on public.cloud_machines (status);

-- ----------------------------------------------------------------------------- metrics
create table if not exists public.cloud_metrics (
    id uuid primary key default gen_random_uuid(),
    machine_id uuid not null,
    cpu_usage_vcpus double precision,
    memory_used_mb double precision,
    memory_total_mb double precision,
    active_signals integer,
    analysis_queue_depth integer,
    websocket_latency_ms double precision,
    filter_execution_time_ms double precision,
    ai_analysis_time_ms double precision,
    signals_created_count integer,
    analyses_completed_count integer,
    errors_count integer,
    recorded_at timestamptz not null default now()
);
create index if not exists cloud_metrics_machine_recorded_idx
    on public.cloud_metrics (machine_id, recorded_at desc);

-- ----------------------------------------------------------------------------- events
create table if not exists public.cloud_events (
    id uuid primary key default gen_random_uuid(),
    machine_id uuid,
    user_id uuid,
    event_type text not null
        constraint cloud_events_event_type_check check (event_type in (
            'provision', 'error', 'stop', 'start', 'config_update', 'machine_provisioned',
            'machine_started', 'machine_stopped', 'machine_scaled', 'machine_error',
            'machine_retry', 'config_synced', 'trader_added', 'trader_removed',
            'trader_updated', 'signal_created', 'analysis_completed', 'websocket_connected',
            'websocket_disconnected', 'health_check_failed')),
    severity text not null default 'info'
        constraint cloud_events_severity_check check (severity in ('info', 'warning', 'error')),
    message text not null,
    details jsonb not null default '{}'::jsonb,
    created_at timestamptz not null default now()
);
create index if not exists cloud_events_user_created_idx
    on public.cloud_events (user_id, created_at desc);
create index if not exists cloud_events_machine_created_idx
    on public.cloud_events (machine_id, created_at desc);

-- ----------------------------------------------------------------------------- subscriptions
create table if not exists public.user_subscriptions (
    id uuid primary key default gen_random_uuid(),
    user_id uuid not null unique,
    tier text not null default 'free'
        constraint user_subscriptions_tier_check check (tier in ('free', 'pro', 'elite')),
    status text not null default 'active'
        constraint user_subscriptions_status_check
        check (status in ('active', 'cancelled', 'past_due')),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- ----------------------------------------------------------------------------- privileges
-- Grants are additive, so they hold on any project whatever its default privileges.
grant usage on schema public to anon, authenticated, service_role;
grant all on public.traders, public.signals, public.signal_analyses, public.cloud_machines,
    public.cloud_metrics, public.cloud_events, public.user_subscriptions to service_role;
grant select on public.signals, public.signal_analyses, public.cloud_machines,
    public.cloud_metrics, public.cloud_events, public.user_subscriptions to authenticated;
grant select, insert, update, delete on public.traders to authenticated;

-- ----------------------------------------------------------------------------- row level security
-- Narrowing (revokes, RLS on) only for the tables created above: Supabase's default
-- privileges give anon and authenticated everything on a new table.
do $$
declare
    t text;
begin
    for t in select unnest(array['traders', 'signals', 'signal_analyses', 'cloud_machines',
                                 'cloud_metrics', 'cloud_events', 'user_subscriptions'])
             except select name from pg_temp.vyx_preexisting
    loop
        execute format('revoke all on public.%I from anon', t);
        if t <> 'traders' then
            execute format('revoke insert, update, delete, truncate on public.%I '
                           'from authenticated', t);
        end if;
        execute format('alter table public.%I enable row level security', t);
    end loop;
    for t in select name from pg_temp.vyx_preexisting loop
        if not (select relrowsecurity from pg_class where oid = format('public.%I', t)::regclass)
        then
            raise warning 'public.% has row level security disabled: every role the project '
                          'grants it to reads all of its rows (left as it is)', t;
        end if;
    end loop;
end $$;
drop table pg_temp.vyx_preexisting;

drop policy if exists vyx_traders_owner_select on public.traders;
create policy vyx_traders_owner_select on public.traders
    for select to authenticated using ((select auth.uid()) = user_id);
drop policy if exists vyx_traders_owner_insert on public.traders;
create policy vyx_traders_owner_insert on public.traders
    for insert to authenticated with check ((select auth.uid()) = user_id);
drop policy if exists vyx_traders_owner_update on public.traders;
create policy vyx_traders_owner_update on public.traders
    for update to authenticated
    using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
drop policy if exists vyx_traders_owner_delete on public.traders;
create policy vyx_traders_owner_delete on public.traders
    for delete to authenticated using ((select auth.uid()) = user_id);

drop policy if exists vyx_signals_owner_select on public.signals;
create policy vyx_signals_owner_select on public.signals
    for select to authenticated using ((select auth.uid()) = user_id);

drop policy if exists vyx_signal_analyses_owner_select on public.signal_analyses;
create policy vyx_signal_analyses_owner_select on public.signal_analyses
    for select to authenticated using ((select auth.uid()) = user_id);

drop policy if exists vyx_cloud_machines_owner_select on public.cloud_machines;
create policy vyx_cloud_machines_owner_select on public.cloud_machines
    for select to authenticated using ((select auth.uid()) = user_id);

drop policy if exists vyx_cloud_metrics_owner_select on public.cloud_metrics;
create policy vyx_cloud_metrics_owner_select on public.cloud_metrics
    for select to authenticated using (exists (
        select 1 from public.cloud_machines m
        where m.id = cloud_metrics.machine_id and m.user_id = (select auth.uid())));

drop policy if exists vyx_cloud_events_owner_select on public.cloud_events;
create policy vyx_cloud_events_owner_select on public.cloud_events
    for select to authenticated using ((select auth.uid()) = user_id);

drop policy if exists vyx_user_subscriptions_owner_select on public.user_subscriptions;
create policy vyx_user_subscriptions_owner_select on public.user_subscriptions
    for select to authenticated using ((select auth.uid()) = user_id);

-- Vyx on a project the Vyx web app already uses (../shared/data/vyx-original/schema.sql):
-- what the machine needs there, added without taking anything away. Idempotent; on a project
-- made by 20261125120000_vyx_schema.sql alone every statement is a no-op.
--
-- 1. Columns the machine reads or writes, added when missing (the web app's are untouched;
--    types are never changed: the machine adapts its rows to the project's types, e.g. it
--    rounds cloud_metrics values for INTEGER columns).
-- 2. CHECKs widened, never narrowed: each keeps whatever it allowed and also allows the
--    machine's values (traders.language 'vyx'; cloud_machines.region any Fly region code).
-- 3. Privileges the web app's own policies rely on, given back if a role lost them (an
--    earlier version of 20261125120000 revoked the anonymous SELECT on signals).
--
-- Not needed: a unique constraint on signal_analyses.signal_id (the machine upserts analyses
-- by a deterministic id), and signals.machine_id on a project where the original renamed it
-- to fly_app_id (the machine finds which of the two the table has).

-- ----------------------------------------------------------------------------- 1. columns
alter table public.traders add column if not exists description text default '';
alter table public.traders add column if not exists enabled boolean not null default true;
alter table public.traders add column if not exists strategy jsonb default '{}'::jsonb;
alter table public.traders add column if not exists cloud_config jsonb default '{}'::jsonb;
alter table public.traders add column if not exists execution_interval text default '5m';
alter table public.traders add column if not exists access_tier text;
alter table public.traders add column if not exists language text;
alter table public.traders
    add column if not exists auto_analyze_signals boolean not null default false;
alter table public.traders add column if not exists version integer not null default 1;
alter table public.traders add column if not exists updated_at timestamptz default now();

alter table public.signals add column if not exists interval text;
alter table public.signals add column if not exists price double precision;
alter table public.signals add column if not exists matched_conditions jsonb default '[]'::jsonb;
alter table public.signals add column if not exists indicator_data jsonb default '{}'::jsonb;
alter table public.signals add column if not exists status text default 'new';
alter table public.signals add column if not exists source text default 'cloud';
do $$
begin
    if not exists (select from information_schema.columns where table_schema = 'public'
                   and table_name = 'signals' and column_name in ('machine_id', 'fly_app_id'))
    then
        alter table public.signals add column machine_id uuid;
    end if;
end $$;

alter table public.signal_analyses add column if not exists technical_indicators jsonb;
alter table public.signal_analyses add column if not exists raw_ai_response text;
alter table public.signal_analyses add column if not exists analysis_latency_ms integer;
alter table public.signal_analyses add column if not exists gemini_tokens_used integer;
alter table public.signal_analyses add column if not exists model_name text;

alter table public.cloud_machines add column if not exists websocket_url text;
alter table public.cloud_machines add column if not exists health_check_url text;
alter table public.cloud_machines add column if not exists last_health_check timestamptz;
alter table public.cloud_machines add column if not exists error_message text;
alter table public.cloud_machines add column if not exists error_count integer not null default 0;
alter table public.cloud_machines add column if not exists fly_app_name text;
alter table public.cloud_machines add column if not exists fly_machine_version text;

alter table public.cloud_metrics add column if not exists analysis_queue_depth integer;
alter table public.cloud_metrics add column if not exists errors_count integer;

alter table public.cloud_events add column if not exists severity text not null default 'info';
alter table public.cloud_events add column if not exists details jsonb;

-- ----------------------------------------------------------------------------- 2. CHECKs
-- A CHECK on the column that does not yet allow the machine's value becomes
-- "(what it allowed) OR (the machine's values)", under its own name.
do $$
declare
    widen record;
    c record;
begin
    for widen in select * from (values
        ('traders', 'language', $w$language = 'vyx'$w$, $w$'vyx'$w$),
        ('cloud_machines', 'region', $w$region ~ '^[a-z]{3}$'$w$, $w$[a-z]{3}$w$)
    ) as w(tbl, col, allow, marker)
    loop
        for c in select con.conname, pg_get_constraintdef(con.oid) as def
                 from pg_constraint con
                 where con.conrelid = format('public.%I', widen.tbl)::regclass
                   and con.contype = 'c'
                   and pg_get_constraintdef(con.oid) ~ ('\m' || widen.col || '\M')
                   and position(widen.marker in pg_get_constraintdef(con.oid)) = 0
        loop
            execute format('alter table public.%I drop constraint %I', widen.tbl, c.conname);
            execute format('alter table public.%I add constraint %I check ((%s) or %s)',
                           widen.tbl, c.conname,
                           regexp_replace(c.def, '^CHECK \((.*)\)$', '\1'), widen.allow);
        end loop;
    end loop;
end $$;

-- ----------------------------------------------------------------------------- 3. privileges
-- Every command a non-Vyx policy opens to anon or authenticated (or to public: both) must be
-- granted to that role, or the policy is dead; grant what is missing.
do $$
declare
    p record;
    r text;
    verb text;
begin
    for p in select tablename, roles, cmd from pg_policies
             where schemaname = 'public' and policyname not like 'vyx\_%'
               and tablename in ('traders', 'signals', 'signal_analyses', 'cloud_machines',
                                 'cloud_metrics', 'cloud_events', 'user_subscriptions')
    loop
        foreach r in array p.roles loop
            continue when r not in ('anon', 'authenticated', 'public');
            foreach verb in array case p.cmd when 'ALL'
                then array['select', 'insert', 'update', 'delete'] else array[lower(p.cmd)] end
            loop
                if r = 'public' then
                    execute format('grant %s on public.%I to anon, authenticated', verb,
                                   p.tablename);
                elsif not has_table_privilege(r, format('public.%I', p.tablename), verb) then
                    execute format('grant %s on public.%I to %I', verb, p.tablename, r);
                end if;
            end loop;
        end loop;
    end loop;
end $$;

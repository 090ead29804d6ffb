-- Whether a signal's alert was muted when the machine made it: signals.alert_muted (README
-- "Alerts"; the dashboard marks a signal muted from it, so a signal alerted before a mute still
-- shows as alerted, and one muted then unmuted still shows as muted).
--
-- Additive and idempotent on any project (a fresh one made by 20261125120000_vyx_schema.sql,
-- or the Vyx web app's, ../shared/data/vyx-original): one nullable column, nothing else
-- changed. Rows written before it (and by the original product) keep NULL there: the dashboard
-- then marks nothing. A project without this column gets every other column of the machine's
-- rows (the machine leaves this one out).

alter table public.signals add column if not exists alert_muted boolean;

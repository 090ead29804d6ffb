-- The bar a signal fired on: signals.bar_open_time, the open time of its candle (README
-- "The dashboard": the history and the charts place a signal on its bar; created_at is when
-- the machine made it, which after a restart's catch-up can be bars later).
--
-- Additive and idempotent on any project (a fresh one made by 20261125120000_vyx_schema.sql,
-- or the Vyx web app's, ../shared/data/vyx-original): one nullable column, nothing else
-- changed. Rows written before it (and by the original product) keep NULL there; readers then
-- take the last bar closed at created_at. A project without this column gets every other
-- column of the machine's rows (the machine leaves this one out).

alter table public.signals add column if not exists bar_open_time timestamptz;

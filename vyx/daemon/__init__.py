"""The daemon's own services around the composition root (:mod:`vyx.app`); health and metrics
are :mod:`vyx.telemetry`.

- :mod:`.control` the browser protocol's commands, the connect snapshot, trader changes;
- :mod:`.delivery` where a screen's signals go (store, browsers, analyzer);
- :mod:`.status` what the daemon says about itself (status, metrics, ``cloud_metrics``);
- :mod:`.intake` where the traders come from; :mod:`.cloud` cloud mode's machine and trader
  sync, as the daemon runs them (the services are :mod:`vyx.cloud`);
- :mod:`.services` the running services as one value; :mod:`.drain` the stop's budget;
  :mod:`.phase` the market's start-up; :mod:`.settings` the services' settings;
- :mod:`.scaler` the DynamicScaler's pure rule, :mod:`.scaling` its shell in the daemon;
- :mod:`.startup` what keeps the daemon from starting, and the private data directory.
"""

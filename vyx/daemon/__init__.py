"""The daemon's own services around the composition root (:mod:`vyx.app`).

- :mod:`.control` the browser protocol's commands, the connect snapshot, trader changes;
- :mod:`.delivery` where a screen's signals go (store, browsers, analyzer);
- :mod:`.status` what the daemon says about itself (status, metrics, ``cloud_metrics``);
- :mod:`.health`, :mod:`.metrics` component health (``/health``) and Prometheus metrics;
- :mod:`.scaler` the DynamicScaler's pure rule, :mod:`.scaling` its shell in the daemon;
- :mod:`.startup` what keeps the daemon from starting, and the private data directory.
"""

"""Operations: component health and Prometheus metrics (:mod:`.health`, :mod:`.metrics`), the
Fly Machines API client (:mod:`.fly_api`), provisioning of user machines (:mod:`.provision`,
:mod:`.provision_registry`, :mod:`.provision_cli`), the DynamicScaler (:mod:`.scaler`) and the
kernel cache warm-up the Docker image runs (:mod:`.warm_cache`)."""

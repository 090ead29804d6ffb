"""Operations: component health and the Prometheus metrics every service updates."""

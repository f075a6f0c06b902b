enum AegisMetricsPlaceholder {}

enum AegisNodePlaceholder {}

enum AegisAPIPlaceholder {}

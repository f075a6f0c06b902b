enum AegisManifestPlaceholder {}

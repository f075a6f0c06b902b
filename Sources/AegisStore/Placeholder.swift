enum AegisStorePlaceholder {}

enum AegisControlPlaceholder {}

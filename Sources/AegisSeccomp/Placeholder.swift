enum SeccompPlaceholder {}

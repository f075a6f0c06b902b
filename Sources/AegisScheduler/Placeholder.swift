enum AegisSchedulerPlaceholder {}

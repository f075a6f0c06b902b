enum CgroupPlaceholder {}

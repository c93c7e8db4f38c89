"""One submission end to end: options (:mod:`.options`), the composition root (:mod:`.root`), the
pipeline (:mod:`.submission`), what it answers (:mod:`.types`), its outcomes (:mod:`.outcome_book`) and
report (:mod:`.report`)."""

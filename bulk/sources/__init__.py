"""Where updates come from: any iterable or async iterable, read ahead in bounded chunks
(:mod:`.readahead`); files read and validated in a second process (:mod:`.files`, the child is
:mod:`.reader_process`); a SQL query streamed through a server-side cursor (:mod:`.sql`)."""

"""Links between any two records (`(kind, id)` to `(kind, id)`) with a named relation:
incidents related to each other, a complaint caused by an incident, knowledge taken from
its source. Kept in the kernel so no module has to import another to link to it."""

"""Comments on any record, public or internal, in the record's one timeline."""

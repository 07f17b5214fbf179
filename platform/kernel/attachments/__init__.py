"""Attachments: files on any record `(kind, id)`, sniffed, size-limited and streamed."""

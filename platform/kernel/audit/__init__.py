"""Audit history: every change of every audited record, field by field."""

from openitsm.kernel.audit.capture import Audited, FieldChangeData, RecordEventData

__all__ = ["Audited", "FieldChangeData", "RecordEventData"]

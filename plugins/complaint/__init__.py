"""Complaint handling (投诉处理): register complaints, route them to the responsible department,
give feedback, close, rate, and archive them to knowledge."""

"""Incident management (事件管理): register, route, work, resolve, close and rate incidents."""

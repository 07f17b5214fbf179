"""The web pages: server-rendered jinja2 with htmx, assembled from what plugins declare.

Plugins declare menus (`register_menus`) and workbench widgets (`register_widgets`); the
web layer renders them inside one layout, filtered by the viewer's actions, in zh-CN or en.
"""

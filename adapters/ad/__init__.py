"""Directory sign-in and sync over LDAP (OpenLDAP, Active Directory).

Users sign in with their directory password as `user@realm`, `DOMAIN\\user` or their plain
login; a periodic task mirrors accounts, OUs and group-derived role codes. With no
`[plugins.ad] server` configured the plugin does nothing.
"""

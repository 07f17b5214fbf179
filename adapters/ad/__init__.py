"""Directory sign-in and sync over LDAP (Active Directory, Samba AD, OpenLDAP).

Users sign in with their directory password as `user@realm`, `DOMAIN\\user` or their plain
login, or through Kerberos on domain-joined machines; a periodic task mirrors accounts, turns
OUs into departments and grants kernel roles from group membership. With no
`[plugins.ad] server` configured the plugin does nothing.
"""

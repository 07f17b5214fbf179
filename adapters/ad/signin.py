"""Sign-in with directory credentials: find the entry, bind as it, mirror the user."""

from __future__ import annotations

import logging

from ldap3.core.exceptions import LDAPException
from sqlalchemy.orm import Session

from openitsm.adapters.ad.accounts import LoginTaken, deactivate, find_account, mirror
from openitsm.adapters.ad.directory import Directory, DirectoryUnavailable, split_login
from openitsm.adapters.ad.settings import Settings
from openitsm.kernel.hookspecs import CredentialsCheck

log = logging.getLogger("openitsm.adapters.ad")


def authenticate(
    session: Session, settings: Settings, login: str, password: str
) -> CredentialsCheck | None:
    """A `CredentialsCheck` with the user on success or `unavailable`; None otherwise.

    None (not a refusal) for unknown logins and wrong passwords lets the local password
    check run next, so local administrators keep working beside the directory.
    """
    if not settings.configured:
        return None
    name = split_login(login, settings)
    if name is None or not password:
        return None
    directory = Directory(settings)
    try:
        connection = directory.service_connection()
        try:
            entry = directory.find_user(connection, name)
        finally:
            connection.unbind()
        if entry is None:
            return None
        if entry.disabled:
            account = find_account(session, entry)
            if account is not None:
                deactivate(session, account)
            return None
        if not directory.check_password(entry.dn, password):
            return None
    except (DirectoryUnavailable, LDAPException) as exc:
        log.warning("directory sign-in for %r failed: %s", name, exc)
        return CredentialsCheck(unavailable=True, detail=str(exc))
    try:
        user = mirror(session, entry, settings)
    except LoginTaken:
        log.warning("directory user %s matches a local account with a password; refused", entry.dn)
        return None
    return CredentialsCheck(user_id=user.id)

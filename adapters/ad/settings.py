"""The `[plugins.ad]` table; the bind password comes from OPENITSM_PLUGINS_AD_BIND_PASSWORD."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from openitsm.kernel import PluginSettings

# What `kind = "active_directory"` changes, unless the setting is given explicitly.
ACTIVE_DIRECTORY_DEFAULTS = {
    "user_filter": "(&(objectCategory=person)(objectClass=user))",
    "login_attributes": ["sAMAccountName", "userPrincipalName"],
    "nested_groups": "in_chain",
}


class Settings(PluginSettings):
    kind: Literal["openldap", "active_directory"] = Field(
        default="openldap",
        description="active_directory: user filter (&(objectCategory=person)(objectClass=user)), "
        "logins sAMAccountName/userPrincipalName, nested groups by LDAP_MATCHING_RULE_IN_CHAIN; "
        "disabled accounts by userAccountControl bit 2 and ids from objectGUID either way.",
    )
    server: str | None = Field(
        default=None, description="ldap://host:389 or ldaps://host:636; unset: the plugin is off."
    )
    start_tls: bool = Field(default=False, description="Upgrade ldap:// with StartTLS.")
    verify_certificates: bool = Field(default=True, description="Check the server certificate.")
    ca_file: Path | None = Field(default=None, description="PEM bundle that signed the server.")
    tls_server_name: str | None = Field(
        default=None,
        description="Name the certificate may carry besides the server URL's host "
        "(a DC reached by address, e.g. dc1.example.com).",
    )
    bind_dn: str | None = Field(default=None, description="Service account for searches.")
    bind_password: SecretStr | None = Field(
        default=None, description="From the environment, or set on the site page (write-only)."
    )
    base_dn: str = Field(default="", description="Where users, groups and OUs are searched.")
    user_filter: str = "(objectClass=inetOrgPerson)"
    group_filter: str = "(|(objectClass=groupOfNames)(objectClass=group))"
    login_attributes: list[str] = Field(
        default_factory=lambda: ["uid"],
        description="Attributes a login may match; the first becomes the local login.",
    )
    realm: str | None = Field(default=None, description="Accepts `user@<realm>`.")
    netbios_domain: str | None = Field(default=None, description="Accepts `<DOMAIN>\\user`.")
    disabled_dn: str | None = Field(
        default=None,
        description="Entries under this DN count as disabled (OpenLDAP convention).",
    )
    group_roles: dict[str, str] = Field(
        default_factory=dict,
        description="Group DN or CN -> code of the kernel role its members (nested ones "
        "included) are granted; the directory revokes only roles it granted.",
    )
    nested_groups: Literal["expand", "in_chain", "off"] = Field(
        default="expand",
        description="expand: follow groups in groups here (any LDAP server); in_chain: let "
        "Active Directory do it (LDAP_MATCHING_RULE_IN_CHAIN); off: direct members only.",
    )
    kerberos: bool = Field(
        default=False, description="Offer Kerberos single sign-on at /sign-in/negotiate."
    )
    keytab: Path | None = Field(
        default=None, description="Keytab with the HTTP service key; default: KRB5_KTNAME."
    )
    service_principal: str | None = Field(
        default=None,
        description="HTTP/<host name browsers use>; unset: any service key in the keytab.",
    )
    timeout: int = Field(default=3, ge=1, le=60, description="Seconds per network step.")
    sync_interval_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, values: object) -> object:
        if isinstance(values, dict) and values.get("kind") == "active_directory":
            return {**ACTIVE_DIRECTORY_DEFAULTS, **values}
        return values

    @field_validator("service_principal")
    @classmethod
    def _service_and_host(cls, value: str | None) -> str | None:
        if value is not None and (value.count("/") != 1 or "@" in value):
            raise ValueError("use service/host, e.g. HTTP/itsm.example.com")
        return value

    @field_validator("server")
    @classmethod
    def _ldap_url(cls, value: str | None) -> str | None:
        if value is not None and not value.lower().startswith(("ldap://", "ldaps://")):
            raise ValueError("use an ldap:// or ldaps:// URL")
        return value

    @field_validator("login_attributes")
    @classmethod
    def _some_attribute(cls, value: list[str]) -> list[str]:
        if not value or not all(name.replace("-", "").isalnum() for name in value):
            raise ValueError("name at least one attribute, letters, digits and '-' only")
        return value

    @property
    def configured(self) -> bool:
        return bool(self.server)

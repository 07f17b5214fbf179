"""The `[plugins.ad]` table; the bind password comes from OPENITSM_PLUGINS_AD_BIND_PASSWORD."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from openitsm.kernel import PluginSettings


class Settings(PluginSettings):
    server: str | None = Field(
        default=None, description="ldap://host:389 or ldaps://host:636; unset: the plugin is off."
    )
    start_tls: bool = Field(default=False, description="Upgrade ldap:// with StartTLS.")
    verify_certificates: bool = Field(default=True, description="Check the server certificate.")
    ca_file: Path | None = Field(default=None, description="PEM bundle that signed the server.")
    bind_dn: str | None = Field(default=None, description="Service account for searches.")
    bind_password: SecretStr | None = Field(default=None, description="From the environment.")
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
        default_factory=dict, description="Group DN or CN -> role code given to its members."
    )
    timeout: int = Field(default=3, ge=1, le=60, description="Seconds per network step.")
    sync_interval_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)

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

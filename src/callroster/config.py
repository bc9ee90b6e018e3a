"""Configuration from environment (``CALLROSTER_*``), an optional TOML file, and defaults.

The defaults are the embedded set a fresh install runs with: SQLite under ``./var``,
SIP on 127.0.0.1:5060, web on http://127.0.0.1:8000.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callroster.bridge.dial_policy import DialPolicy, country_list, type_list
from callroster.errors import ConfigError
from callroster.privacy.retention import RetentionPolicy, parse_overrides

REGIONS = ("chicago", "miami", "london", "hong-kong", "sydney", "johannesburg")


class Settings(BaseSettings):
    """Everything an operator can set. Environment variables are ``CALLROSTER_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="CALLROSTER_", extra="forbid")

    data: Path = Field(default=Path("var"), description="Data folder (SQLite file, master key)")
    database_url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql+psycopg://user:pass@host/db; "
        "default sqlite file in the data folder",
    )
    master_key: SecretStr | None = Field(
        default=None, description="Master key ring as text (see docs); overrides the key file"
    )
    master_key_file: Path | None = Field(
        default=None, description="Master key ring file; default <data>/master.key"
    )
    key_watch_seconds: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="How often a running service checks whether a data key it holds in "
        "memory was destroyed elsewhere (a shred from the command line or another node); "
        "it then drops the key and the account's calls. As often, it follows the public "
        "profiles changed on another node of the users with a browser on its calls",
    )
    bind: str = Field(
        default="127.0.0.1",
        description="Address SIP, media and web listen on; an IPv4 and an IPv6 address, "
        "comma-separated, to serve both (e.g. 0.0.0.0,::)",
    )
    sip_port: int = Field(default=5060, ge=0, le=65535)
    http_port: int = Field(default=8000, ge=0, le=65535)
    public_host: str | None = Field(
        default=None, description="Host name put in URIs and links; default the bind address"
    )
    public_url: str | None = Field(
        default=None,
        description="Where people reach the web app when a reverse proxy or a port mapping "
        "stands in front (e.g. https://conference.example.net): the base of every link in "
        "pages, emails and invitations; default scheme://public_host:http_port",
    )
    region: str = Field(default="london", description="Home region of this node")
    directory_file: Path | None = Field(
        default=None, description="CSV (number,name) of a third-party directory for names"
    )
    directory_countries: str = Field(
        default="",
        description="Countries (ISO codes, comma-separated) where the directory "
        "may be consulted; empty: nowhere",
    )
    dial_out_ring_seconds: float = Field(
        default=45.0, gt=0, le=300, description="How long a dialled phone may ring unanswered"
    )
    dial_out_blocked: str = Field(
        default="",
        description="Number prefixes (E.164, comma-separated) never called even where the "
        "allow list (dial_out_countries, dial_out_number_types) would let them through",
    )
    dial_out_countries: str = Field(
        default="GB,IE,US,CA",
        description="Countries (ISO codes, comma-separated) the service may call for a host "
        "or click-to-call; 001 for satellite and international networks (+881, +882, +883, "
        "+870, +979...)",
    )
    dial_out_guest_countries: str = Field(
        default="GB",
        description="Countries a guest may ask to be called in ('we call you'); only those "
        "also in dial_out_countries count",
    )
    dial_out_number_types: str = Field(
        default="fixed_line,mobile,fixed_line_or_mobile,toll_free",
        description="Kinds of number (phonenumbers' types, comma-separated) that may be "
        "called; add premium_rate, shared_cost, uan, personal_number, pager, voicemail or "
        "voip to allow them",
    )
    dial_out_max_seconds: float = Field(
        default=14400.0, gt=0, description="Longest a dialled call may last; then it is hung up"
    )
    dial_out_per_account_per_day: int = Field(
        default=200,
        ge=0,
        description="Calls the service may place for one account in any 24 hours (hosts, "
        "guests and click-to-call together)",
    )
    call_me_per_conference: int = Field(
        default=10, ge=0, description="'We call you' calls per conference per 10 minutes"
    )
    call_me_per_address: int = Field(
        default=3, ge=0, description="'We call you' calls per source address per 10 minutes"
    )
    retention_overrides: dict[str, dict[str, int | str]] = Field(
        default_factory=dict,
        description="Retention periods by country, replacing the defaults (call_records 6 "
        "months, purged monthly; service_data 12 months; account_data 12 months after "
        "termination) for accounts whose home region is in that country (chicago and miami: "
        "US, london: GB, hong-kong: HK, sydney: AU, johannesburg: ZA). A table of country "
        'to class to period, e.g. [retention_overrides.DE] call_records = "3 months", '
        "service_data = 90 (days); as JSON in CALLROSTER_RETENTION_OVERRIDES",
    )
    retention_interval_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often `serve` runs the retention purge (in a thread, in small "
        "batches); 0 runs none (run `callroster retention run` instead). Data past its time "
        "is hidden at once whatever this is",
    )
    retention_batch_rows: int = Field(
        default=250,
        ge=1,
        le=50_000,
        description="Rows the purge deletes per transaction: each batch holds the database's "
        "write lock only for itself (250 with a 20 ms rest: a 50-leg call's tick p99 was "
        "unchanged during a purge, bench/results/retention_purge.md)",
    )
    retention_batch_pause_ms: float = Field(
        default=20.0,
        ge=0,
        le=10_000,
        description="How long `serve`'s purge rests after each batch, so that the bridge's "
        "event loop in the same process gets the interpreter back promptly (without a rest, "
        "a purge running flat out made the 20 ms mixing tick late; see bench/results)",
    )
    pin_cooling_off_days: int = Field(
        default=180,
        ge=0,
        le=3650,
        description="Days a PIN taken out of use (reset, deleted conference) is not given again",
    )
    web_join_pending_per_conference: int = Field(
        default=10,
        ge=1,
        description="Browser joins of one conference still connecting at once (offers "
        "answered, no audio yet) before more get 429",
    )
    web_join_pending_per_address: int = Field(
        default=5,
        ge=1,
        description="Browser joins from one address (an IPv6 /64) still connecting at once "
        "before more get 429",
    )
    web_join_connect_seconds: float = Field(
        default=10.0,
        gt=0,
        le=60,
        description="How long a browser join may take to connect (its first audio) before it "
        "is dropped; until then it is on no roster",
    )
    web_joins_per_address_per_minute: int = Field(
        default=30,
        ge=1,
        description="Browser joins (offers answered) from one address per minute",
    )
    crm_allow_private_targets: bool = Field(
        default=False,
        description="Let CRM webhooks go to loopback, private and shared (100.64/10) "
        "addresses, for a CRM on the operator's own network; link-local (cloud metadata), "
        "multicast and reserved addresses stay refused",
    )
    crm_ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) trusted for CRM webhooks' HTTPS beside the "
        "system's, for a CRM with a private CA; a certificate that fails the check is never "
        "sent to",
    )
    audit_anchor_file: Path | None = Field(
        default=None,
        description="Where the audit log's head is anchored, outside the database; "
        "default <data>/audit.anchor",
    )
    trusted_proxies: str = Field(
        default="",
        description="Addresses or networks (comma-separated) of the reverse proxies whose "
        "X-Forwarded-For is believed; empty: nobody's, the connection's address counts",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="Certificate chain (PEM, the server's certificate first) the web port "
        "serves HTTPS with; set with tls_key_file, or neither for plain HTTP. Re-read when "
        "the file changes",
    )
    tls_key_file: Path | None = Field(
        default=None, description="Private key (PEM, not encrypted) of tls_cert_file"
    )
    tls_reload_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="How often the certificate and key files are checked for a change "
        "(a renewal is served without a restart)",
    )
    http_redirect_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="With HTTPS on, a plain-HTTP port that answers every request with a "
        "redirect (308) to the same path over HTTPS; none: no plain-HTTP port",
    )
    sip_calls_per_source: int = Field(
        default=20,
        ge=1,
        description="Calls at once from one address (an IPv6 /64) before more get 503",
    )
    sip_trusted_peers: str = Field(
        default="",
        description="Addresses or networks (comma-separated) of SIP proxies and carrier "
        "edges in front of the bridge, which send everyone's calls: no per-address limit, "
        "and their P-Asserted-Identity is believed (verified caller ID)",
    )
    sip_tls_port: int = Field(
        default=5061,
        ge=0,
        le=65535,
        description="Port SIP over TLS (sips:, transport=tls) is taken on, when "
        "sip_tls_cert_file is set",
    )
    sip_tls_cert_file: Path | None = Field(
        default=None,
        description="Certificate chain (PEM, the server's first) of SIP over TLS; set with "
        "sip_tls_key_file, or neither for no TLS listener (trunks can still use TLS)",
    )
    sip_tls_key_file: Path | None = Field(
        default=None, description="Private key (PEM, not encrypted) of sip_tls_cert_file"
    )
    sip_tls_client_ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) of the client certificates the SIP TLS port asks "
        "for: over TLS, a sip_trusted_peers address is trusted only if it presented one "
        "they verify (else it is an ordinary caller); none: no client certificate asked",
    )
    sip_tls_ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) that sips: trunks' certificates are verified "
        "against instead of the system's (a carrier with a private CA)",
    )
    smtp_host: str | None = Field(
        default=None,
        description="Mail server invitations are emailed through; none: invitations can be "
        "copied and downloaded but not emailed",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (upgrade on the submission port, 587), tls (implicit TLS, "
        "port 465) or none (a relay on the same machine or network only)",
    )
    smtp_ca_file: Path | None = Field(
        default=None,
        description="CA certificates (PEM) trusted for the mail server's TLS beside the "
        "system's, for a relay with a private CA",
    )
    smtp_username: str | None = Field(default=None, description="Sign-in at the mail server")
    smtp_password: SecretStr | None = Field(default=None)
    smtp_from: str | None = Field(
        default=None,
        description="From address of invitations; default invitations@<public_host>",
    )
    invitations_per_sending: int = Field(
        default=50, ge=1, le=500, description="Addresses one invitation may be emailed to"
    )
    invitations_per_host_per_day: int = Field(
        default=200,
        ge=1,
        description="Invitation emails the conferences of one host may send in 24 hours",
    )
    friend_invitations_per_sender_per_day: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Tell a Friend invitations one person may send in 24 hours",
    )
    friend_invitations_per_account_per_day: int = Field(
        default=100,
        ge=1,
        le=100_000,
        description="Tell a Friend invitations the people of one account may send in 24 hours",
    )
    privacy_request_days: int = Field(
        default=30,
        ge=1,
        le=90,
        description="Days a data-subject request (access, rectification, erasure, marketing "
        "opt-out) must be answered in, from when it was made: the statutory deadline the "
        "operator's queue tracks; past it, an open request is flagged overdue",
    )
    consent_records_per_source_hour: int = Field(
        default=60,
        ge=1,
        le=100_000,
        description="Consent records (cookie banner, settings, GPC) one network (an IPv4 /24, "
        "an IPv6 /48) may create in an hour; beyond it the consent is refused with 429 and "
        "not recorded, so that no one source can fill the database",
    )
    consent_proof_days: int = Field(
        default=1095,
        ge=0,
        le=3650,
        description="Days a consent record is kept after the consent itself ended (replaced "
        "by a later choice, or one month after it was given, when the compliance cookie "
        "expires), as proof of what was consented to; default 3 years",
    )
    node_name: str | None = Field(
        default=None,
        max_length=64,
        description="This node's name among the nodes sharing a database, the same from one "
        "start to the next: what a crash of it left open is closed by its own next start; "
        "default the host name",
    )
    log_level: str = Field(default="info")
    log_format: str = Field(
        default="json",
        pattern="^(json|text)$",
        description="How `serve` writes its log: json (one JSON object a line) or text",
    )
    metrics_allowed_networks: str = Field(
        default="",
        description="Addresses or networks (comma-separated) that may read /metrics "
        "without a token, besides loopback; any other caller needs an operator token",
    )

    @model_validator(mode="after")
    def _tls_is_whole(self) -> Settings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both tls_cert_file and tls_key_file, or neither")
        if self.http_redirect_port is not None:
            if not self.tls_enabled:
                raise ValueError("http_redirect_port redirects to HTTPS: set tls_cert_file too")
            if self.http_redirect_port == self.http_port != 0:
                raise ValueError("http_redirect_port must differ from http_port")
            if not self.redirect_hosts:
                raise ValueError(
                    "http_redirect_port needs public_host when bind is 0.0.0.0 or ::: "
                    "a redirect names the host to go to"
                )
        return self

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        """An origin only: http(s), a host, an optional port; no path, query or fragment
        (links are built by appending paths to it)."""
        if value is None or not value.strip():
            return None
        parsed = urlsplit(value.strip())
        try:
            port_ok = parsed.port is None or 0 < parsed.port < 65536
        except ValueError:
            port_ok = False
        if (
            parsed.scheme not in ("http", "https")
            or not parsed.hostname
            or not port_ok
            or parsed.path not in ("", "/")
            or parsed.query
            or parsed.fragment
            or parsed.username is not None
        ):
            raise ValueError("must be http:// or https:// and a host (and port), nothing more")
        return f"{parsed.scheme}://{parsed.netloc}"

    @field_validator("bind")
    @classmethod
    def _bind_is_an_address(cls, value: str) -> str:
        families: set[int] = set()
        for part in value.split(","):
            try:
                address = ipaddress.ip_address(part.strip())
            except ValueError as exc:
                raise ValueError(f"not an IP address: {part.strip()!r}") from exc
            if address.version in families:
                raise ValueError(f"two IPv{address.version} addresses in {value!r}; one of each")
            families.add(address.version)
        return ",".join(part.strip() for part in value.split(","))

    @field_validator("trusted_proxies", "sip_trusted_peers", "metrics_allowed_networks")
    @classmethod
    def _proxies_are_addresses(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP address or network: {part!r}") from exc
        return ",".join(parts)

    @field_validator("dial_out_countries", "dial_out_guest_countries")
    @classmethod
    def _countries_are_known(cls, value: str) -> str:
        return ",".join(sorted(country_list(value)))

    @field_validator("dial_out_number_types")
    @classmethod
    def _types_are_known(cls, value: str) -> str:
        type_list(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("sqlite://", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        if value.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; spell it out so SQLAlchemy does not look for 2.
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("retention_overrides")
    @classmethod
    def _overrides_are_periods(
        cls, value: dict[str, dict[str, int | str]]
    ) -> dict[str, dict[str, int | str]]:
        parse_overrides(value)  # a wrong country, class or period fails at load
        return value

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        if value not in REGIONS:
            raise ValueError(f"unknown region {value!r}; one of {', '.join(REGIONS)}")
        return value

    @property
    def directory_country_codes(self) -> list[str]:
        return [c.strip().upper() for c in self.directory_countries.split(",") if c.strip()]

    @property
    def dial_out_blocked_prefixes(self) -> list[str]:
        return [p.strip() for p in self.dial_out_blocked.split(",") if p.strip()]

    @property
    def dial_policy(self) -> DialPolicy:
        return DialPolicy.of(
            self.dial_out_countries, self.dial_out_guest_countries, self.dial_out_number_types
        )

    @property
    def trusted_proxy_list(self) -> list[str]:
        return self.trusted_proxies.split(",") if self.trusted_proxies else []

    @property
    def metrics_networks(self) -> tuple[str, ...]:
        networks = self.metrics_allowed_networks
        return tuple(networks.split(",")) if networks else ()

    @property
    def sip_trusted_networks(self) -> tuple[str, ...]:
        return tuple(self.sip_trusted_peers.split(",")) if self.sip_trusted_peers else ()

    @property
    def retention_policy(self) -> RetentionPolicy:
        return RetentionPolicy.from_overrides(self.retention_overrides)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data / 'callroster.db').resolve()}"

    @property
    def resolved_master_key_file(self) -> Path:
        return self.master_key_file or (self.data / "master.key")

    @property
    def resolved_audit_anchor_file(self) -> Path:
        return self.audit_anchor_file or (self.data / "audit.anchor")

    @property
    def resolved_node_name(self) -> str:
        return self.node_name or socket.gethostname()[:64]

    @property
    def bind_addresses(self) -> list[str]:
        """The addresses to listen on: one, or an IPv4 and an IPv6 one (the first is the
        one links and the banner name)."""
        return self.bind.split(",")

    @property
    def host_for_links(self) -> str:
        return self.public_host or self.bind_addresses[0]

    @property
    def tls_enabled(self) -> bool:
        """Whether the web port speaks HTTPS (and only HTTPS)."""
        return self.tls_cert_file is not None and self.tls_key_file is not None

    @property
    def web_base_url(self) -> str:
        if self.public_url is not None:
            return self.public_url
        scheme = "https" if self.tls_enabled else "http"
        return f"{scheme}://{_bracketed(self.host_for_links)}:{self.http_port}"

    @property
    def web_listening(self) -> str:
        """The web's address for the banner, and the plain-HTTP port that redirects to it."""
        if self.tls_enabled and self.http_redirect_port is not None:
            return f"{self.web_base_url} (plain http port {self.http_redirect_port} redirects)"
        return self.web_base_url

    @property
    def redirect_hosts(self) -> tuple[str, ...]:
        """The host names a redirect to HTTPS may name: public_host when set, else the bind
        addresses that are not the unspecified one (0.0.0.0, ::). A request's Host header
        picks among them, never adds to them: no redirect to a host an attacker wrote."""
        if self.public_host:
            return (self.public_host,)
        return tuple(a for a in self.bind_addresses if not ipaddress.ip_address(a).is_unspecified)

    @property
    def invitation_sender(self) -> str:
        """The From address of invitation emails."""
        return self.smtp_from or f"invitations@{self.public_host or 'localhost'}"

    @property
    def sip_hostport(self) -> str:
        """Where phones reach us, as a SIP URI's host and port (an IPv6 address bracketed,
        RFC 3261 19.1.1: ``sip:123@[::1]:5060``)."""
        return f"{_bracketed(self.host_for_links)}:{self.sip_port}"

    @property
    def sip_listening(self) -> str:
        """Every address and port SIP listens on, for the banner (``127.0.0.1:5060 and
        [::1]:5060``)."""
        return " and ".join(f"{_bracketed(a)}:{self.sip_port}" for a in self.bind_addresses)

    @property
    def sip_tls_listening(self) -> str:
        """Where SIP over TLS listens, for the banner (``, tls 127.0.0.1:5061``), or ''."""
        if self.sip_tls_cert_file is None:
            return ""
        return ", tls " + " and ".join(
            f"{_bracketed(a)}:{self.sip_tls_port}" for a in self.bind_addresses
        )


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Load settings: explicit overrides > environment > config file > defaults.

    Raises:
        ConfigError: with one line naming the bad setting.
    """
    file_values: dict[str, Any] = {}
    path = config_file or (Path(p) if (p := os.environ.get("CALLROSTER_CONFIG")) else None)
    if path is not None:
        try:
            file_values = tomllib.loads(path.read_text())
        except FileNotFoundError as exc:
            raise ConfigError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    env_names = {
        name for name in Settings.model_fields if f"CALLROSTER_{name.upper()}" in os.environ
    }
    # Environment beats the file: drop file values the environment sets.
    init = {k: v for k, v in file_values.items() if k not in env_names}
    init.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**init)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        if not where:  # a rule between settings (_tls_is_whole): its message names them
            raise ConfigError(
                f"bad settings: {first['msg'].removeprefix('Value error, ')}"
            ) from exc
        raise ConfigError(f"bad setting {where}: {first['msg']}") from exc

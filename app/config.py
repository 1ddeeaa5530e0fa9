"""Settings: an Ocrch TOML file, our additive sections, and STABLECHECKOUT_* environment overrides.

An unchanged Ocrch config must load, so every Ocrch key keeps its name and meaning (api.md §7) and
the `[api_keys]` table is accepted and ignored. Precedence: environment > file > defaults.
"""

from __future__ import annotations

import os
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app import secret_policy
from app.addresses import normalize_address
from app.chains import CHAINS, Blockchain, ChainFamily, Coin
from app.money import AmountError, Margin

DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///stablecheckout.db"


class ConfigError(Exception):
    """A configuration problem, worded for the operator who has to fix the file."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    listen: str = "0.0.0.0:8080"
    public_url: str | None = None
    """Where shoppers reach this server, for checkout links; defaults to the listen address."""
    trusted_proxies: list[str] = Field(default_factory=list)
    """Peers (CIDRs) whose `X-Forwarded-For` is believed; limits key on the client behind them."""
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    """A request's line and headers must arrive within this time, or the connection gets 408."""
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    """A request's whole body must arrive within this time after its headers, or 408."""
    max_connections: int = Field(default=20000, ge=0)
    """Open connections (WebSockets included) per process before new ones get 503; 0: no cap."""

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        from app.security.limits import parse_networks

        return [str(network) for network in parse_networks(value)]

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        parse_listen(value)
        return value


def _secret_error(value: str, minimum: int) -> None:
    message = secret_policy.problem(value, minimum)
    if message is not None:
        raise PydanticCustomError("weak_secret", "{message}", {"message": message})


class AdminSettings(_Section):
    secret: str = Field(min_length=1)

    @field_validator("secret")
    @classmethod
    def _strong(cls, value: str) -> str:
        """A plaintext secret must be strong; an argon2 hash (`$argon2…`) is taken as it is."""
        if not value.startswith("$argon2"):
            _secret_error(value, secret_policy.MIN_ADMIN_SECRET)
        return value


class MerchantSettings(_Section):
    name: str
    secret: str = Field(min_length=1)
    allowed_origins: list[str] = Field(default_factory=list)
    unknown_transfer_webhook_url: str | None = None

    @field_validator("secret")
    @classmethod
    def _strong(cls, value: str) -> str:
        _secret_error(value, secret_policy.MIN_MERCHANT_SECRET)
        return value


class WalletSettings(_Section):
    blockchain: Blockchain
    address: str = Field(min_length=1)
    enabled_coins: list[Coin] = Field(min_length=1)
    starting_tx: str | None = None
    test: bool = False
    """A test-mode wallet: only orders of test-mode Checkout Sessions (`sk_test_` keys) take
    amounts here, and they take them nowhere else (docs/checkout-sessions.md, "Test mode")."""

    @field_validator("address")
    @classmethod
    def _address_for_chain(cls, value: str, info: ValidationInfo) -> str:
        blockchain = info.data.get("blockchain")
        if blockchain is None:  # the blockchain itself is invalid and reported on its own
            return value
        try:
            return normalize_address(Blockchain(blockchain), value)
        except ValueError as exc:
            raise PydanticCustomError("address", "{message}", {"message": str(exc)}) from None


class OrderSettings(_Section):
    ttl_seconds: int = Field(default=1800, ge=60, le=30 * 86400)
    """Lifetime of an order whose create request gives no `expires_in`."""
    max_ttl_seconds: int = Field(default=7 * 86400, ge=60)
    late_payment_window_seconds: int = Field(default=86400, ge=0)
    amount_step: Decimal = Field(default=Decimal("0.0001"), gt=0)
    """Smallest increment added to make a deposit amount unique on a wallet."""
    amount_step_max_tries: int = Field(default=1000, ge=1)
    expiry_sweep_interval_seconds: float = Field(default=1.0, gt=0)
    match_clock_skew_seconds: int = Field(default=5, ge=0)
    """How far a transfer's block time may precede its deposit and still pay it (clock drift)."""
    max_amount: Decimal = Field(default=Decimal(10**12), gt=0, le=Decimal(10**30))
    """Largest order amount in coin units; larger create requests get 400."""


MarginSetting = Annotated[Margin, PlainSerializer(str, return_type=str)]


class PaymentSettings(_Section):
    """How payments that are not exact are treated (docs/payments.md)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    match_band: MarginSetting = Field(default_factory=lambda: Margin.parse("2%"))
    """A transfer equal to no deposit is attributed to the single reserved deposit on its
    chain, token and wallet whose amount lies within this band (a percentage of the deposit's
    amount, or an absolute coin amount; edges included). "0": exact amounts only."""
    underpayment_tolerance: MarginSetting = Field(default_factory=lambda: Margin.parse("0"))
    """A shortfall up to this (percentage of the order's amount, or coin amount) still pays the
    order, flagged `underpaid`."""
    accept_partial: bool = True
    """A larger shortfall is kept and the shopper is asked for the rest (a remainder deposit)."""
    accept_late: bool = False
    """A full payment made after the order expired (within the late window) pays it."""

    @field_validator("match_band", "underpayment_tolerance", mode="before")
    @classmethod
    def _margin(cls, value: Any) -> Margin:
        try:
            return Margin.parse(value)
        except AmountError as exc:
            raise PydanticCustomError("margin", "{message}", {"message": str(exc)}) from None


class SecuritySettings(_Section):
    signature_max_age_seconds: int = Field(default=300, ge=1)
    signature_max_future_seconds: int = Field(default=300, ge=-1)
    """Signatures dated further ahead are refused; -1 restores Ocrch's unbounded rule."""
    signed_url_binds_order: bool = True
    """A signed URL opens only the order named by its `order_id` query (false: Ocrch's rule)."""
    max_body_bytes: int = 1024 * 1024
    user_rate_limit_per_minute: int = Field(default=600, ge=0)
    """User API requests and WebSocket upgrades per client per minute; 0: no limit."""
    admin_auth_attempts_per_window: int = Field(default=10, ge=0)
    """Admin secret checks (argon2 runs) per client per window; 0: no limit."""
    admin_auth_attempts_per_window_total: int = Field(default=100, ge=0)
    """Admin secret checks from all clients together per window; 0: no limit."""
    admin_auth_window_seconds: float = Field(default=60.0, gt=0)
    admin_auth_concurrency: int = Field(default=2, ge=1)
    """argon2 verifications running at once per process (each takes 19 MiB and ~20 ms of CPU)."""
    websocket_max_per_order: int = Field(default=10, ge=0)
    """Open order WebSockets per order per process; 0: no cap."""
    websocket_max_per_client: int = Field(default=50, ge=0)
    """Open order WebSockets per client address per process; 0: no cap."""
    qr_rate_limit_per_minute: int = Field(default=120, ge=0)
    """`/checkout/qr.svg` renders per client per minute (cached answers count too); 0: no limit."""


class MetricsSettings(_Section):
    token: str | None = None
    """Bearer token `/metrics` demands; unset: it answers loopback, unproxied clients only."""


class WebhookSettings(_Section):
    allow_private_targets: bool = False
    max_age_seconds: int = Field(default=86400, ge=0)
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_url_length: int = 2048
    concurrency: int = Field(default=50, ge=1)
    """Deliveries in flight at once per sender process."""
    poll_interval_seconds: float = Field(default=0.2, gt=0)
    """How often a sender looks for rows written by other processes."""
    first_retry_seconds: float = Field(default=2.0, gt=0)
    max_retry_interval_seconds: float = Field(default=3600.0, gt=0)
    format: Literal["ocrch", "seed002"] = "ocrch"
    """How Ocrch order webhooks are written: Ocrch's `order_status_changed`, or seed 002's
    `payment-authorized` callback (docs/compatibility.md)."""


class CheckoutSettings(_Section):
    signature_refresh_url: str | None = None
    """Merchant endpoint the hosted page calls for a fresh signature once its own expired."""
    frontend_dir: str | None = None
    """Serve the checkout page from this directory instead of the bundled `frontend/`."""


class _SignedWebhooks(_Section):
    """A section whose events go to `webhook_url`, signed with its own `webhook_secret`."""

    KIND: ClassVar[str]
    """Whose webhooks, in the error text (`session`, `dialect`)."""
    webhook_url: str | None = None
    """Where the events go; none: nothing is sent (the objects are read back with GET)."""
    webhook_secret: str | None = None
    """HMAC key of the webhooks (`whsec_…`), required with `webhook_url`: its own key, never
    `[merchant].secret`, so a receiver that leaks it cannot sign Ocrch requests."""

    @field_validator("webhook_secret")
    @classmethod
    def _strong(cls, value: str | None) -> str | None:
        if value is not None:
            _secret_error(value, secret_policy.MIN_WEBHOOK_SECRET)
        return value

    @model_validator(mode="after")
    def _secret_with_url(self) -> Self:
        if self.webhook_url and not self.webhook_secret:
            raise PydanticCustomError(
                "missing_secret",
                f"webhook_secret is required when webhook_url is set ({self.KIND} webhooks are "
                "signed with their own key, not [merchant].secret): generate one with "
                "`stablecheckout gen-secret --webhook`",
            )
        return self


class CheckoutSessionSettings(_SignedWebhooks):
    """The hosted front door (`/api/v1/checkout/sessions`, docs/checkout-sessions.md); its
    `webhook_url` receives `checkout.session.*` events."""

    KIND: ClassVar[str] = "session"
    redirect_allowed_hosts: list[str] = Field(default_factory=list)
    """Hosts `success_url`/`cancel_url` may point at (`shop.example`, `*.shop.example`, `*`)."""
    default_ttl_seconds: int = Field(default=1800, ge=60)
    """Lifetime of a session created without `expires_at`."""
    max_ttl_seconds: int = Field(default=86400, ge=60)
    max_sessions_per_minute_per_key: int = Field(default=120, ge=0)
    """Sessions one API key may create in any 60 s (429 beyond; 0: no limit)."""
    max_open_sessions_per_key: int = Field(default=2000, ge=0)
    """Open, unexpired sessions one API key may hold, which bounds the unique amounts it can keep
    reserved (429 beyond; 0: no limit)."""


class DialectWebhookSettings(_SignedWebhooks):
    """One API dialect's webhooks (`[dialects.opencheckout]`, `[dialects.ovgc]`): where its
    sessions' events go and the key that signs them, its own, never `[merchant].secret`."""

    KIND: ClassVar[str] = "dialect"


class DialectsSettings(_Section):
    """API dialects served beside our own (docs/compatibility.md)."""

    opencheckout: DialectWebhookSettings = Field(default_factory=DialectWebhookSettings)
    ovgc: DialectWebhookSettings = Field(default_factory=DialectWebhookSettings)


class TokenSettings(_Section):
    contract: str
    decimals: int = Field(ge=0, le=36)


class ChainSettings(_Section):
    rpc_urls: list[str] = Field(default_factory=list)
    api_urls: list[str] = Field(default_factory=list)
    api_key: str = ""
    confirmations: int | None = Field(default=None, ge=0)
    poll_interval_seconds: float = Field(default=2.0, gt=0)
    start_block: int | None = Field(default=None, ge=0)
    chain_id: int | None = None
    tokens: dict[Coin, TokenSettings] = Field(default_factory=dict)


RateSourceName = Literal["coinbase", "kraken", "binance"]
_RATE_SOURCE_URLS = {
    "coinbase": "https://api.coinbase.com",
    "kraken": "https://api.kraken.com",
    "binance": "https://api.binance.com",
}


def _exact_decimal(value: Any) -> Any:
    """Rates and percentages are written as strings ("0.9200"): a TOML float is not exact."""
    if isinstance(value, float):
        raise PydanticCustomError(
            "decimal_string",
            'write {value} as a string ("{value}"), floats are not exact',
            {"value": value},
        )
    return value


class RateSourceSettings(_Section):
    url: str = Field(min_length=1)
    """Base URL (tests, proxies); the documented path is appended."""
    timeout_seconds: float = Field(default=5.0, gt=0)
    """A source slower than this is skipped for the next one in `sources`."""


class RatesSettings(_Section):
    """Fiat pricing (docs/pricing.md): where rates come from and how long they are trusted."""

    sources: list[RateSourceName] = Field(default_factory=list)
    refresh_seconds: int = Field(default=30, ge=1)
    max_age_seconds: int = Field(default=120, ge=1)
    spread_percent: Decimal = Field(default=Decimal("0"), ge=0, le=100)
    quote_ttl_seconds: int = Field(default=900, ge=1)
    requote_grace_seconds: int = Field(default=300, ge=0)
    """How long a superseded quote's amount still pays the order after the quote expired (the
    shopper may have sent it just before the re-quote); after it, such a transfer is a late
    payment for the operator (docs/pricing.md)."""
    usd_peg: bool = True
    currencies: list[str] = Field(default_factory=list)
    """Fiat currencies orders may be priced in, besides those named in `fixed` (and USD when
    `usd_peg`)."""
    coinbase: RateSourceSettings = Field(
        default_factory=lambda: RateSourceSettings(url=_RATE_SOURCE_URLS["coinbase"])
    )
    kraken: RateSourceSettings = Field(
        default_factory=lambda: RateSourceSettings(url=_RATE_SOURCE_URLS["kraken"])
    )
    binance: RateSourceSettings = Field(
        default_factory=lambda: RateSourceSettings(url=_RATE_SOURCE_URLS["binance"])
    )
    fixed: dict[str, Decimal] = Field(default_factory=dict)
    """Manual rates, `"USDT/EUR" = "0.9200"` (EUR per USDT): they beat every source."""

    @field_validator("spread_percent", mode="before")
    @classmethod
    def _spread_exact(cls, value: Any) -> Any:
        return _exact_decimal(value)

    @field_validator("fixed", mode="before")
    @classmethod
    def _fixed_exact(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for rate in value.values():
                _exact_decimal(rate)
        return value

    @field_validator("currencies")
    @classmethod
    def _iso_currencies(cls, value: list[str]) -> list[str]:
        from app.rates.currencies import CurrencyError, normalize_currency

        try:
            return [normalize_currency(code) for code in value]
        except CurrencyError as exc:
            raise PydanticCustomError("currency", "{message}", {"message": str(exc)}) from None

    @field_validator("fixed")
    @classmethod
    def _fixed_pairs(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        from app.rates.currencies import CurrencyError, normalize_currency

        normalized: dict[str, Decimal] = {}
        for key, rate in value.items():
            coin, sep, fiat = key.partition("/")
            try:
                if not sep:
                    raise ValueError(f'{key!r} is not a pair: write COIN/FIAT, e.g. "USDT/EUR"')
                coin = Coin(coin.strip().upper())
                fiat = normalize_currency(fiat)
            except (ValueError, CurrencyError) as exc:
                raise PydanticCustomError("pair", "{message}", {"message": str(exc)}) from None
            if not rate.is_finite() or rate <= 0:
                raise PydanticCustomError("rate", "rate of {key} must be > 0", {"key": key})
            normalized[f"{coin}/{fiat}"] = rate
        return normalized

    @property
    def fiat_currencies(self) -> list[str]:
        """Every fiat currency an order may be priced in."""
        names = set(self.currencies) | {key.split("/")[1] for key in self.fixed}
        if self.usd_peg:
            names.add("USD")
        return sorted(names)


class EpusdtSettings(_Section):
    """The Epusdt-compatible API (docs/integrations.md): `token` is what clients sign with (MD5).
    MD5 over visible data is cheap to attack offline, so the token is held to the merchant
    secret's rule (32+ characters, no placeholder)."""

    enabled: bool = False
    token: str = ""

    @model_validator(mode="after")
    def _token_when_enabled(self) -> EpusdtSettings:
        if self.enabled:
            if not self.token:
                raise ValueError("[epusdt].token is required when [epusdt].enabled = true")
            _secret_error(self.token, secret_policy.MIN_MERCHANT_SECRET)
        return self


class EpaySettings(_Section):
    """The Epay (易支付) gateway (docs/integrations.md): merchant `pid` and MD5 `key`."""

    enabled: bool = False
    pid: str = "1000"
    key: str = ""

    @model_validator(mode="after")
    def _key_when_enabled(self) -> EpaySettings:
        if self.enabled:
            if not (self.key and self.pid):
                raise ValueError(
                    "[epay].pid and [epay].key are required when [epay].enabled = true"
                )
            _secret_error(self.key, secret_policy.MIN_MERCHANT_SECRET)
        return self


class RefundSettings(_Section):
    """Refund claim links (docs/payments.md, "Refunds")."""

    claim_link_ttl_days: int = Field(default=30, ge=1, le=365)
    """How long a refund claim link opens its page after it was made."""


class Settings(BaseSettings):
    """The whole configuration of one stablecheckout deployment."""

    model_config = SettingsConfigDict(
        env_prefix="STABLECHECKOUT_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    admin: AdminSettings
    merchant: MerchantSettings
    wallets: list[WalletSettings] = Field(default_factory=list)
    api_keys: dict[str, Any] = Field(default_factory=dict)
    """Ocrch's explorer keys: accepted so an Ocrch file loads, unused (we read nodes directly)."""
    orders: OrderSettings = Field(default_factory=OrderSettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    checkout: CheckoutSettings = Field(default_factory=CheckoutSettings)
    checkout_sessions: CheckoutSessionSettings = Field(default_factory=CheckoutSessionSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    dialects: DialectsSettings = Field(default_factory=DialectsSettings)
    chains: dict[Blockchain, ChainSettings] = Field(default_factory=dict)
    rates: RatesSettings | None = None
    """Fiat pricing; absent, orders are priced in coin units only (as in Ocrch)."""
    epusdt: EpusdtSettings = Field(default_factory=EpusdtSettings)
    epay: EpaySettings = Field(default_factory=EpaySettings)
    refunds: RefundSettings = Field(default_factory=RefundSettings)

    database_url: str = Field(default=DEFAULT_SQLITE_URL, exclude=True)
    redis_url: str | None = Field(default=None, exclude=True)
    config_path: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment must win over them.
        return (env_settings, init_settings)

    @field_validator("chains")
    @classmethod
    def _chain_addresses(
        cls, value: dict[Blockchain, ChainSettings]
    ) -> dict[Blockchain, ChainSettings]:
        """Token contract overrides must be addresses of the chain's family (normalized here)."""
        errors: list[InitErrorDetails] = []
        for blockchain, chain in value.items():
            key = str(blockchain)
            if CHAINS[blockchain].family is ChainFamily.TRON and chain.rpc_urls:
                errors.append(
                    _error(
                        (key, "rpc_urls"),
                        "TRON is read over the java-tron HTTP API: list its base URLs in "
                        "api_urls, not rpc_urls",
                        chain.rpc_urls,
                    )
                )
            if CHAINS[blockchain].family is ChainFamily.SOLANA and (
                chain.api_urls
                or (
                    chain.rpc_urls
                    and all(u.startswith(("ws://", "wss://")) for u in chain.rpc_urls)
                )
            ):
                errors.append(
                    _error(
                        (key, "rpc_urls"),
                        "Solana is read over JSON-RPC: list at least one http(s):// URL in "
                        "rpc_urls (ws(s):// URLs there add subscriptions), none in api_urls",
                        chain.rpc_urls or chain.api_urls,
                    )
                )
            for coin, token in chain.tokens.items():
                try:
                    token.contract = normalize_address(blockchain, token.contract)
                except ValueError as exc:
                    errors.append(
                        _error((key, "tokens", str(coin), "contract"), str(exc), token.contract)
                    )
        if errors:
            raise ValidationError.from_exception_data("chains", errors)
        return value

    @field_validator("wallets")
    @classmethod
    def _test_wallets_apart(cls, value: list[WalletSettings]) -> list[WalletSettings]:
        """A wallet is test or live, never both: a transfer to it must match one mode's amounts."""
        modes: dict[tuple[str, str], bool] = {}
        for wallet in value:
            key = (str(wallet.blockchain), wallet.address)
            if modes.setdefault(key, wallet.test) != wallet.test:
                raise PydanticCustomError(
                    "wallet_mode",
                    "{address} on {chain} is listed both as a test wallet and as a live one: "
                    "give test mode its own address",
                    {"address": wallet.address, "chain": str(wallet.blockchain)},
                )
        return value

    @model_validator(mode="after")
    def _separate_webhook_secret(self) -> Settings:
        if self.checkout_sessions.webhook_secret == self.merchant.secret:
            raise PydanticCustomError(
                "reused_secret",
                "[checkout_sessions].webhook_secret must differ from [merchant].secret: "
                "generate one with `stablecheckout gen-secret --webhook`",
            )
        for name in ("opencheckout", "ovgc"):
            dialect: DialectWebhookSettings = getattr(self.dialects, name)
            if dialect.webhook_secret and dialect.webhook_secret == self.merchant.secret:
                raise PydanticCustomError(
                    "reused_secret",
                    "[dialects.{name}].webhook_secret must differ from [merchant].secret: "
                    "generate one with `stablecheckout gen-secret --webhook`",
                    {"name": name},
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _error(loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(
        type=PydanticCustomError("address", "{message}", {"message": message}),
        loc=loc,
        input=value,
    )


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)


def _config_key(loc: tuple[str | int, ...], data: dict[str, Any]) -> str:
    """Where in the file an error is. A `[[wallets]]` entry is also named by its position (from 1)
    and chain, since `wallets.3.address` alone sends the operator counting tables."""
    key = ".".join(str(part) for part in loc) or "(root)"
    if len(loc) >= 2 and loc[0] == "wallets" and isinstance(loc[1], int):
        entries = data.get("wallets")
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else {}
        chain = entry.get("blockchain") if isinstance(entry, dict) else None
        where = f"[[wallets]] entry {loc[1] + 1}" + (f", blockchain = {chain!r}" if chain else "")
        return f"{key} ({where})"
    return key


def _format_validation_error(error: ValidationError, data: dict[str, Any]) -> str:
    lines = []
    for item in error.errors():
        lines.append(f"  {_config_key(item['loc'], data)}: {item['msg']}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(path: str | Path | None, **overrides: Any) -> Settings:
    """Read the TOML file (if any), apply the environment, and validate everything at once."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    data.update(overrides)
    data.setdefault("database_url", os.environ.get("DATABASE_URL") or DEFAULT_SQLITE_URL)
    data.setdefault("redis_url", os.environ.get("REDIS_URL") or None)
    data["config_path"] = path
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(exc, data)) from None

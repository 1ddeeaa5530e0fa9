"""Which receiving address a shopper may claim a refund to, checked before any money moves.

The operator sends the refund by hand to whatever address this accepts, and a transfer cannot be
called back: so an address must carry a checksum that catches a typo (EIP-55 on EVM chains,
base58check on TRON; a Solana key must decode to 32 bytes), and must not be one that cannot be a
shopper's (the zero address, our own wallets, the coin's contract). The checks themselves are the
configuration's (`app.config`), so a wallet the operator may configure and an address a shopper may
claim are judged by the same code.
"""

from __future__ import annotations

from app.addresses import normalize_address
from app.chains import CHAINS, Blockchain, ChainFamily, Coin
from app.config import Settings
from app.tokens import resolve_token

_EVM_ZERO = "0x" + "0" * 40


def same_address(blockchain: Blockchain | str, a: str | None, b: str | None) -> bool:
    """Equal addresses on `blockchain`: EVM hex ignores case, base58 (TRON, Solana) never does."""
    if a is None or b is None:
        return False
    if CHAINS[Blockchain(blockchain)].family is ChainFamily.EVM:
        return a.lower() == b.lower()
    return a == b


def claim_address(settings: Settings, blockchain: Blockchain, coin: Coin, text: str) -> str:
    """The canonical spelling of a claimable address, or ValueError with what to fix."""
    value = text.strip()
    if not value:
        raise ValueError("Enter the address that should receive the refund.")
    family = CHAINS[blockchain].family
    if family is ChainFamily.EVM:
        body = value[2:] if value[:2].lower() == "0x" else ""
        lettered = any(c.isalpha() for c in body)
        if len(body) == 40 and lettered and (body == body.lower() or body == body.upper()):
            raise ValueError(
                "Paste the address with its checksum (mixed upper and lower case, as your wallet "
                "shows it): a typo in an all-lowercase address cannot be detected."
            )
    try:
        canonical = normalize_address(blockchain, value)
    except ValueError:
        raise ValueError(_problem(blockchain)) from None
    if family is ChainFamily.EVM and canonical.lower() == _EVM_ZERO:
        raise ValueError("The zero address cannot receive a refund.")
    ours = [w.address for w in settings.wallets if w.blockchain == blockchain]
    if any(same_address(blockchain, canonical, wallet) for wallet in ours):
        raise ValueError("That is the shop's own wallet: enter your own address.")
    token = resolve_token(settings, blockchain, coin)
    if token is not None and same_address(blockchain, canonical, token.contract):
        raise ValueError(f"That is the {coin} token contract, not a wallet: enter your address.")
    return canonical


def _problem(blockchain: Blockchain) -> str:
    family = CHAINS[blockchain].family
    if family is ChainFamily.TRON:
        return (
            "This is not a valid TRON address (34 characters starting with T, with a checksum): "
            "check it against your wallet."
        )
    if family is ChainFamily.SOLANA:
        return "This is not a valid Solana address: check it against your wallet."
    return (
        "This is not a valid address (0x followed by 40 hexadecimal characters), or its checksum "
        "does not match: check it against your wallet."
    )

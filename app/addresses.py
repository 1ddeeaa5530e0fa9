"""What a wallet or contract address looks like on each chain family, and its one canonical
spelling: the config loader, the refund claim page and the watchers all ask here, so an address
the operator typed, a shopper pasted or a node returned is compared in one form.

Base58 decoding is the `base58` package's; the messages are ours, written for the operator who
mistyped an address in the config file or the shopper who pasted one on the claim page.
"""

from __future__ import annotations

import re

import base58

from app.chains import CHAINS, Blockchain, ChainFamily

_BASE58_CHARACTERS = frozenset(base58.BITCOIN_ALPHABET.decode())
_EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_HEX_TRON = re.compile(r"^(0x)?41[0-9a-fA-F]{40}$")
_EVM_EXAMPLE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
_TRON_EXAMPLE = "TLa2f6VPqDgRE67v1736s7bJ8Ray5wYjU7"


def _base58_problem(text: str) -> str | None:
    bad = next((char for char in text if char not in _BASE58_CHARACTERS), None)
    return None if bad is None else f"{bad!r} is not a base58 character"


def tron_address_problem(address: str) -> str | None:
    """Why `address` is not a base58check TRON address (T…), or None if it is one."""
    if _HEX_TRON.match(address):
        return "is a hex TRON address: write its base58 form (T…)"
    if not address.startswith("T") or len(address) != 34:
        return f"is not a TRON address (base58, 34 characters from T, e.g. {_TRON_EXAMPLE})"
    problem = _base58_problem(address)
    if problem is not None:
        return f"is not a TRON address ({problem})"
    raw = base58.b58decode(address)
    if len(raw) != 25 or raw[0] != 0x41:
        return "is not a TRON address (wrong length or prefix)"
    try:
        base58.b58decode_check(address)
    except ValueError:
        return "has a wrong base58check checksum (a typo?)"
    return None


def solana_address_problem(address: str) -> str | None:
    """Why `address` is not a Solana public key (32 bytes in base58), or None if it is one."""
    if not 32 <= len(address) <= 44:
        return "is not a Solana address (base58, 32 to 44 characters)"
    problem = _base58_problem(address)
    if problem is not None:
        return f"is not a Solana address ({problem})"
    raw = base58.b58decode(address)
    if len(raw) != 32:
        return f"is not a Solana address (decodes to {len(raw)} bytes, not 32)"
    return None


def normalize_address(blockchain: Blockchain, address: str) -> str:
    """The canonical spelling of a wallet or contract address on `blockchain`.

    TRON: a valid base58check address, returned as given (base58 has one spelling). Solana: a
    base58 public key of 32 bytes (an owner wallet or a mint), returned as given. EVM: 0x + 40
    hex digits; a mixed-case address must carry a valid EIP-55 checksum, and the result is the
    checksummed form. Raises ValueError with a message fit for the operator.
    """
    value = address.strip()
    if CHAINS[blockchain].family is ChainFamily.SOLANA:
        problem = solana_address_problem(value)
        if problem is not None:
            raise ValueError(f"{address!r} {problem}")
        return value
    if CHAINS[blockchain].family is ChainFamily.TRON:
        problem = tron_address_problem(value)
        if problem is not None:
            raise ValueError(f"{address!r} {problem}")
        return value
    if not _EVM_ADDRESS.match(value):
        raise ValueError(
            f"{address!r} is not an EVM address (0x followed by 40 hex digits, e.g. {_EVM_EXAMPLE})"
        )
    from eth_utils.address import is_checksum_address, to_checksum_address

    body = value[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(value):
        raise ValueError(f"{address!r} has an invalid EIP-55 checksum (a typo?)")
    return str(to_checksum_address(value))

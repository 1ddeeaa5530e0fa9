"""Reading one refund transaction back from an EVM node: the token transfers its receipt shows.

An operator who paid a refund by hand names the transaction; before the item is marked `sent`
the node's `eth_getTransactionReceipt` must show a `Transfer` log of the coin's contract from our
wallet for the amount owed. Only EVM receipts are read (TRON and Solana refunds are recorded as
the operator's word). The `[chains.<id>].rpc_urls` are tried in order; the caller holds no
database transaction while this runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
"""keccak256("Transfer(address,address,uint256)")."""
TIMEOUT_SECONDS = 10.0


class NodeUnavailable(Exception):
    """No configured node answered the receipt request."""


@dataclass(frozen=True, slots=True)
class LoggedTransfer:
    """One ERC-20 `Transfer` log of a mined, successful transaction (addresses lowercase)."""

    contract: str
    from_address: str
    to_address: str
    amount: int
    log_index: int


def _topic_address(topic: Any) -> str:
    return "0x" + str(topic).lower()[-40:]


def transfers_in_receipt(receipt: dict[str, Any]) -> list[LoggedTransfer]:
    """The token transfers a receipt records; none for a reverted transaction (`status` 0)."""
    if int(str(receipt.get("status", "0x0")), 16) != 1:
        return []
    found = []
    for log in receipt.get("logs") or []:
        topics = log.get("topics") or []
        if len(topics) != 3 or str(topics[0]).lower() != TRANSFER_TOPIC:
            continue  # ERC-721 transfers index a fourth topic; other events are not transfers
        data = str(log.get("data") or "0x")
        found.append(
            LoggedTransfer(
                contract=str(log.get("address", "")).lower(),
                from_address=_topic_address(topics[1]),
                to_address=_topic_address(topics[2]),
                amount=int(data, 16) if data not in ("0x", "") else 0,
                log_index=int(str(log.get("logIndex", "0x0")), 16),
            )
        )
    return found


async def evm_receipt_transfers(rpc_urls: list[str], tx_hash: str) -> list[LoggedTransfer] | None:
    """The transaction's token transfers, or None when the node knows no such mined transaction."""
    http_urls = [u for u in rpc_urls if u.startswith(("http://", "https://"))]
    errors = []
    payload = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_getTransactionReceipt",
        "params": [tx_hash],
    }
    async with httpx.AsyncClient(timeout=TIMEOUT_SECONDS) as http:
        for url in http_urls:
            try:
                response = await http.post(url, json=payload)
                answer = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                errors.append(f"{type(exc).__name__}")
                continue
            if not isinstance(answer, dict) or "error" in answer:
                errors.append("node error")
                continue
            receipt = answer.get("result")
            return transfers_in_receipt(receipt) if isinstance(receipt, dict) else None
    raise NodeUnavailable(
        "no node answered for the receipt (" + (", ".join(errors) or "no http(s) rpc_urls") + ")"
    )

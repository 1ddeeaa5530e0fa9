// "Pay with browser wallet": an ERC-20 transfer through an EIP-1193 provider (window.ethereum).
// The call data is ABI-encoded by hand: transfer(address,uint256) is selector 0xa9059cbb followed
// by the address and the amount, each left-padded to 32 bytes.

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

export function erc20TransferData(to, amountBaseUnits) {
  if (!ADDRESS.test(to)) throw new Error(`not an EVM address: ${to}`);
  const amount = BigInt(amountBaseUnits);
  if (amount < 0n || amount >= 2n ** 256n) throw new Error(`amount out of range: ${amountBaseUnits}`);
  return `0xa9059cbb${to.slice(2).toLowerCase().padStart(64, "0")}${amount.toString(16).padStart(64, "0")}`;
}

/** The EIP-1193 provider, if the browser has one. */
export function provider() {
  const eth = globalThis.ethereum;
  return eth && typeof eth.request === "function" ? eth : null;
}

/**
 * Ask the wallet to send `detail` (a User API payment detail with `chain_id`, `token_contract`,
 * `wallet_address`, `amount_base_units`). Returns the transaction hash. Errors keep the provider's
 * `code`: 4001 rejected by the user, 4902 unknown chain.
 */
export async function payWithWallet(eth, detail) {
  const [from] = await eth.request({ method: "eth_requestAccounts" });
  if (!from) throw Object.assign(new Error("no account"), { code: 4100 });
  const chainId = `0x${Number(detail.chain_id).toString(16)}`;
  await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId }] });
  return eth.request({
    method: "eth_sendTransaction",
    params: [{
      from,
      to: detail.token_contract,
      value: "0x0",
      data: erc20TransferData(detail.wallet_address, detail.amount_base_units),
    }],
  });
}

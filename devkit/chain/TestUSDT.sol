// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.20;

/// @title TestUSDT: a minimal ERC-20 with 6 decimals for local development chains and tests.
/// @notice Anyone may mint any amount to any address. This token has no value and must never be
///         deployed to a public network. `batchTransfer` lets one transaction emit several
///         Transfer events, which real wallets and exchanges (batch payouts) also do.
/// @dev Compiled with solcjs from npm (`npx solcjs --bin --abi --optimize TestUSDT.sol`); the
///      committed TestUSDT.abi.json and TestUSDT.bin must match that output (a test checks it).
contract TestUSDT {
    string public constant name = "Test Tether USD";
    string public constant symbol = "USDT";
    uint8 public constant decimals = 6;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice Create `amount` base units for `to` (emits Transfer from the zero address).
    function mint(address to, uint256 amount) external returns (bool) {
        require(to != address(0), "TestUSDT: mint to the zero address");
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _transfer(msg.sender, to, amount);
        return true;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        require(spender != address(0), "TestUSDT: approve to the zero address");
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    /// @notice An allowance of type(uint256).max is never decreased (the common ERC-20 convention).
    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            require(allowed >= amount, "TestUSDT: insufficient allowance");
            unchecked {
                allowance[from][msg.sender] = allowed - amount;
            }
        }
        _transfer(from, to, amount);
        return true;
    }

    /// @notice Send `amounts[i]` to `to[i]` for every i, in order, in this one transaction: one
    ///         Transfer event per entry, each with its own log index.
    function batchTransfer(address[] calldata to, uint256[] calldata amounts)
        external
        returns (bool)
    {
        require(to.length == amounts.length, "TestUSDT: length mismatch");
        for (uint256 i = 0; i < to.length; ++i) {
            _transfer(msg.sender, to[i], amounts[i]);
        }
        return true;
    }

    function _transfer(address from, address to, uint256 amount) private {
        require(to != address(0), "TestUSDT: transfer to the zero address");
        uint256 balance = balanceOf[from];
        require(balance >= amount, "TestUSDT: transfer amount exceeds balance");
        unchecked {
            balanceOf[from] = balance - amount;
        }
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}

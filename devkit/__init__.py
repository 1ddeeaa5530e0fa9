"""Development tooling, kept out of the product: the local chains (anvil with a test ERC-20, the
TRON and Solana simulators), the demo shop and the dev server behind `stablecheckout dev`.

`app/` never imports this package; the CLI loads it lazily for `stablecheckout dev`, and the
runtime Docker image does not contain it (the `demo` image does).
"""

"""API dialects: other checkout systems' wire formats served as thin front doors onto the one
sessions/orders engine (OpenCheckout, OVGC onto `app.sessions`; Epusdt, Epay onto orders). Each maps
its request and response shapes, status words, error envelope and webhook format; none touches
matching, deposits or the order lifecycle. The table of dialects is docs/compatibility.md."""

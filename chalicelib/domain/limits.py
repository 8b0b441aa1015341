"""Sizes and lengths a route's declaration checks before its use case runs, and the use case checks
again: here, so that the API function declares its routes without loading the services that apply
them (issue #22 §3: the billing, documents and bank services load on first use)."""

# An operator's reason to cancel an invoice or grant a credit note (services/corrections.py).
CORRECTION_REASON_MIN, CORRECTION_REASON_MAX = 3, 500
# An operator's note on a disputed invoice (services/receivables.py).
DISPUTE_NOTE_MIN, DISPUTE_NOTE_MAX = 5, 500
# A day's CNAB 240 return of a reseller this size holds dozens of titles; each costs a few reads and
# one transaction, so a file is kept well inside an API Gateway request (29 s). Bigger: split it (a
# retry after a timeout is harmless: what was recorded is reported already_recorded).
CNAB_RETURN_MAX_BYTES = 512 * 1024
# Banco do Brasil notifies a few boletos per call; each costs a bank query, a few reads and one
# transaction, so a call stays well inside API Gateway's 29 s. Beyond: 413 (the bank splits).
BANK_WEBHOOK_MAX_BYTES = 256 * 1024

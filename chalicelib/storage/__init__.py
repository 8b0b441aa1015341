"""Storage: PynamoDB models on ONE DynamoDB table, key builders and repositories.

Table `csp-portal-<stage>`: partition key `pk`, sort key `sk` (strings); index `gsi1`
(`gsi1pk`, `gsi1sk`, all attributes projected); TTL on `expires_at`.

Access patterns (every one is a GetItem, a Query or a transactional write; the table is never scanned):

| # | pattern                                   | key condition                                              |
|---|-------------------------------------------|------------------------------------------------------------|
| 1 | organisation by id                        | GetItem pk=ORG#<org> sk=ORG                                |
| 2 | organisations by name (back office)       | Query gsi1 gsi1pk=ORGS (gsi1sk=NAME#<name>#<org>)          |
| 3 | contract of an organisation               | GetItem pk=ORG#<org> sk=CONTRACT (consistent)              |
| 4 | user by id (every authenticated request)  | GetItem pk=USER#<sub> sk=USER (consistent)                 |
| 5 | users of an organisation                  | Query gsi1 gsi1pk=ORG#<org>#USERS (gsi1sk=EMAIL#<email>)   |
| 6 | audit trail of an organisation, by time   | Query pk=ORG#<org>#AUDIT sk BETWEEN <from> AND <to>        |
| 7 | idempotency record of a request           | GetItem/conditional Put pk=IDEMPOTENCY#<scope> sk=KEY#<k>  |
| 8 | catalog (all products)                    | Query pk=CATALOG sk begins_with PRODUCT#                   |
| 9 | product by SKU                            | GetItem pk=CATALOG sk=PRODUCT#<sku>                        |
|10 | email delivery claim, then sent/failed     | conditional Put / Update pk=EMAIL#<delivery key> sk=EMAIL  |

Invariants kept by transactions: an organisation's `masters_count` moves in the same transaction
as the user change (never below 1); every mutation writes its audit entry in the same transaction,
with `attribute_not_exists(pk)` so the trail refuses overwrites.
"""

"""Storage: PynamoDB models on ONE DynamoDB table, key builders and repositories.

Table `csp-portal-<stage>`: partition key `pk`, sort key `sk` (strings); index `gsi1`
(`gsi1pk`, `gsi1sk`, all attributes projected); TTL on `expires_at`.

Access patterns (every one is a GetItem, a Query or a transactional write; the table is never scanned):

| #  | pattern                                        | key condition                                                   |
|----|------------------------------------------------|-----------------------------------------------------------------|
| 1  | organisation by id (with its address); its address edit; its customer at the licence provider | GetItem pk=ORG#<org> sk=ORG; transactional Update of `address` and `version` on the version read (absent: 1) with the audit entry; transactional Update of `microsoft_customer_id` on `attribute_not_exists(microsoft_customer_id)` with the audit entry (set once) |
| 2  | organisations by name (back office)            | Query gsi1 gsi1pk=ORGS (gsi1sk=NAME#<name>#<org>)               |
| 3  | contract of an organisation                    | GetItem pk=ORG#<org> sk=CONTRACT (consistent)                   |
| 4  | user by id (every authenticated request)       | GetItem pk=USER#<sub> sk=USER (consistent)                      |
| 5  | users of an organisation                       | Query gsi1 gsi1pk=ORG#<org>#USERS (gsi1sk=EMAIL#<email>)        |
| 6  | audit trail of an organisation, by time        | Query pk=ORG#<org>#AUDIT sk BETWEEN <from> AND <to>             |
| 7  | idempotency record of a request                | GetItem/conditional Put pk=IDEMPOTENCY#<scope> sk=KEY#<k>       |
| 8  | catalog: every product with its price history  | Query pk=CATALOG sk begins_with PRODUCT#                        |
| 9  | product by SKU                                 | GetItem pk=CATALOG sk=PRODUCT#<sku>                             |
| 10 | email delivery claim, then sent/failed         | conditional Put / Update pk=EMAIL#<delivery key> sk=EMAIL; the email worker's batch (issue #22 §5): the batch's conditional Puts with a ConditionCheck `attribute_not_exists` on each recipient's 55 key in ONE transaction, then one BatchWriteItem of the finished items |
| 11 | subscriptions of an organisation              | Query pk=ORG#<org> sk begins_with SUB# (consistent)             |
| 12 | licence panel: contract + subscriptions        | Query pk=ORG#<org> sk BETWEEN CONTRACT AND SUB#\uffff (consistent; the few items sorted between are skipped) |
| 13 | subscription by id                             | GetItem pk=ORG#<org> sk=SUB#<id> (consistent)                   |
| 14 | subscriptions renewing on a day                | Query gsi1 gsi1pk=RENEWAL#<day>                                 |
| 15 | changes of a subscription, newest first        | Query pk=ORG#<org>#SUB#<id>#CHANGES (sk=CHANGE#<time-ordered id>) |
| 16 | changes pending since before an instant; a pending order on a change | Query gsi2 gsi2pk=PENDING_CHANGES gsi2sk < <instant>; Put of the change on `status = pending` and its `order_id` absent or the same (a failed attempt's Put too: an order never lost) |
| 17 | cart of an organisation                        | Query pk=ORG#<org> sk begins_with CART# (consistent)            |
| 18 | contracts closing on a day of the month        | Query gsi1 gsi1pk=CLOSING#<dd> (the closing day in force: a scheduled change moves it when applied) |
| 19 | invoice by id, its payments                    | GetItem pk=INVOICE#<id> sk=INVOICE; Query sk begins_with PAYMENT#; the invoice PDF on its first download (issue #22): Update of `pdf_key` on `attribute_not_exists(pdf_key) OR pdf_key = <the same key>` (not the version) |
| 19b| second-copy claim on an invoice (also the operator's new registration of a refused boleto) | conditional Update pk=INVOICE#<id> sk=INVOICE (its version, no live claim) |
| 19c| cancellation claim on an invoice               | conditional Update pk=INVOICE#<id> sk=INVOICE (its version, no live claim of either kind) |
| 19d| credit notes of an invoice                     | Query pk=INVOICE#<id> sk begins_with CREDIT#                     |
| 19e| credit notes left to apply, oldest first       | Query gsi1 gsi1pk=ORG#<org>#CREDITS (gsi1sk=<created at>#<id>; sparse) |
| 19f| credit note left by an invoice below zero      | conditional Put pk=INVOICE#<id> sk=CREDIT#<id> (attribute_not_exists) in the invoice's issue transaction |
| 20 | invoices of an organisation, newest first      | Query gsi1 gsi1pk=ORG#<org>#INVOICES (gsi1sk=<period end>#<id>) |
| 20b| invoices of an organisation whose period ends in the last N months (spend by month and family) | Query gsi1 gsi1pk=ORG#<org>#INVOICES gsi1sk >= <first day of the first month> |
| 21 | invoice of a contract's period (guard)         | GetItem pk=ORG#<org> sk=INVOICED#<period end>                   |
| 22 | invoices in a status due before a day / between two days (overdue job, receivables) | Query gsi2 gsi2pk=INVOICES#<status> gsi2sk < <day> / BETWEEN <from> AND <to>\uffff (gsi2sk=<due date>#<id>; every invoice, one partition per status) |
| 23 | invoice number / boleto sequence counters      | GetItem/conditional Update pk=COUNTER sk=INVOICE_NUMBER…        |
| 24 | billing run progress                           | GetItem pk=BILLING_RUN#<run> sk=RUN                             |
| 25 | lead by CNPJ; leads newest first               | GetItem pk=LEAD#<cnpj> sk=LEAD; Query gsi1 gsi1pk=LEADS         |
| 26 | rate-limit window of a source                  | conditional Update pk=RATE#<scope>#<window> sk=RATE             |
| 27 | ticket by id, its messages                     | GetItem pk=TICKET#<id> sk=TICKET; Query sk begins_with MSG#     |
| 28 | tickets of an organisation / all tickets (of some statuses: the operators' queue) | Query gsi1 gsi1pk=ORG#<org>#TICKETS; Query gsi2 gsi2pk=TICKETS, newest first (with statuses: FilterExpression `status IN (…)`, pages filled server-side) |
| 28b| attachments of a ticket; one attachment; sent with a message | Query pk=TICKET#<id> sk begins_with ATTACH# (consistent); GetItem pk=TICKET#<id> sk=ATTACH#<att> (consistent); conditional Put (attribute_not_exists, with its audit entry); transactional Update of `message_id` on `attribute_not_exists(message_id)` in the message's transaction (the file: s3 tickets/<org>/<ticket>/<att>); the per-ticket cap: Update ADD 1 pk=TICKET#<id> sk=COUNT#ATTACHMENTS on `attribute_not_exists(value) OR value < max`, in the attachment's transaction; anonymisation: Update SET `removed_at` (its file deleted) |
| 29 | organisation by CNPJ (one per CNPJ)            | conditional Put pk=CNPJ#<cnpj> sk=ORGANIZATION                  |
| 30 | whose first-password challenge a session is    | Put / GetItem (consistent) / Delete pk=SIGNIN#<sha256 of the session> sk=CHALLENGE (TTL) |
| 31 | whose TOTP challenge a session is              | the item of 30, its `challenge` SOFTWARE_TOKEN_MFA: a session answers only the challenge it was issued for |
| 32 | a user's MFA enrolment / reset                 | transactional Update pk=USER#<sub> sk=USER (`mfa_enrolled_at`, on its version) with the audit entry |
| 33 | failed logins of an email / of a source IP     | conditional Update sk=ATTEMPT (one attempt of an email at a time, a lease), Delete after it; GetItem (consistent); Update ADD failures on `last_failure_at > now-15min`, else SET 1 on its opposite; Delete pk=LOGINFAIL#<sha256 of "email:<e>" / "ip:<a>"> sk=FAILURES (TTL) |
| 34 | session the product handed out                 | Put / GetItem (consistent) / Delete pk=SESSION#<sha256 of the refresh token> sk=SESSION (TTL: the refresh token's lifetime) |
| 35 | ended sessions of a user                       | Update pk=USER#<sub> sk=USER: ADD / DELETE `ended_sessions` ("<origin_jti> <expiry>"); SET `sessions_valid_after` (with its audit entry); read with pattern 4 |
| 37 | user of an organisation by email (an invitation to an email Cognito already holds: 409 inside the organisation, else to the operators) | Query gsi1 gsi1pk=ORG#<org>#USERS gsi1sk=EMAIL#<email> |
| 39 | data export of an organisation (LGPD)          | conditional Put (with its audit entry) / GetItem (consistent) pk=ORG#<org>#EXPORTS sk=EXPORT#<id> (TTL) |
| 40 | terminated contracts waiting for anonymisation | Query gsi2 gsi2pk=RETENTION gsi2sk < <cutoff> (gsi2sk=<terminated at>#<org>; sparse: an anonymised contract leaves) |
| 41 | dunning steps taken on an invoice             | Query pk=INVOICE#<id> sk begins_with DUNNING# (consistent); conditional Put sk=DUNNING#<step> (`attribute_not_exists`) with a ConditionCheck on the invoice's version and the audit entry, in one transaction |
| 42 | an organisation's open and overdue invoices (purchase block, billing status) | Query gsi1 gsi1pk=ORG#<org>#INVOICES, filter status IN (open, overdue) (a customer has about twelve a year) |
| 43 | an organisation's suspension at the licence provider; its provider-call claims | GetItem (consistent) / conditional Put (attribute_not_exists, then its version, with its audit entry) pk=ORG#<org> sk=SUSPENSION; claim: conditional Put pk=ORG#<org> sk=SUSPENSION#<number>#<suspend or reactivate>#<sub> (attribute_not_exists, or not done and its lease over), marked done in the subscription's transaction, deleted on a provider failure (sorted after SUB#\uffff: outside 12) |
| 44 | organisations with a suspension under way      | Query gsi2 gsi2pk=SUSPENSIONS (gsi2sk=<org>; sparse: a lifted suspension leaves) |
| 45 | receivables across customers: invoices in a status due between two days, page after page | Query gsi2 gsi2pk=INVOICES#<status> gsi2sk BETWEEN <from> AND <to>\uffff (or one bound, or none), ExclusiveStartKey rebuilt from the token's partition and <due date>#<id>; no status: INVOICES#overdue, then INVOICES#open |
| 46 | one organisation's receivables                 | Query gsi1 gsi1pk=ORG#<org>#INVOICES, filter status IN (…) AND due_date BETWEEN …, ExclusiveStartKey rebuilt from <period end>#<id> |
| 47 | invoice of a boleto (return files, webhook)   | conditional Put (attribute_not_exists, or the same invoice: a retried documents step) before the bank registers it / GetItem (consistent) pk=BOLETO#<bank>#<nosso número digits> sk=BOLETO |
| 48 | a boleto's payment (retorno, webhook), by id   | GetItem (consistent) pk=INVOICE#<id> sk=PAYMENT#<sha256 of bank, nosso número, day paid, amount>; written by 19's transaction with attribute_not_exists |
| 51 | invoices whose NFS-e the emitter refused (back office, `?nfse=rejected`) | Query pk=NFSE_REJECTED (sk=INVOICE#<id>; Put with the refusal, Delete with the note's re-emission, each in the invoice's transaction; each invoice read again by key) |
| 52 | NFS-e re-emission claim on an invoice          | conditional Update pk=INVOICE#<id> sk=INVOICE (its version, no live claim of any kind: second copy, cancellation, re-emission) |
| 53 | invoices whose boleto was refused (back office, `?boleto=rejected`) | Query pk=BOLETO_REJECTED (sk=INVOICE#<id>; Put with the refusal, Delete with the boleto's registration or a second copy, each in the invoice's transaction; each invoice read again by key) |
| 54 | billing runs started between two instants (the morning watch: runs not finished); the recent runs, newest first, page after page (back office) | Query gsi1 gsi1pk=BILLING_RUNS gsi1sk BETWEEN <from> AND <to> (gsi1sk=<started at>#<run>; runs created before the index have none); the list: the same partition, ScanIndexForward=false, ExclusiveStartKey from the token |
| 55 | an address SES reported as undeliverable (hard bounce, complaint): suppressed once; lifted | conditional Put pk=SUPPRESSED#<sha256 of the address> sk=ADDRESS (`attribute_not_exists`: the same event twice records once) with the audit entry in one transaction; GetItem (consistent); Delete (`attribute_exists` and `organization_id` = the organisation's) with its audit entry inside the contract's transaction when that organisation's billing contacts stop listing it; Delete (`attribute_exists`) with its audit entry by an operator. No list: nothing enumerates the suppressed addresses without a scan |
| 56 | which of a message's recipients / a contract's billing contacts are suppressed | BatchGetItem of 55's keys (at most 50 recipients, 10 contacts) |
| 57 | why a billing run's contracts failed (the worker's latest attempt; the back office's run page) | Put pk=BILLING_RUN#<run> sk=FAILURE#<org> on attribute_not_exists(succeeded_at) (overwritten by each failing attempt, never after a success); Put of the same item with `succeeded_at` when any attempt bills the contract; Query pk=BILLING_RUN#<run> sk begins_with FAILURE# (consistent; those with `succeeded_at` left out) |
| 58 | an organisation's spend per month and SKU (the spend report, the licence panel's chart) | Query pk=ORG#<org>#SPEND sk BETWEEN <from># AND <to>#\uffff (sk=<YYYY-MM>#<sku>; credit lines under sku CREDITS); written only by Update ADD amount_cents inside the transaction that issues an invoice (+ its lines, per SKU) or cancels one (− its lines; a re-issue nets both into one update per key), with the invoice's marker pk=INVOICE#<id> sk=SPEND (`counted` / `cancelled` / `pending`: lines out only on `counted`; the backfill counts on a missing or `pending` marker, BatchGetItem of the markers) |
| 59 | every organisation's spend in one month (the operator's report across customers) | Query pk=SPEND#<YYYY-MM> (sk=<org>#<sku>), one per month of the period; the same ADDs as 58, in the same transaction; organisation names by BatchGetItem of 1's keys |
| 60 | invoices of an organisation whose period ends between two days (ERP export, any status) | Query gsi1 gsi1pk=ORG#<org>#INVOICES gsi1sk BETWEEN <first day> AND <last day>#\uffff |
| 66 | purchase approval request by id (issue #21 §4); its creation; its transitions | GetItem (consistent) pk=ORG#<org>#APPROVALS sk=APPROVAL#<id>; conditional Put (attribute_not_exists) with the audit entry and, for a checkout, the cart's lines deleted on their quantity, in one transaction; Put on `version` AND `status` as read with the audit entry (the approval's claim: on `version`, `status` pending AND `expires_at > now`, inside the order's own transaction, patterns of the checkout / quantity change). The organisation's limit: pattern 1's item, Update of `approval_limit_cents` conditioned on its value as read (not the item's `version`, which it does not move) with the audit entry |
| 67 | an organisation's approval requests, newest first (a status; an Adm's own) | Query pk=ORG#<org>#APPROVALS sk begins_with APPROVAL# (consistent), ScanIndexForward=false (ids sort by creation time), FilterExpression `status = …` / `requested_by_id = …` |
| 68 | pending approval requests past their expiry (the daily job) | Query gsi2 gsi2pk=PENDING_APPROVALS gsi2sk < <now> (gsi2sk=<expires at>#<org>#<id>; sparse: a decided request leaves) |
| 61 | an organisation's webhook endpoints (webhooks, issue #21 §3): list; one by id; registered / removed | Query pk=ORG#<org>#WEBHOOKS sk begins_with WEBHOOK# (consistent) / GetItem sk=WEBHOOK#<id>; transactional Put (attribute_not_exists) + Update of the counter sk=COUNT#WEBHOOKS on `count < 10` + audit; Delete (exists) + counter −1 + audit |
| 63 | the webhook outbox: pending events, oldest first (dispatcher) | ONE Put per audit entry that reports events, pk=EVENT#<first evt> sk=EVENT (gsi1pk=EVENTS#PENDING, gsi1sk=<at>#<evt>; `events`: all the entry's events with their ids) in the SAME transaction as the audit entry it comes from (`append_audit`), attribute_not_exists; Query gsi1 gsi1pk=EVENTS#PENDING; Delete once fanned out |
| 64 | a webhook delivery by id: made once per event and endpoint; an attempt claimed; its outcome | conditional Put pk=WEBHOOK_DELIVERY#<id> sk=DELIVERY (attribute_not_exists; id derived from event + endpoint); Update on `attempts = n` AND status IN (pending, retrying) AND no live `lease_until` (claim, before the POST); Update on `attempts = n` (outcome) |
| 65 | an endpoint's deliveries, newest first (paginated) | Query gsi1 gsi1pk=WEBHOOK#<endpoint>#DELIVERIES (gsi1sk=<created at>#<delivery>), descending |

The user item is never rewritten whole once created (role changes update their attributes): its
session attributes (35) change beside it.

Invariants kept by transactions: an organisation's `masters_count` moves in the same transaction
as the user change (never below 1); its address changes on its `version` (which `masters_count`
does not move), with its audit entry; every mutation writes its audit entry in the same transaction,
with `attribute_not_exists(pk)` so the trail refuses overwrites. A contract's acceptance writes the
contract (on its version), the subscriptions it orders (ids derived from contract and SKU,
`attribute_not_exists`), their purchase changes and the audit entries in one transaction
(`SubscriptionRepository.save(contract=…)`): an acceptance is made, and its items ordered, once.
An operator's edit of a product writes the product, its price history and its audit entry in one
transaction, on the product as read (a new SKU with `attribute_not_exists`): two edits at once
cannot both pass. An invoice is issued in one transaction with the credit notes it uses (each on the version read)
and the credit note it leaves when its own lines sum below zero: no credit is used twice or lost.
"""

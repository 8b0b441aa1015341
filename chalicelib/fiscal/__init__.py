"""The national NFS-e's XML: the DPS and the cancellation event built from the layout's bindings,
signed with the reseller's A1 certificate, checked against the published XSDs.

Only the code that emits or cancels a note imports this package (the billing worker, the invoice
cancellation): it loads lxml, xsdata, nfelib's bindings and signxml, which an API request that
does not touch a nota fiscal should never pay for. Nothing here talks to AWS or to the Sefin.
"""

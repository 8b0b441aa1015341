"""The pure domain of csp-portal: rules and values, no I/O, no boto3, no Chalice."""

"""Documents in S3 (boletos, invoices, NFS-e), under each organisation's prefix, handed out
through short-lived presigned links."""
from __future__ import annotations

from typing import Optional

from .aws import client


class S3DocumentStore:
    def __init__(self, bucket: str, region: str, link_seconds: int = 300):
        self._bucket = bucket
        self._region = region
        self._link_seconds = link_seconds

    def put(self, key: str, data: bytes, content_type: str) -> str:
        client("s3", self._region).put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type,
                                              ServerSideEncryption="AES256")
        return key

    def get(self, key: str) -> bytes:
        return client("s3", self._region).get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def link(self, key: str, filename: str, seconds: Optional[int] = None) -> str:
        """A presigned GET of `key`, valid `seconds` (default: the documents' link lifetime)."""
        return client("s3", self._region).generate_presigned_url(
            "get_object", ExpiresIn=seconds or self._link_seconds,
            Params={"Bucket": self._bucket, "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{filename}"'})

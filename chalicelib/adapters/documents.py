"""Documents in S3 (boletos, invoices, NFS-e), under each organisation's prefix, handed out
through short-lived presigned links."""
from __future__ import annotations

import unicodedata
from typing import Optional
from urllib.parse import quote

from .aws import client


def content_disposition(filename: str) -> str:
    """`attachment` with the file's name safely encoded (RFC 6266): an ASCII fallback without quotes,
    backslashes or control characters, and the exact name as UTF-8 in `filename*`."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\;' else "_" for ch in ascii_name).strip() or "arquivo"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


class S3DocumentStore:
    def __init__(self, bucket: str, region: str, link_seconds: int = 300):
        self._bucket = bucket
        self._region = region
        self._link_seconds = link_seconds

    def put(self, key: str, data: bytes, content_type: str) -> str:
        client("s3", self._region).put_object(Bucket=self._bucket, Key=key, Body=data, ContentType=content_type,
                                              ServerSideEncryption="AES256")
        return key

    def exists(self, key: str) -> bool:
        """Whether `key` is stored (a HEAD): a document named by its content's digest is written once.
        Without s3:ListBucket (the functions' policy grants Get/PutObject only) S3 answers a missing
        key with 403, not 404: both read as "not stored" (the put that follows says if access is wrong)."""
        from botocore.exceptions import ClientError

        try:
            client("s3", self._region).head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("403", "404", "NoSuchKey", "NotFound", "Forbidden"):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        client("s3", self._region).delete_object(Bucket=self._bucket, Key=key)

    def get(self, key: str) -> bytes:
        return client("s3", self._region).get_object(Bucket=self._bucket, Key=key)["Body"].read()

    def link(self, key: str, filename: str, seconds: Optional[int] = None) -> str:
        """A presigned GET of `key`, valid `seconds` (default: the documents' link lifetime)."""
        return client("s3", self._region).generate_presigned_url(
            "get_object", ExpiresIn=seconds or self._link_seconds,
            Params={"Bucket": self._bucket, "Key": key,
                    "ResponseContentDisposition": content_disposition(filename)})

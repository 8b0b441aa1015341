"""An identity provider stricter than the local Cognito about TOTP, for the steps moto cannot do.

moto gives every user ONE fixed secret and takes the user a TOTP challenge answers for from the
request, not from the session. `StrictTotpIdentity` keeps passwords and tokens in the real (moto)
pool, and does the TOTP part as AWS documents it: a secret per user, the code checked with pyotp
against that user's secret, and a challenge session that answers only for the user who logged in.
The product's MFA behaviour is tested on it; the adapter's calls to Cognito on moto itself."""
from __future__ import annotations

import secrets
from typing import Dict, List, Tuple

import boto3
import pyotp

from chalicelib.adapters.identity import CognitoIdentity, MfaRequired, Tokens
from chalicelib.domain import error_codes as codes


class StrictTotpIdentity(CognitoIdentity):
    def __init__(self, real: CognitoIdentity):
        super().__init__(real._pool, real._client_id, real._region)
        self.secrets: Dict[str, str] = {}  # email -> confirmed secret (TOTP on)
        self._pending: Dict[str, str] = {}  # email -> secret handed out, not yet confirmed
        self._sessions: Dict[str, Tuple[str, Tokens]] = {}  # challenge session -> (email, tokens held back)
        self.asked: List[Tuple[str, str]] = []  # (operation, email) of every TOTP call that reached it

    def _email_of(self, access_token: str) -> str:
        user = boto3.client("cognito-idp", region_name=self._region).get_user(AccessToken=access_token)
        return {a["Name"]: a["Value"] for a in user["UserAttributes"]}["email"]

    def login(self, email: str, password: str):
        result = super().login(email, password)
        if isinstance(result, Tokens) and email in self.secrets:
            session = secrets.token_urlsafe(48)
            self._sessions[session] = (email, result)
            return MfaRequired(session=session)
        return result

    def answer_mfa(self, email: str, session: str, code: str) -> Tokens:
        self.asked.append(("answer_mfa", email))
        owner, tokens = self._sessions.get(session, (None, None))
        if owner != email:
            raise codes.INVALID_MFA_SESSION()
        if not pyotp.TOTP(self.secrets[email]).verify(code, valid_window=1):
            raise codes.MFA_CODE_MISMATCH()
        del self._sessions[session]
        return tokens

    def start_mfa_enrolment(self, access_token: str) -> str:
        email = self._email_of(access_token)
        self.asked.append(("start_mfa_enrolment", email))
        self._pending[email] = pyotp.random_base32()
        return self._pending[email]

    def confirm_mfa_enrolment(self, access_token: str, code: str) -> None:
        email = self._email_of(access_token)
        self.asked.append(("confirm_mfa_enrolment", email))
        secret = self._pending.get(email)
        if secret is None or not pyotp.TOTP(secret).verify(code, valid_window=1):
            raise codes.INVALID_MFA_CODE(field="code")
        self.secrets[email] = self._pending.pop(email)

    def reset_mfa(self, email: str) -> None:
        self.asked.append(("reset_mfa", email))
        self.secrets.pop(email, None)

"""IAM authorization of a route: the request's SigV4 signature, verified as API Gateway does.

The signature is recomputed with botocore's :class:`~botocore.auth.SigV4Auth` over the request
as it arrived (method, raw path, query, the headers the client says it signed, the body's
sha256) for the credential scope's access key, and compared in constant time.

What a refused caller gets is API Gateway's answer for an ``AWS_IAM`` route, all 403:

- no ``Authorization`` header: ``{"message":"Forbidden"}``;
- a header that is not SigV4: the list of what it lacks (``Authorization header requires
  'Credential' parameter. ...``);
- an unknown access key: ``The security token included in the request is invalid.``;
- a wrong signature, body or signed header: ``The request signature we calculated does not
  match the signature you provided. ...`` followed by the canonical string and string to sign
  it expected; API Gateway's own answer carries both too (as quoted in mhart/aws4#33 and
  aws/aws-sdk-js#2372);
- a request date more than 5 minutes off: ``Signature expired: <date> is now earlier than
  <now - 5 min> (<now> - 5 min.)`` (or ``Signature not yet current: ...`` from the future).

Example::

    verifier = SigV4Verifier(region="us-east-1", secrets={"local": "local"},
                             account_id="123456789012", user_arn="arn:aws:iam::...:user/local",
                             user_id="AIDA...")
    identity = verifier.verify(request, host="127.0.0.1:4567", now=time.time())
    identity["accessKey"]    # "local"
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import Any, Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials

from local.api_gateway.events import Request
from local.api_gateway.refusal import AccessDeniedError, header_values, single_header

SERVICE: Final = "execute-api"
ALGORITHM: Final = "AWS4-HMAC-SHA256"
MAX_SKEW: Final = dt.timedelta(minutes=5)
_AMZ_DATE: Final = "%Y%m%dT%H%M%SZ"

FORBIDDEN: Final = "Forbidden"
INVALID_TOKEN: Final = "The security token included in the request is invalid."
SIGNATURE_MISMATCH: Final = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_PARAMETER = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")


class _ReceivedRequestSigner(SigV4Auth):  # type: ignore[misc]  # botocore ships no types
    """SigV4Auth that signs exactly the headers the client listed, not the ones it would pick."""

    def __init__(self, credentials: Credentials, region: str, signed: Mapping[str, str]) -> None:
        super().__init__(credentials, SERVICE, region)
        self._signed = signed

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        headers = HTTPHeaders()
        for name, value in self._signed.items():
            headers[name] = value
        return headers


class SigV4Verifier:
    """Verifies SigV4 (``execute-api``) against known credentials; see the module docstring."""

    def __init__(
        self,
        *,
        region: str,
        secrets: Mapping[str, str],
        account_id: str,
        user_arn: str,
        user_id: str,
    ) -> None:
        self.region = region
        self._secrets = dict(secrets)
        self._account_id = account_id
        self._user_arn = user_arn
        self._user_id = user_id

    def verify(self, request: Request, *, host: str, now: float) -> dict[str, Any]:
        """The caller's identity (payload 2.0 ``requestContext.authorizer.iam``), or raise
        :class:`AccessDeniedError` with API Gateway's answer."""
        header = single_header(request.headers, "authorization")
        if not header:
            raise AccessDeniedError(403, FORBIDDEN, reason="no Authorization header")
        parameters = dict(_PARAMETER.findall(header))
        timestamp = _request_time(request.headers)
        if not header.startswith(ALGORITHM + " ") or len(parameters) != 3 or timestamp is None:
            raise AccessDeniedError(
                403, _malformed_message(header, parameters, timestamp), reason="not SigV4"
            )
        scope = parameters["Credential"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise AccessDeniedError(
                403,
                "Credential should be scoped to a valid region. ",
                reason=f"credential scope {parameters['Credential']!r}",
            )
        access_key, day, region, service, _ = scope
        secret = self._secrets.get(access_key)
        if secret is None:
            raise AccessDeniedError(403, INVALID_TOKEN, reason=f"unknown access key {access_key}")
        if region != self.region:
            raise AccessDeniedError(
                403,
                f"Credential should be scoped to a valid region, not '{region}'. ",
                reason=f"region {region}, the API's is {self.region}",
            )
        if service != SERVICE:
            raise AccessDeniedError(
                403,
                f"Credential should be scoped to correct service: '{SERVICE}'. ",
                reason=f"service {service}",
            )
        _check_skew(timestamp, dt.datetime.fromtimestamp(now, tz=dt.UTC))
        amz_date = timestamp.strftime(_AMZ_DATE)
        if day != amz_date[:8]:
            raise AccessDeniedError(
                403,
                f"Credential should be scoped to a valid date, not '{day}'. ",
                reason=f"scope date {day}, request date {amz_date}",
            )
        signed_names = parameters["SignedHeaders"].split(";")
        if "host" not in signed_names:
            raise AccessDeniedError(
                403,
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                reason="host not signed",
            )
        expected = self._expected(
            request,
            host=host,
            secret=secret,
            access_key=access_key,
            signed_names=signed_names,
            amz_date=amz_date,
        )
        canonical, string_to_sign, signature = expected
        if not hmac.compare_digest(signature, parameters["Signature"]):
            raise AccessDeniedError(
                403,
                f"{SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have "
                f"been\n'{canonical}'\n\nThe String-to-Sign should have been\n"
                f"'{string_to_sign}'\n",
                reason="signature mismatch",
            )
        return {
            "iam": {
                "accessKey": access_key,
                "accountId": self._account_id,
                "callerId": self._user_id,
                "cognitoIdentity": None,
                "principalOrgId": None,
                "userArn": self._user_arn,
                "userId": self._user_id,
            }
        }

    def _expected(
        self,
        request: Request,
        *,
        host: str,
        secret: str,
        access_key: str,
        signed_names: Sequence[str],
        amz_date: str,
    ) -> tuple[str, str, str]:
        """The canonical request, string to sign and signature the request should carry."""
        signed: dict[str, str] = {}
        for name in signed_names:
            values = header_values(request.headers, name)
            if name == "host" and not values:
                values = [host]
            signed[name] = ",".join(values)
        url = f"http://{host}{request.raw_path}"
        if request.raw_query:
            url += f"?{request.raw_query}"
        # Always the hash of the body that arrived: a client that claims another one in
        # X-Amz-Content-SHA256 (a changed body, or UNSIGNED-PAYLOAD) signed something else.
        headers = {"X-Amz-Content-SHA256": hashlib.sha256(request.body).hexdigest()}
        received = AWSRequest(method=request.method, url=url, headers=headers, data=request.body)
        received.context["timestamp"] = amz_date
        signer = _ReceivedRequestSigner(Credentials(access_key, secret), self.region, signed)
        canonical = signer.canonical_request(received)
        string_to_sign = signer.string_to_sign(received, canonical)
        return canonical, string_to_sign, signer.signature(string_to_sign, received)


def _request_time(headers: Sequence[tuple[str, str]]) -> dt.datetime | None:
    amz_date = single_header(headers, "x-amz-date")
    try:
        if amz_date is not None:
            return dt.datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=dt.UTC)
        date = single_header(headers, "date")
        return None if date is None else parsedate_to_datetime(date).astimezone(dt.UTC)
    except (ValueError, TypeError):
        return None


def _check_skew(moment: dt.datetime, now: dt.datetime) -> None:
    stamp, now_stamp = moment.strftime(_AMZ_DATE), now.strftime(_AMZ_DATE)
    if moment < now - MAX_SKEW:
        limit = (now - MAX_SKEW).strftime(_AMZ_DATE)
        raise AccessDeniedError(
            403,
            f"Signature expired: {stamp} is now earlier than {limit} ({now_stamp} - 5 min.)",
            reason="signature expired",
        )
    if moment > now + MAX_SKEW:
        limit = (now + MAX_SKEW).strftime(_AMZ_DATE)
        raise AccessDeniedError(
            403,
            f"Signature not yet current: {stamp} is still later than {limit} "
            f"({now_stamp} + 5 min.)",
            reason="signature from the future",
        )


def _malformed_message(
    header: str, parameters: Mapping[str, str], timestamp: dt.datetime | None
) -> str:
    missing = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if name not in parameters
    ]
    if timestamp is None:
        missing.append(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
        )
    return " ".join(missing) + f" Authorization={header}"

"""What people may write: names, RAPI credentials, hosts, image locations, OS providers and
properties. The API's schemas and the domain (so the CLI too) call the same checks, which
raise `Invalid` naming the field.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from .errors import Invalid

# The property that marks an unregistered image (kept for the servers built from it).
UNREGISTERED = "_unregistered"

# Every name a person gives (server, image, flavor, cluster, user id) is text a database,
# a log line and a terminal take as it is: printable, bounded, without blanks around it.

NAME_MAX = 255  # the columns' length
_NOT_PRINTABLE = {"Cc": "a control character", "Cs": "a lone surrogate", "Cf": "a format character",
                  "Co": "a private-use character", "Cn": "an unassigned code point", "Zl": "a line separator",
                  "Zp": "a paragraph separator", "Zs": "a space other than U+0020"}


def check_printable(value: str, field: str) -> str:
    """No control or format characters (NUL, newlines, escapes, bidirectional overrides,
    zero-width), no lone surrogates, no separators but the plain space."""
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        kind = _NOT_PRINTABLE.get(unicodedata.category(bad), "not printable")
        raise Invalid(f"must be printable text: U+{ord(bad):04X} is {kind}", field=field)
    return value


def check_name(value: Any, field: str, *, max_length: int = NAME_MAX) -> str:
    """A name: 1 to `max_length` printable characters, not beginning or ending with a blank."""
    if not isinstance(value, str):
        raise Invalid("must be a string", field=field)
    if not value.strip():
        raise Invalid("must not be empty or blank", field=field)
    if len(value) > max_length:
        raise Invalid(f"must be at most {max_length} characters", field=field)
    check_printable(value, field)
    if value != value.strip():
        raise Invalid("must not begin or end with a blank", field=field)
    return value


def check_credential(value: Any, field: str) -> str:
    """A RAPI username or password: what HTTP basic auth carries (Latin-1), printable; a
    username without ':' (basic auth's separator)."""
    if not isinstance(value, str) or not value:
        raise Invalid("must not be empty", field=field)
    if len(value) > NAME_MAX:
        raise Invalid(f"must be at most {NAME_MAX} characters", field=field)
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise Invalid(f"HTTP basic auth carries Latin-1 only: U+{ord(value[exc.start]):04X} is outside it",
                      field=field) from None
    check_printable(value, field)
    if field == "username" and ":" in value:
        raise Invalid("must not contain ':', which separates user and password in basic auth", field=field)
    return value


HOST_LENGTH = 253
_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_HOST_ERROR = "a host name, an IPv4 address or a bracketed IPv6 address"


def check_host(value: Any, field: str = "host") -> str:
    """A DNS name (labels of 1 to 63 letters, digits and inner hyphens, 253 characters in
    all), an IPv4 address, or an IPv6 address in brackets: what a URL's host can be."""
    if not isinstance(value, str) or not value or len(value) > HOST_LENGTH + 2:
        raise Invalid(_HOST_ERROR, field=field)
    if value.startswith("[") and value.endswith("]"):
        try:
            ipaddress.IPv6Address(value[1:-1])
        except ValueError:
            raise Invalid(_HOST_ERROR, field=field) from None
        return value
    if len(value) > HOST_LENGTH or not all(_HOST_LABEL.fullmatch(label) for label in value.split(".")):
        raise Invalid(_HOST_ERROR, field=field)
    return value


# An image's location is handed to Ganeti as the OS provider's `img_id`, and its `os` as the
# instance's `os_type`: what users may name there is the deployment's choice (settings).
PLAIN_LOCATION = "plain"  # in the allowed schemes: a bare file name, looked up in snf-image's IMAGE_DIR
LOCATION_MAX = 1024
_URI_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*):")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,254}")
# Printable ASCII, no blank: anything else is percent-encoded. The API's schema states it in the
# spec (a JSON Schema pattern), whatever the deployment allows.
LOCATION_TEXT = r"^[!-~]+$"
LOCATION_TEXT_ERROR = "must be printable ASCII without blanks (percent-encode anything else)"
_URL_TEXT = re.compile(LOCATION_TEXT)
_NETWORK_SCHEMES = ("http", "https", "ftp", "ftps")


def check_os_provider(os: Any, os_providers: Collection[str]) -> str:
    if not isinstance(os, str) or os not in os_providers:
        raise Invalid(f"not an OS provider this deployment allows (allowed: {', '.join(os_providers) or 'none'})",
                      field="os")
    return os


def check_location(location: Any, schemes: Collection[str]) -> str:
    """A bare file name (when `plain` is allowed) or a URL whose scheme is allowed; never
    a path, never credentials (whoever sees the image sees its location)."""
    field = "location"
    allowed = {s.lower() for s in schemes}
    shown = ", ".join(sorted(allowed)) or "none"
    if not isinstance(location, str) or not location:
        raise Invalid("must not be empty", field=field)
    if len(location) > LOCATION_MAX:
        raise Invalid(f"must be at most {LOCATION_MAX} characters", field=field)
    if not _URL_TEXT.fullmatch(location):
        raise Invalid(LOCATION_TEXT_ERROR, field=field)
    match = _URI_SCHEME.match(location)
    if match is None:
        if PLAIN_LOCATION not in allowed:
            raise Invalid(f"must be a URL with an allowed scheme ({shown})", field=field)
        if not _PLAIN_NAME.fullmatch(location):
            raise Invalid("a location without a scheme is a file name in the image directory: up to 255 letters, "
                          "digits, '.', '_', '+' and '-', not beginning with '.' and without '/'", field=field)
        return location
    scheme = match.group(1).lower()
    if scheme == PLAIN_LOCATION or scheme not in allowed:
        raise Invalid(f"the scheme {scheme[:32]!r} is not allowed (allowed: {shown})", field=field)
    if scheme in _NETWORK_SCHEMES:
        try:
            parts = urlsplit(location)
            parts.port  # noqa: B018 - raises on a port that is no number
        except ValueError:
            raise Invalid("is not a valid URL", field=field) from None
        if not parts.hostname:
            raise Invalid("a URL needs a host", field=field)
        if "@" in parts.netloc:
            raise Invalid("must not carry credentials: whoever sees the image sees its location", field=field)
    return location


MAX_PROPERTIES = 64
PROPERTY_VALUE_MAX = 1024
_PROPERTY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


def check_property_key(key: Any, field: str = "properties") -> str:
    if not isinstance(key, str) or not _PROPERTY_KEY.fullmatch(key):
        raise Invalid("keys are 1 to 64 letters, digits, '_', '.', ':' or '-', beginning with a letter or digit",
                      field=field)
    return key


def check_property_value(value: Any, field: str = "properties") -> str:
    if not isinstance(value, str):
        raise Invalid("values are strings", field=field)
    if len(value) > PROPERTY_VALUE_MAX:
        raise Invalid(f"values are at most {PROPERTY_VALUE_MAX} characters", field=field)
    return check_printable(value, field)


def check_properties(properties: Any) -> dict[str, str]:
    """At most 64 properties; short keys; printable string values of at most 1024 characters."""
    if not isinstance(properties, dict):
        raise Invalid("must be an object", field="properties")
    if len(properties) > MAX_PROPERTIES:
        raise Invalid(f"at most {MAX_PROPERTIES} properties", field="properties")
    if UNREGISTERED in properties:
        raise Invalid(f"property {UNREGISTERED!r} is reserved", field="properties")
    for key, value in properties.items():
        check_property_key(key)
        check_property_value(value)
    return properties

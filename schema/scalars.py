"""The schema's custom scalars, each with the specification it follows (`@specifiedBy`).

Strawberry's own definitions parse and serialize; only the description and the specification URL
are ours, so clients (graphql-codegen, Relay, GraphiQL) can tell what a value looks like.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType

from strawberry.file_uploads.scalars import Upload, UploadDefinition
from strawberry.schema.types.base_scalars import DateTimeDefinition
from strawberry.types.scalar import ScalarDefinition

RFC_3339 = "https://datatracker.ietf.org/doc/html/rfc3339"
MULTIPART_REQUEST = "https://github.com/jaydenseric/graphql-multipart-request-spec"

SCALARS: Mapping[object, ScalarDefinition] = MappingProxyType(
    {
        dt.datetime: dataclasses.replace(
            DateTimeDefinition,
            description=(
                "An instant: an RFC 3339 date-time, always with its UTC offset in answers "
                "(an argument without one is read as UTC)."
            ),
            specified_by_url=RFC_3339,
        ),
        Upload: dataclasses.replace(
            UploadDefinition,
            description="A file, sent as a part of a GraphQL multipart request.",
            specified_by_url=MULTIPART_REQUEST,
        ),
    }
)

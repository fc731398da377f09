"""Request bodies of the relay API, validated at the edge. Unknown fields are accepted and
ignored so newer clients keep working against an older relay."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tether.protocol import (
    MESSAGE_KINDS,
    PERMISSION_MODES,
    PUSH_EVENTS,
    ROLES,
    SCOPES,
    SESSION_STATUSES,
)
from tether.relay.errors import Unprocessable

SessionStatus = Literal[SESSION_STATUSES]
PermissionMode = Literal[PERMISSION_MODES]
Role = Literal[ROLES]
MessageKind = Literal[MESSAGE_KINDS]
Scope = Literal[SCOPES]
PushEvent = Literal[PUSH_EVENTS]
T = TypeVar("T", bound=BaseModel)


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SessionCreate(_Body):
    # Chosen by the client when it must bind encrypted data to the id before it exists.
    id: str | None = Field(None, pattern=r"^ses_[A-Za-z0-9_-]{8,64}$")
    title: str | None = Field(None, max_length=500)
    agent: str | None = Field(None, max_length=100)
    cwd: str | None = Field(None, max_length=4096)
    host: str | None = Field(None, max_length=255)
    status: SessionStatus | None = None
    permission_mode: PermissionMode | None = None
    model: str | None = Field(None, max_length=200)
    metadata: dict[str, Any] | None = None
    agent_state: dict[str, Any] | None = None


class SessionPatch(_Body):
    title: str | None = Field(None, max_length=500)
    status: SessionStatus | None = None
    model: str | None = Field(None, max_length=200)
    permission_mode: PermissionMode | None = None
    metadata: dict[str, Any] | None = None
    agent_state: dict[str, Any] | None = None
    expected_version: int | None = Field(None, ge=0, le=2**63 - 1)

    @model_validator(mode="after")
    def _one_versioned_field(self) -> SessionPatch:
        if (
            self.metadata is not None
            and self.agent_state is not None
            and self.expected_version is not None
        ):
            raise ValueError(
                "expected_version applies to one of metadata or agent_state; "
                "send them in separate requests"
            )
        return self


class WrappedKey(_Body):
    """A session key sealed to one recipient's X25519 public key (docs/encryption.md):
    the relay checks the shape only, it holds no key to check more."""

    e2e: Literal[1]
    n: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    c: str = Field(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9_-]+$")
    epk: str = Field(min_length=43, max_length=43, pattern=r"^[A-Za-z0-9_-]+$")


class SessionKeyGrant(_Body):
    """`POST /sessions/{id}/keys`: one more recipient of the session key."""

    recipient: str = Field(pattern=r"^device:[A-Za-z0-9_-]{1,64}$")
    wrapped: WrappedKey
    # Required: the grant is written against the key set the granting device read.
    expected_version: int = Field(ge=0, le=2**63 - 1)


class MessageIn(_Body):
    id: str | None = Field(None, min_length=1, max_length=200)
    role: Role = "user"
    kind: MessageKind = "user_text"
    content: Any = None
    raw: Any = None


class PermissionModeIn(_Body):
    mode: PermissionMode


class PermissionOpen(_Body):
    tool_name: str = Field(min_length=1, max_length=200)
    tool_use_id: str | None = Field(None, max_length=200)
    input: dict[str, Any] = Field(default_factory=dict)
    title: str | None = None
    description: str | None = None
    suggestions: list[Any] = Field(default_factory=list)
    timeout: float | None = Field(None, gt=0, le=7 * 24 * 3600)


SuggestionIndexes = Annotated[
    list[Annotated[int, Field(ge=0, le=999, strict=True)]], Field(max_length=100)
]


class PermissionAnswer(_Body):
    behavior: Literal["allow", "deny"] | None = None
    # The older confirmation contract answers with {"allowed": true|false}.
    allowed: bool | None = None
    updated_input: dict[str, Any] | None = None
    message: str | None = Field(None, max_length=10_000)
    interrupt: bool = False
    # Which of the request's `suggestions` to apply from now on, by index; `true` applies
    # them all (the older form).
    remember: bool | SuggestionIndexes = False

    @model_validator(mode="after")
    def _has_decision(self) -> PermissionAnswer:
        if self.behavior is None:
            if self.allowed is None:
                raise ValueError("give behavior ('allow' or 'deny')")
            self.behavior = "allow" if self.allowed else "deny"
        return self


class PermissionCancel(_Body):
    reason: str | None = Field(None, max_length=10_000)


class TokenCreate(_Body):
    scope: Scope
    name: str | None = Field(None, min_length=1, max_length=100)


B64_KEY = r"^[A-Za-z0-9_-]{43}$"  # 32 bytes, base64url without padding


class PairingCreate(_Body):
    # The id and verifier come from the host (`tether pair`), which keeps the secret.
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    verifier: str = Field(pattern=B64_KEY)
    scope: Scope = "client"
    name: str = Field(min_length=1, max_length=100)
    expires_in: float = Field(300, gt=0, le=24 * 3600)


class PairingComplete(_Body):
    nonce: str = Field(min_length=1, max_length=100)
    public_key: str = Field(pattern=B64_KEY)
    proof: str = Field(pattern=B64_KEY)
    host_proof: str | None = Field(None, pattern=B64_KEY)


class SessionEnd(_Body):
    reason: str | None = Field(None, max_length=10_000)


class PushKeys(_Body):
    p256dh: str = Field(min_length=1, max_length=200)
    auth: str = Field(min_length=1, max_length=100)


PushEvents = Annotated[list[PushEvent], Field(max_length=20)]


class PushSubscribe(_Body):
    """A browser's PushSubscription (its toJSON()), plus this device's settings."""

    endpoint: str = Field(min_length=1, max_length=2048)
    keys: PushKeys
    events: PushEvents | None = None
    quiet: bool | None = None


class PushUnsubscribe(_Body):
    endpoint: str = Field(min_length=1, max_length=2048)


class PushSettingsIn(_Body):
    events: PushEvents | None = None
    quiet: bool | None = None


def validate(model: type[T], data: Any) -> T:
    """Validate a parsed body; a violation is a 422 that names the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Unprocessable(
            f"{where}: {first['msg']}",
            extra={
                "fields": [
                    {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
                    for e in errors
                ]
            },
        ) from None

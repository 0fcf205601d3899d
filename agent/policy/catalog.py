"""The AI-service catalog: what each service is, where it lives and how it takes uploads.

The catalog is data IT publishes (signatures/catalog/*.yaml, shipped in signed bundles). These
models ARE its schema: a catalog that fails them is rejected with the offending service and
field named, so a typo cannot quietly stop enforcement. `signatures/schema/catalog.schema.json`
is generated from them for editors and CI.

The proxy asks two questions per flow, both cheap after the catalog is loaded:
`service_for_host(host)` (a dict hit plus one probe per host suffix) and
`endpoint_for(service, method, path)` (a handful of precompiled regexes per service).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from agent.policy.hosts import HostIndex, HostPatternError, host_matches, validate_host_pattern
from agent.policy.paths import JsonPath, PatternError, compile_path_pattern, strip_query

Category = Literal[
    "chat",  # general assistants and chatbots
    "search",  # answer engines
    "coding",  # code assistants
    "transcription",  # speech to text
    "speech",  # text to speech, voice cloning, speech to speech
    "voice-agent",  # realtime voice agents and telephony bots
    "meeting",  # meeting recorders and note takers
    "medical-scribe",  # ambient clinical documentation
    "image",  # image generation and editing
    "video",  # video generation, avatars, editing
    "music",  # music and sound generation
    "translation",
    "writing",
    "aggregator",  # one API or app in front of many models
    "inference",  # model hosting and inference platforms
    "cloud-ai",  # hyperscaler AI platforms
    "local",  # model servers and apps running on the workstation
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]

Interface = Literal["api", "web", "both"]
Status = Literal["approved", "unapproved"]
Transport = Literal["http", "websocket", "webrtc-signalling"]
Resumable = Literal["google", "openai-uploads", "tus", "presigned"]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
Platform = Literal["linux", "windows", "macos"]

_HOST_CACHE_SIZE = 8192
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$")


def _host_pattern(value: str) -> str:
    try:
        return validate_host_pattern(value)
    except HostPatternError as exc:
        raise ValueError(str(exc)) from None


def _path_pattern(value: str) -> str:
    try:
        compile_path_pattern(value)
    except PatternError as exc:
        raise ValueError(str(exc)) from None
    return value


def _json_path(value: str) -> str:
    try:
        JsonPath.compile(value)
    except PatternError as exc:
        raise ValueError(str(exc)) from None
    return value


def _identifier(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{value!r} is not an id: lower-case letters, digits and '-', at most 63 characters")
    return value


def _header_name(value: str) -> str:
    if not _HEADER.match(value):
        raise ValueError(f"{value!r} is not an HTTP header name")
    return value


def _regex(value: str) -> str:
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
    if "tenant" not in compiled.groupindex:
        raise ValueError(f"regular expression {value!r} needs a named group (?P<tenant>...)")
    return value


HostPattern = Annotated[str, AfterValidator(_host_pattern)]
PathPattern = Annotated[str, AfterValidator(_path_pattern)]
JsonPathText = Annotated[str, AfterValidator(_json_path)]
Identifier = Annotated[str, AfterValidator(_identifier)]
HeaderName = Annotated[str, AfterValidator(_header_name)]
TenantRegex = Annotated[str, AfterValidator(_regex)]


class _Model(BaseModel):
    # Unknown keys are errors: a misspelt `multipart_field:` must not silently disable inspection.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PcmFormat(_Model):
    """Headerless audio in a stream (realtime APIs): how to read it for fingerprinting."""

    sample_rate: Annotated[int, Field(ge=4000, le=192_000)] = 16_000
    channels: Annotated[int, Field(ge=1, le=8)] = 1
    sample_format: Literal["s16le", "f32le", "mulaw", "alaw"] = "s16le"


class StreamShape(_Model):
    """How media travels in the messages of a websocket (or similar) stream."""

    binary_audio: bool = Field(default=False, description="binary frames are raw audio")
    type_field: str = Field(default="type", description="JSON key naming the message type")
    event_types: tuple[str, ...] = Field(
        default=(), description="only messages of these types carry media; empty: any message"
    )
    media_json: tuple[JsonPathText, ...] = Field(default=(), description="JSON paths of base64 media in text messages")
    pcm: PcmFormat | None = Field(default=None, description="format of headerless audio; None: sniff")


class Endpoint(_Model):
    """One API path of a service and the shape of the uploads it takes."""

    path: PathPattern
    methods: tuple[Method, ...] = ("POST",)
    hosts: tuple[HostPattern, ...] = Field(default=(), description="only on these of the service's hosts")
    transport: Transport = "http"
    purpose: str = ""
    multipart_fields: tuple[str, ...] = Field(default=(), description="form fields carrying files; '*': any part")
    json_base64: tuple[JsonPathText, ...] = Field(
        default=(), description="JSON paths of base64 media or data: URLs in a JSON body"
    )
    raw_body: bool = Field(default=False, description="the body is the media itself")
    resumable: Resumable | None = Field(default=None, description="chunked upload protocol")
    stream: StreamShape | None = None
    scan: bool = Field(default=False, description="no documented shape: inspect the whole body generically")
    example: str = Field(description="an example request path (query allowed) this endpoint matches")

    _regex: re.Pattern[str] = PrivateAttr()
    _host_index: HostIndex[str] | None = PrivateAttr(default=None)

    def model_post_init(self, context: object, /) -> None:
        self._regex = compile_path_pattern(self.path)
        if self.hosts:
            self._host_index = HostIndex.build((p, p) for p in self.hosts)

    @model_validator(mode="after")
    def _consistent(self) -> Endpoint:
        if self.transport == "websocket" and self.stream is None:
            raise ValueError(f"endpoint {self.path}: a websocket endpoint needs a `stream` shape")
        if self.stream is not None and self.transport != "websocket":
            raise ValueError(f"endpoint {self.path}: `stream` is only for websocket endpoints")
        if not compile_path_pattern(self.path).match(strip_query(self.example)):
            raise ValueError(f"endpoint {self.path}: its example {self.example!r} does not match the path")
        return self

    def matches(self, method: str, path: str, host: str | None = None) -> bool:
        """Method and path (without query) match; when a host is given, it must be one of `hosts`."""
        if method.upper() not in self.methods or self._regex.match(path) is None:
            return False
        return host is None or self._host_index is None or self._host_index.lookup(host) is not None

    @property
    def carries_media(self) -> bool:
        return bool(
            self.multipart_fields
            or self.json_base64
            or self.raw_body
            or self.resumable
            or self.stream
            or self.scan
            or self.transport == "webrtc-signalling"
        )


class TenantSource(_Model):
    """Where a request names its tenant: a header, the path or the host, optionally via a regex."""

    where: Literal["header", "path", "host"] = "header"
    header: HeaderName | None = None
    regex: TenantRegex | None = Field(default=None, description="named group `tenant` extracts the id")
    fingerprint: bool = Field(
        default=False,
        description="the value is a credential: compare 'sha256:' + first 16 hex digits of its SHA-256",
    )
    strip_prefix: str = Field(default="", description="e.g. 'Bearer ' before fingerprinting")

    @model_validator(mode="after")
    def _consistent(self) -> TenantSource:
        if self.where == "header" and not self.header:
            raise ValueError("a header tenant source needs `header`")
        if self.where != "header" and self.header:
            raise ValueError(f"`header` is only for header tenant sources, not {self.where!r}")
        if self.where in ("path", "host") and not self.regex:
            raise ValueError(f"a {self.where} tenant source needs `regex` with (?P<tenant>...)")
        return self


class TenantRestriction(_Model):
    """A vendor-enforced tenant restriction: the proxy injects headers and the vendor refuses
    sign-in to any other tenant (Microsoft Tenant Restrictions, Google allowed domains)."""

    hosts: tuple[HostPattern, ...]
    headers: dict[HeaderName, str] = Field(
        description="header -> value template; {tenants} = approved tenants comma-joined, {context} = context id"
    )


class TenantRule(_Model):
    """How this service tells an enterprise tenant from a personal account on the same domain."""

    sources: tuple[TenantSource, ...] = ()
    restriction: TenantRestriction | None = None
    note: str = ""

    @model_validator(mode="after")
    def _something(self) -> TenantRule:
        if not self.sources and self.restriction is None:
            raise ValueError("a tenant rule needs `sources` or a `restriction`")
        return self


class LocalApp(_Model):
    """A local AI app or model server, for the workstation inventory (psutil process scan)."""

    id: Identifier
    name: str
    process_names: tuple[str, ...] = Field(default=(), description="psutil Process.name(), case-insensitive")
    exe_globs: tuple[str, ...] = Field(default=(), description="fnmatch patterns on the executable path")
    cmdline_globs: tuple[str, ...] = Field(default=(), description="fnmatch patterns on the joined command line")
    ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = Field(default=(), description="default listen ports")
    probe_paths: tuple[PathPattern, ...] = Field(default=(), description="local HTTP paths that identify it")
    platforms: tuple[Platform, ...] = ("linux", "windows", "macos")

    @model_validator(mode="after")
    def _identifiable(self) -> LocalApp:
        if not (self.process_names or self.exe_globs or self.cmdline_globs):
            raise ValueError(f"local app {self.id}: needs process_names, exe_globs or cmdline_globs")
        return self


class Service(_Model):
    """One AI service (a vendor product reachable at a set of hosts)."""

    id: Identifier
    name: str = Field(min_length=1)
    vendor: str = Field(min_length=1)
    category: Category
    interface: Interface
    default_status: Status = "unapproved"
    hosts: tuple[HostPattern, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    tenant: TenantRule | None = None
    local_apps: tuple[LocalApp, ...] = ()
    examples: tuple[str, ...] = Field(default=(), description="example URLs: each host pattern must match one")
    notes: str = ""

    @field_validator("examples")
    @classmethod
    def _urls(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
                raise ValueError(f"example {url!r} is not an absolute http(s)/ws(s) URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Service:
        if not self.hosts and not self.local_apps:
            raise ValueError(f"service {self.id}: needs hosts or local_apps")
        if self.hosts and not self.examples:
            raise ValueError(f"service {self.id}: needs example URLs for its host patterns")
        index = HostIndex.build((pattern, pattern) for pattern in self.hosts)
        covered: set[str] = set()
        for url in self.examples:
            found = index.lookup_pattern(urlsplit(url).hostname or "")
            if found is None:
                raise ValueError(f"service {self.id}: example {url!r} matches none of its hosts")
            covered.update(p for p in self.hosts if host_matches(p, urlsplit(url).hostname or ""))
        uncovered = [p for p in self.hosts if p not in covered]
        if uncovered:
            raise ValueError(f"service {self.id}: host pattern(s) {uncovered} match none of its example URLs")
        for endpoint in self.endpoints:
            for pattern in endpoint.hosts:
                if pattern not in self.hosts:
                    raise ValueError(f"service {self.id}: endpoint {endpoint.path} host {pattern!r} is not a host")
        return self

    _matchers: tuple[tuple[frozenset[str], re.Pattern[str], HostIndex[str] | None, Endpoint], ...] = PrivateAttr()

    def model_post_init(self, context: object, /) -> None:
        # One tuple per endpoint, read through a single attribute lookup on the hot path.
        self._matchers = tuple(
            (frozenset(e.methods), compile_path_pattern(e.path), e._host_index, e) for e in self.endpoints
        )

    def endpoint_for(self, method: str, path: str, host: str | None = None) -> Endpoint | None:
        """The first endpoint (in catalog order) matching method, path (query ignored) and host."""
        path = strip_query(path)
        method = method.upper()
        for methods, regex, hosts, endpoint in self._matchers:
            if (
                method in methods
                and regex.match(path) is not None
                and (host is None or hosts is None or hosts.lookup(host) is not None)
            ):
                return endpoint
        return None


class Catalog(_Model):
    """All services; `service_for_host` is the proxy's hot path."""

    version: str = Field(min_length=1, max_length=64)
    services: tuple[Service, ...]

    _hosts: HostIndex[Service] = PrivateAttr()
    _by_id: dict[str, Service] = PrivateAttr()
    _host_cache: dict[str, Service | None] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> Catalog:
        seen_ids: set[str] = set()
        owners: dict[str, str] = {}
        for service in self.services:
            if service.id in seen_ids:
                raise ValueError(f"duplicate service id {service.id!r}")
            seen_ids.add(service.id)
            for pattern in service.hosts:
                if pattern in owners:
                    raise ValueError(
                        f"host pattern {pattern!r} is claimed by both {owners[pattern]!r} and {service.id!r}"
                    )
                owners[pattern] = service.id
        return self

    def model_post_init(self, context: object, /) -> None:
        self._by_id = {service.id: service for service in self.services}
        self._hosts = HostIndex.build((pattern, s) for s in self.services for pattern in s.hosts)

    def service_for_host(self, host: str) -> Service | None:
        """The service owning `host` (port, case and trailing dot ignored); memoised per host."""
        cache = self._host_cache
        try:
            return cache[host]
        except KeyError:
            pass
        found = self._hosts.lookup(host)
        if len(cache) >= _HOST_CACHE_SIZE:
            cache.clear()  # bounded: a flood of random hosts cannot grow memory
        cache[host] = found
        return found

    def service(self, service_id: str) -> Service | None:
        return self._by_id.get(service_id)

    def endpoint_for(self, service: Service, method: str, path: str, host: str | None = None) -> Endpoint | None:
        return service.endpoint_for(method, path, host)

    def local_apps(self) -> Iterator[tuple[Service, LocalApp]]:
        for service in self.services:
            for app in service.local_apps:
                yield service, app

"""Host patterns: the wildcard grammar of the catalog and the index that looks hosts up fast.

Grammar (validated when a catalog or policy is loaded, so a bad pattern never reaches the proxy):

- ``api.openai.com``: exactly that host.
- ``*.openai.com``: a leading label that is exactly ``*`` matches ONE OR MORE labels, so it
  covers ``a.openai.com`` and ``a.b.openai.com`` but not ``openai.com`` itself (list the apex
  separately). Blocking needs "anything under the vendor's domain", unlike TLS's one-label rule.
- ``*-aiplatform.googleapis.com``, ``bedrock-runtime.*.amazonaws.com``: any other ``*`` matches
  within one label (letters, digits, hyphens).

Hosts are compared lower-case, without a trailing dot or port. Lookup is a dict hit for exact
hosts, then one dict probe per suffix of the host (so cost grows with the number of labels,
not the number of patterns), with the regex run only on the few candidates sharing a suffix.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_GLOB_LABEL = re.compile(r"^[a-z0-9*-]{1,63}$")
MAX_HOST_LENGTH = 253


class HostPatternError(ValueError):
    """A host pattern does not follow the grammar above; the message says which part."""


def normalize_host(host: str) -> str:
    """Lower-case, strip a trailing dot, a port and IPv6 brackets: the form patterns see."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[1:end] if end > 0 else host.strip("[]")
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def validate_host_pattern(pattern: str) -> str:
    """Return the normalised pattern or raise `HostPatternError` naming the problem."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise HostPatternError("empty host pattern")
    text = pattern.strip().lower().rstrip(".")
    if _is_ip(text):
        return text
    if any(ch in text for ch in "/:?#@ \t[]"):
        raise HostPatternError(f"invalid host pattern {pattern!r}: a host pattern is a name, not a URL")
    if len(text) > MAX_HOST_LENGTH:
        raise HostPatternError(f"invalid host pattern {pattern!r}: longer than {MAX_HOST_LENGTH} characters")
    labels = text.split(".")
    if len(labels) < 2:
        raise HostPatternError(f"invalid host pattern {pattern!r}: needs at least two labels (e.g. example.com)")
    for index, label in enumerate(labels):
        if not label:
            raise HostPatternError(f"invalid host pattern {pattern!r}: empty label")
        if "*" in label:
            if not _GLOB_LABEL.match(label):
                raise HostPatternError(f"invalid host pattern {pattern!r}: bad characters in label {label!r}")
            if "**" in label:
                raise HostPatternError(f"invalid host pattern {pattern!r}: '**' is not allowed")
        elif not _LABEL.match(label):
            raise HostPatternError(f"invalid host pattern {pattern!r}: bad label {label!r}")
        if index == len(labels) - 1 and "*" in label:
            raise HostPatternError(f"invalid host pattern {pattern!r}: the top-level label cannot be a wildcard")
    literal_suffix = _literal_suffix(labels)
    if len(literal_suffix) < 2:
        raise HostPatternError(
            f"invalid host pattern {pattern!r}: wildcards must be under a fixed domain of at least two labels"
        )
    return text


def _literal_suffix(labels: list[str]) -> list[str]:
    suffix: list[str] = []
    for label in reversed(labels):
        if "*" in label:
            break
        suffix.append(label)
    return list(reversed(suffix))


def _compile(pattern: str) -> re.Pattern[str]:
    labels = pattern.split(".")
    parts: list[str] = []
    for index, label in enumerate(labels):
        if index == 0 and label == "*":
            parts.append(r"(?:[a-z0-9_-]+\.)*[a-z0-9_-]+")
        else:
            parts.append(r"[a-z0-9_-]*".join(re.escape(piece) for piece in label.split("*")))
    return re.compile(r"\.".join(parts) + r"\Z")


def host_matches(pattern: str, host: str) -> bool:
    """Whether `host` matches one pattern (validated). For many patterns use `HostIndex`."""
    pattern = validate_host_pattern(pattern)
    host = normalize_host(host)
    if "*" not in pattern:
        return host == pattern
    return _compile(pattern).match(host) is not None


@dataclass(frozen=True)
class _Entry[T]:
    pattern: str
    regex: re.Pattern[str]
    value: T
    rank: tuple[int, int]


@dataclass
class HostIndex[T]:
    """Maps hosts to values by pattern; exact hosts win, then the most specific wildcard."""

    _exact: dict[str, tuple[str, T]] = field(default_factory=dict)
    _by_suffix: dict[str, list[_Entry[T]]] = field(default_factory=dict)

    @classmethod
    def build(cls, items: Iterable[tuple[str, T]]) -> HostIndex[T]:
        index: HostIndex[T] = cls()
        for pattern, value in items:
            index.add(pattern, value)
        return index

    def add(self, pattern: str, value: T) -> None:
        pattern = validate_host_pattern(pattern)
        if "*" not in pattern:
            self._exact.setdefault(pattern, (pattern, value))
            return
        labels = pattern.split(".")
        suffix = ".".join(_literal_suffix(labels))
        literal_chars = sum(len(label.replace("*", "")) for label in labels)
        entry = _Entry(pattern, _compile(pattern), value, (len(suffix), literal_chars))
        bucket = self._by_suffix.setdefault(suffix, [])
        bucket.append(entry)
        bucket.sort(key=lambda e: e.rank, reverse=True)

    def lookup(self, host: str) -> T | None:
        found = self.lookup_pattern(host)
        return found[1] if found else None

    def lookup_pattern(self, host: str) -> tuple[str, T] | None:
        """The matching (pattern, value), most specific first; None when nothing matches."""
        host = normalize_host(host)
        exact = self._exact.get(host)
        if exact is not None:
            return exact
        if not self._by_suffix:
            return None
        labels = host.split(".")
        # Longest literal suffix first: it is the most specific claim on the host.
        for start in range(len(labels)):
            bucket = self._by_suffix.get(".".join(labels[start:]))
            if bucket:
                for entry in bucket:
                    if entry.regex.match(host):
                        return entry.pattern, entry.value
        return None

    def __len__(self) -> int:
        return len(self._exact) + sum(len(b) for b in self._by_suffix.values())

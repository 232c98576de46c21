"""The Hugging Face hub as an external resource: a reachability probe with bounded retries and a backoff, the
offline mode, the local cache, and one-line errors (a leaf: it imports nothing from hmnet but the error types).

Every hub access of the package (backbones, their configs and tokenizers in :mod:`hmnet.backbone`, datasets in
:mod:`hmnet.data.hub`) goes through :func:`hub_load`, which calls ``load(local_only)``:

1. With ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE`` / ``HF_DATASETS_OFFLINE``) only the local cache is read
   (``load(True)``); a resource that is not there is one line saying so.
2. Otherwise the hub's host (or the HTTPS proxy) is probed first: a TCP connection, tried ``attempts`` times with
   a backoff (``backoff`` seconds, doubled after each try), each try at most ``timeout`` seconds. A hub that is
   not there is known within :meth:`HubPolicy.budget` seconds: about 3 s when its name does not resolve or the
   connection is refused, at most 18 s with the defaults (a host that swallows packets), instead of the hub
   client's own retries of every file for minutes. The cached copy is then used if there is one, with a warning;
   else it is a one-line error.
3. A reachable hub is asked (``load(False)``); a transient error (a dropped connection, a timeout, HTTP
   408/429/5xx) is retried the same bounded number of times with the same backoff. "Not found", "gated",
   "kept failing" and a damaged download are one line each, with what to do.

The policy can be set from the environment: ``HMNET_HUB_ATTEMPTS`` (3), ``HMNET_HUB_BACKOFF`` (1 second) and
``HMNET_HUB_TIMEOUT`` (5 seconds).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlparse

from hmnet.errors import HmnetError, ResourceError, UsageError, resource_message

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_ENDPOINT = "https://huggingface.co"
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
# How the hub and its clients (huggingface_hub, httpx2, requests, datasets) name their faults, by class name, so
# that none of them needs importing here. Transient faults are matched anywhere in a class's bases.
TRANSIENT = frozenset({"ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "NetworkError",
                       "RemoteProtocolError", "ConnectionError", "TimeoutError", "gaierror", "ProxyError"})
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
GATED = frozenset({"GatedRepoError"})
NOT_FOUND = frozenset({"RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError",
                       "RemoteEntryNotFoundError", "DatasetNotFoundError"})
NOT_CACHED = frozenset({"LocalEntryNotFoundError", "OfflineModeIsEnabled", "NotCachedError"})
# Errors of the program itself, never reported as a fault of the hub.
BUGS = (TypeError, AttributeError, NameError, AssertionError, RecursionError, KeyboardInterrupt)


class HubError(ResourceError):
    """The hub (or its local cache) cannot give a model, tokenizer or dataset; the one line says why and what
    to do."""


class NotCachedError(FileNotFoundError):
    """Raised by a ``load(local_only=True)`` that finds nothing in the local cache."""


@dataclass(frozen=True)
class HubPolicy:
    """Tries of a hub access that fails transiently, the first wait between them (doubled after each) and the
    longest a connection attempt of the probe waits, in seconds."""

    attempts: int = 3
    backoff: float = 1.0
    timeout: float = 5.0

    @classmethod
    def from_env(cls) -> HubPolicy:
        """The policy with ``HMNET_HUB_ATTEMPTS``, ``HMNET_HUB_BACKOFF`` and ``HMNET_HUB_TIMEOUT`` where set."""
        values = {}
        for name, kind, low in (("attempts", int, 1), ("backoff", float, 0.0), ("timeout", float, 0.1)):
            text = os.environ.get(f"HMNET_HUB_{name.upper()}")
            if not text:
                continue
            try:
                values[name] = kind(text)
            except ValueError:
                values[name] = None
            if values[name] is None or values[name] < low:
                raise UsageError(f"$HMNET_HUB_{name.upper()} must be a number of at least {low}, got {text!r}")
        return cls(**values)

    def budget(self) -> float:
        """The most seconds the probe of a hub that is not there takes: every try times out, with the waits."""
        return self.attempts * self.timeout + sum(self.backoff * 2**i for i in range(self.attempts - 1))


@dataclass(frozen=True)
class Probe:
    reachable: bool
    attempts: int
    seconds: float
    cause: str = ""


def endpoint() -> str:
    """The hub's address: ``$HF_ENDPOINT``, else huggingface_hub's, else https://huggingface.co."""
    if os.environ.get("HF_ENDPOINT"):
        return os.environ["HF_ENDPOINT"].rstrip("/")
    try:
        from huggingface_hub import constants
    except ImportError:
        return DEFAULT_ENDPOINT
    return str(getattr(constants, "ENDPOINT", DEFAULT_ENDPOINT)).rstrip("/")


def offline() -> bool:
    """Whether the offline mode is on (the variables as they are now, or as huggingface_hub read them)."""
    if any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE") for v in OFFLINE_VARIABLES):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


def _probe_target() -> tuple[str, int]:
    """The host and port a connection to the hub goes to first: the HTTPS proxy where one is set."""
    proxy = next((os.environ[v] for v in PROXY_VARIABLES if os.environ.get(v)), None)
    target = proxy or endpoint()
    parsed = urlparse(target if "://" in target else f"http://{target}")
    return parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)


def probe(policy: HubPolicy, sleep: Callable[[float], None] = time.sleep) -> Probe:
    """Whether a TCP connection to the hub can be opened, tried with the policy's attempts and backoff."""
    host, port = _probe_target()
    start, wait, cause = time.monotonic(), policy.backoff, ""
    for attempt in range(1, policy.attempts + 1):
        try:
            socket.create_connection((host, port), timeout=policy.timeout).close()
            return Probe(True, attempt, time.monotonic() - start)
        except OSError as err:
            cause = describe(err)
        if attempt < policy.attempts:
            log.info("the hub at %s:%s does not answer (%s); try %d of %d again in %.1f s", host, port, cause,
                     attempt + 1, policy.attempts, wait)
            sleep(wait)
            wait *= 2
    return Probe(False, policy.attempts, time.monotonic() - start, cause)


def _chain(err: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    while err is not None and err not in out:
        out.append(err)
        err = err.__cause__ or err.__context__
    return out


def classify(err: BaseException) -> str:
    """What a failed hub access means: "gated", "not_found", "transient", "not_cached" or "other"."""
    chain = _chain(err)
    names = {type(e).__name__ for e in chain}
    bases = {c.__name__ for e in chain for c in type(e).__mro__}
    status = {getattr(getattr(e, "response", None), "status_code", None) for e in chain}
    if GATED & bases or {401, 403} & status:
        return "gated"
    if NOT_FOUND & names or 404 in status:
        return "not_found"
    if "OfflineModeIsEnabled" in names:  # a ConnectionError, but no network fault
        return "not_cached"
    if TRANSIENT & bases or TRANSIENT_STATUS & status:
        return "transient"
    if NOT_CACHED & bases:
        return "not_cached"
    return "other"


def describe(err: BaseException) -> str:
    """The innermost cause of `err` in a few words: ``ConnectError: [Errno -2] Name or service not known``."""
    inner = _chain(err)[-1]
    text = " ".join(str(inner).split())
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def with_retries(call: Callable[[], T], policy: HubPolicy, what: str,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """`call()`, tried again after a transient failure (:func:`classify`) up to the policy's attempts, waiting
    ``backoff`` seconds and twice as long after each failure; the last failure is raised."""
    wait = policy.backoff
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except Exception as err:
            if attempt == policy.attempts or isinstance(err, (*BUGS, HmnetError)) or classify(err) != "transient":
                raise
            log.warning("%s: %s (try %d of %d); trying again in %.1f s", what, describe(err), attempt,
                        policy.attempts, wait)
            sleep(wait)
            wait *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def hub_load(what: str, load: Callable[[bool], T], fix: str, policy: HubPolicy | None = None) -> T:
    """``load(local_only)`` of a resource on the hub, by the steps of the module docstring; every failure is a
    one-line :class:`HubError` naming `what` (e.g. ``backbone 'bert-base-uncased'``), the cause and `fix` (what
    the user can do instead, e.g. ``pass --backbone DIR for a local checkpoint``)."""
    policy = policy or HubPolicy.from_env()
    if offline():
        try:
            return load(True)
        except Exception as err:
            raise _error(what, err, fix, offline=True) from err
    check = probe(policy)
    if not check.reachable:
        try:
            value = load(True)
        except Exception as err:
            if isinstance(err, (*BUGS, HmnetError)) or classify(err) == "other":
                raise _error(what, err, fix) from err
            raise HubError(resource_message(
                what, f"the Hugging Face hub ({endpoint()}) is unreachable ({check.cause}; {check.attempts} "
                f"attempt(s) over {check.seconds:.1f} s) and the local cache holds no copy",
                f"{fix}, or set HF_HUB_OFFLINE=1 with a filled cache")) from None
        log.warning("%s: the Hugging Face hub is unreachable (%s); using the copy in the local cache", what,
                    check.cause)
        return value
    try:
        return with_retries(lambda: load(False), policy, what)
    except Exception as err:
        raise _error(what, err, fix, attempts=policy.attempts) from err


def _error(what: str, err: Exception, fix: str, offline: bool = False, attempts: int = 1) -> Exception:
    """The one-line HubError for a failed ``load`` (program errors and hmnet's own errors pass unchanged)."""
    if isinstance(err, (*BUGS, HmnetError)):
        return err
    kind, cause = classify(err), describe(err)
    if offline and kind in ("not_cached", "not_found", "transient"):
        line = resource_message(what, "not in the local cache, and HF_HUB_OFFLINE=1 forbids a download",
                                f"{fix}, or fill the cache once with a network (HF_HUB_OFFLINE unset)")
    elif kind == "gated":
        line = resource_message(what, f"gated or private on the Hugging Face hub ({cause})",
                                f"accept its terms on the hub and log in (`hf auth login` or HF_TOKEN), or {fix}")
    elif kind == "not_found":
        line = resource_message(what, f"not found on the Hugging Face hub ({endpoint()}) nor as a local folder",
                                f"check the name, or {fix}")
    elif kind == "transient":
        line = resource_message(what, f"the Hugging Face hub kept failing ({cause}; {attempts} attempt(s))",
                                f"try again later, or {fix}, or set HF_HUB_OFFLINE=1 with a filled cache")
    else:
        line = resource_message(what, f"cannot be loaded ({cause}): a damaged or incomplete download?",
                                f"delete it from the cache ({cache_hint()}) and load it again, or {fix}")
    return HubError(line)


def cache_hint() -> str:
    """Where the hub's local cache is (``$HF_HOME/hub``), for messages."""
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except ImportError:  # pragma: no cover - huggingface_hub comes with transformers
        return "~/.cache/huggingface/hub"


__all__ = ["HubError", "HubPolicy", "NotCachedError", "Probe", "classify", "describe", "endpoint", "hub_load",
           "offline", "probe", "with_retries"]

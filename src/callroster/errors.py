"""Every exception Callroster raises, drawn in one place.

Errors a user or operator can act on derive from ``CallrosterError``. Each carries a one-line
message meant for a person: the CLI turns it into that line on stderr and a distinct exit code,
never a traceback, and the web app answers it with one HTTP status, mapped in one place
(``callroster.api.errors``)::

    CallrosterError                 exit 1
    ├── ConfigError                 exit 2          bad or contradictory configuration
    ├── MasterKeyError              exit 3          master key missing, unreadable or wrong
    ├── StoreUnavailableError       exit 4          database cannot be reached or opened
    ├── PortInUseError              exit 5          a listening port is taken
    ├── NotFoundError               exit 6  HTTP 404  a named thing does not exist
    ├── DataKeyDestroyedError       exit 7  HTTP 410  the account's personal data was shredded
    ├── AccessDeniedError           exit 1  HTTP 403  the actor may not read or change this
    │                                                 (404 where a route hides existence)
    └── DuplicateError              exit 1  HTTP 409  a unique value is already taken

    ValueError                              HTTP 422  a value a person gave is not valid (only
    │                                                 where a route expects it: elsewhere a
    │                                                 ValueError is a bug, answered 500)
    ├── InvalidValueError           privacy/normalise.py       phone or email not normalisable
    ├── ImportError_                privacy/contact_import.py  contact file with bad lines
    ├── ForbiddenDestinationError   crm/destination.py         a webhook URL whose host is not
    │                                                          public (loopback, private...)
    ├── DigestError                 sip/digest.py              malformed digest challenge
    ├── SdpError                    sdp/session.py
    │   └── SdpSyntaxError
    └── RtpError                    rtp/packet.py              malformed RTP packet

The bridge's refusals reach the API, which answers them itself (the SIP core's own errors
stay inside the bridge)::

    BridgeError                     bridge/errors.py
    ├── ConferenceLocked            HTTP 423   only hosts may join now
    ├── TooManyCalls                HTTP 503   the bridge is at its call limit
    ├── TooManyPendingJoins         HTTP 429   too many browser joins still connecting
    └── NotInProgress (KeyError)    HTTP 404   no such conference or leg on this node
    WebPeerError                    HTTP 422   a browser's offer cannot be answered
                                               (bridge/web_peer.py)

The protocol cores' own errors never reach a person as such: the layer above turns them into
a SIP reply, an event or a log line::

    SipError                        sip/message.py    knows its reply (code, reason)
    ├── BadRequest                  sip/message.py    400
    │   └── VersionNotSupported     sip/message.py    505
    ├── MessageTooLarge             sip/message.py    513
    ├── Refused                     sip/core.py       any final status the core chose
    ├── CSeqOutOfOrder              sip/dialog.py     500
    └── SessionIntervalTooSmall     sip/session_timer.py  422 with Min-SE
    DialogError                     sip/dialog.py     an illegal move in a dialog
    TransactionError                sip/transaction.py  an illegal move in a transaction
    EndpointError                   sip/endpoint.py   a command the endpoint cannot carry out
    └── CallLimitReached            sip/endpoint.py   no room for another call
    CallStateError                  bridge/calls.py   an illegal move in a call's state table
    ConferenceError                 conference/conference.py  a command that does not apply
    DecryptionError                 privacy/keys.py   a ciphertext did not authenticate
    UnknownPromptError (KeyError)   media/prompt_library.py

A repository raises ``NotFoundError``, ``AccessDeniedError``, ``DuplicateError``,
``DataKeyDestroyedError`` or ``ValueError``, and nothing about HTTP; routes let them through
to the app's handler, or name a route's own answer (see ``callroster.api.errors``).
"""

from __future__ import annotations


class CallrosterError(Exception):
    """Base of the errors shown to a person as one line."""

    exit_code = 1


class ConfigError(CallrosterError):
    exit_code = 2


class MasterKeyError(CallrosterError):
    exit_code = 3


class StoreUnavailableError(CallrosterError):
    exit_code = 4


class PortInUseError(CallrosterError):
    exit_code = 5


class NotFoundError(CallrosterError):
    exit_code = 6


class DataKeyDestroyedError(CallrosterError):
    """The account's data key was destroyed: its personal data is unreadable by design."""

    exit_code = 7


class AccessDeniedError(CallrosterError):
    """The actor may not read or change this account's data."""


class DuplicateError(CallrosterError):
    """A unique value (email, PIN, link) is already taken."""


class InUseError(CallrosterError):
    """The thing is in use (a conference in progress, a number accounts are limited to) and
    cannot be removed as asked."""

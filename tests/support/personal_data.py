"""The personal data the test suite feeds the service: what must never reach a log line in
clear (tests/support/log_scan.py scans every log record of the session for it).

How the list was built (November 2026; run the greps again when tests add people):

* phone numbers: ``grep -rhoE '\\+[0-9]{8,15}' tests``, plus the national and spaced forms
  (``grep -rnE '07700 ?900|020 ?7946|555 ?01'``), each written here once in E.164; the scanner
  also finds a number in its national, spaced, dotted or digits-only form;
* names: ``grep -rhoE '\\b[A-Z][a-z]+( [A-Z][a-z]+)+\\b' tests``, keeping the people (users,
  contacts, guests, callers, SIPp display names) and dropping SIP reason phrases, headers and
  prose; plus single names given as a caller's or contact's whole name (``"Ada"``, ``FN:Dorothy``)
  and the first names and surnames that stand out alone (a log line with only "Harriet" leaks
  too);
* emails: ``grep -rhoE '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+' tests``, keeping sign-in and
  contact emails (not SIP URIs of RFC examples such as ``alice@atlanta.example.com``);
* free text about a person: a click-to-call's CRM notes;
* the demo account that ``src/callroster/accounts/demo.py`` seeds: "Dana Admin",
  admin@demo-llp.example, "Harriet Host", host@demo-llp.example, +44 20 7946 0001.

Not personal, so left out: the service's own numbers (the demo dial-in number "2000": a
``DialInNumber`` is "a platform number, not personal data"; a SIP trunk's caller ID,
+44 20 7946 0000, is the platform's number too), trunk prefixes (+44, +4420, +1), names of
organisations (Demo LLP, Firm LLP, Elsewhere Ltd, Franklin Chambers, Halvorsen Partners, ...),
conference titles, RFC 2617's example credentials (Mufasa / "Circle Of Life"), and names that
are not anybody's ("Somebody", "Renamed", "Nobody", "X", "G", f"Guest {n}").
"""

from __future__ import annotations

PHONE_NUMBERS: tuple[str, ...] = (
    # Ofcom's drama ranges (mobile 07700 900xxx, London 020 7946 0xxx), as callers, callees,
    # hosts' phones, contacts and directory entries.
    "+447700900001",
    "+447700900002",
    "+447700900003",
    "+447700900101",
    "+447700900111",
    "+447700900123",
    "+447700900124",
    "+447700900201",
    "+447700900202",
    "+447700900203",
    "+447700900222",
    "+447700900321",
    "+447700900333",
    "+447700900444",
    "+447700900456",
    "+447700900461",
    "+447700900486",
    "+447700900555",
    "+447700900612",
    "+447700900777",
    "+447700900778",
    "+447700900888",
    "+447700900999",
    "+442079460001",  # the demo host's phone (demo.py)
    "+442079460123",
    "+442079460124",
    "+442079460321",
    "+442079460999",
    "+442071234567",
    "+449098790000",  # a premium-rate number a guest tries to call
    # North America's fictional 555-01xx numbers.
    "+14155550100",
    "+14155550142",
    "+14155550177",
    "+19005550100",
    "+15551234",
    # France.
    "+33142685300",
)

NAMES: tuple[str, ...] = (
    # The demo account (demo.py) and the sign-in tests.
    "Harriet Host",
    "Dana Admin",
    "Hana Host",
    "Hannah Host",
    "Hilary Host",
    "Hal Host",
    "Ada Admin",
    "Otto Admin",
    "Oz Admin",
    "Other Host",
    "Kept Host",
    "Busy Host",
    "Matrix Host",
    "No Password",
    "Ann Other",
    "Out Sider",
    "Olly Outsider",
    "Col League",
    "Del Egate",
    "Dee Legate",
    "Dev Delegate",
    "Priya Partner",
    "Sam Stranger",
    # Guests, callees and callers.
    "Carol Callee",
    "Carol Carrier",
    "Gail Guest",
    "Gina Guest",
    "Gus Guest",
    "Bertie Busy",
    "Wendy Web",
    "Wendy Again",
    "Matrix Guest",
    "Matrix Browser",
    "Bob from Legal",
    "Bob Smith",
    "Tess Tone",  # SIPp scenarios' display names
    "Tess Talker",
    # Contacts and directory entries.
    "Ada Lovelace",
    "Grace Hopper",
    "Grace Directory",
    "Gb Person",
    "Not For GB",
    "Directory Loses To User",
    "Katherine Johnson",
    "Carol Contact",
    "Connie Contact",
    "Rhoda Contact",
    "Rhoda Resolved",
    "Matrix Contact",
    "Zanzibar Card",
    "Zanzibar Quokka",
    # Call records and shredding.
    "Rosalind Franklin",
    "Lise Meitner",
    "Otto Hahn",
    # Single names: whole names in the tests, and first names and surnames alone.
    "Ada",
    "Bertie",
    "Carol",
    "Connie",
    "Dana",
    "Dorothy",
    "Gail",
    "Gina",
    "Grace",
    "Hannah",
    "Harriet",
    "Hilary",
    "Katherine",
    "Lise",
    "Marguerite",
    "Olly",
    "Priya",
    "Rhoda",
    "Rosalind",
    "Wendy",
    "Zanzibar",
    "Hahn",
    "Hopper",
    "Lovelace",
    "Meitner",
)

EMAILS: tuple[str, ...] = (
    "admin@demo-llp.example",  # the demo account (demo.py)
    "host@demo-llp.example",
    "harriet.host@demo.example",
    "dana.admin@demo.example",
    "hana.host@firm.example",
    "ada.admin@firm.example",
    "hana@firm.example",
    "ada@firm.example",
    "nopw@firm.example",
    "nobody@firm.example",
    "someone.else@firm.example",
    "who@firm.example",
    "slow@firm.example",
    "priya.partner@firm.example",
    "grace@hale.example",
    "rosalind@franklin.example",
    "dorothy@nasa.example",
    "ada@x.example",
    "ada.lovelace@example.com",
)

NOTES: tuple[str, ...] = (
    # What a host writes about the person they called, sent to the CRM.
    "Marguerite asked about the Halvorsen renewal",
    "Halvorsen renewal",
    "Renewal: wants the annual plan",
)

PERSONAL_DATA: tuple[str, ...] = PHONE_NUMBERS + NAMES + EMAILS + NOTES

# Numbers of the service itself that sit in the fictional ranges below and may be logged.
PLATFORM_NUMBERS: tuple[str, ...] = ("+442079460000",)

# Numbers reserved for drama (Ofcom; NANPA's 555-01xx): nobody real has one, so any number in
# these ranges that turns up in a log line is test data, even one added after the list above
# was made. (country code, national significant number): a digit stands for itself, "x" for
# any digit, "N" for 2 to 9.
FICTIONAL_RANGES: tuple[tuple[str, str], ...] = (
    ("44", "7700900xxx"),  # UK mobile 07700 900000 to 900999
    ("44", "2079460xxx"),  # London 020 7946 0000 to 0999
    ("1", "Nxx55501xx"),  # North America NXX 555-0100 to 0199
)

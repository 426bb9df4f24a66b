"""
The response tables of the L{msync.imap.responses} tests: the RFC 3501 §8
sample session and transcripts of common servers, each row the bytes of
one response and the event it parses to, and malformed responses that
must be refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from msync.imap.values import (
    AppendUIDCode,
    Capability,
    CapabilityCode,
    ContinuationRequest,
    CopyUIDCode,
    EnabledResponse,
    ESearchResponse,
    ExistsResponse,
    ExpungeResponse,
    FetchItems,
    FetchResponse,
    FlagsResponse,
    HighestModSeqCode,
    IDResponse,
    ListResponse,
    ModifiedCode,
    Namespace,
    NamespaceResponse,
    OtherCode,
    PermanentFlagsCode,
    PlainCode,
    RecentResponse,
    SearchResponse,
    Status,
    StatusResponse,
    TaggedResponse,
    UIDNextCode,
    UIDValidityCode,
    UnknownResponse,
    UnseenCode,
    UntaggedStatus,
    VanishedResponse,
)

OK, NO, BAD, BYE, PREAUTH = Status.OK, Status.NO, Status.BAD, Status.BYE, Status.PREAUTH
PDT = timezone(timedelta(hours=-7))

# The RFC 3501 §8 sample session (server side), one row per response.
RFC3501_SESSION: list[tuple[bytes, object]] = [
    (
        b"* OK IMAP4rev1 Service Ready\r\n",
        UntaggedStatus(OK, None, b"IMAP4rev1 Service Ready"),
    ),
    (b"a001 OK LOGIN completed\r\n", TaggedResponse(b"a001", OK, None, b"LOGIN completed")),
    (b"* 18 EXISTS\r\n", ExistsResponse(18)),
    (
        b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
        FlagsResponse((b"\\Answered", b"\\Flagged", b"\\Deleted", b"\\Seen", b"\\Draft")),
    ),
    (b"* 2 RECENT\r\n", RecentResponse(2)),
    (
        b"* OK [UNSEEN 17] Message 17 is the first unseen message\r\n",
        UntaggedStatus(OK, UnseenCode(17), b"Message 17 is the first unseen message"),
    ),
    (
        b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
        UntaggedStatus(OK, UIDValidityCode(3857529045), b"UIDs valid"),
    ),
    (
        b"a002 OK [READ-WRITE] SELECT completed\r\n",
        TaggedResponse(b"a002", OK, PlainCode(b"READ-WRITE"), b"SELECT completed"),
    ),
    (
        b'* 12 FETCH (FLAGS (\\Seen) INTERNALDATE "17-Jul-1996 02:44:25 -0700" '
        b'RFC822.SIZE 4286 ENVELOPE NIL BODY ("TEXT" "PLAIN" ("CHARSET" "US-ASCII") '
        b'NIL NIL "7BIT" 3028 92))\r\n',
        FetchResponse(
            12,
            FetchItems(
                flags=(b"\\Seen",),
                internal_date=datetime(1996, 7, 17, 2, 44, 25, tzinfo=PDT),
                internal_date_raw=b"17-Jul-1996 02:44:25 -0700",
                size=4286,
                other={
                    b"ENVELOPE": None,
                    b"BODY": (
                        b"TEXT",
                        b"PLAIN",
                        (b"CHARSET", b"US-ASCII"),
                        None,
                        None,
                        b"7BIT",
                        3028,
                        92,
                    ),
                },
            ),
        ),
    ),
    (b"a003 OK FETCH completed\r\n", TaggedResponse(b"a003", OK, None, b"FETCH completed")),
    (
        b"* 12 FETCH (BODY[HEADER] {60}\r\n"
        b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nSubject: hi\r\n\r\n)\r\n",
        FetchResponse(
            12,
            FetchItems(
                sections={
                    b"HEADER": b"Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)\r\nSubject: hi\r\n\r\n"
                }
            ),
        ),
    ),
    (
        b"* 12 FETCH (FLAGS (\\Seen \\Deleted))\r\n",
        FetchResponse(12, FetchItems(flags=(b"\\Seen", b"\\Deleted"))),
    ),
    (
        b"* BYE IMAP4rev1 server terminating connection\r\n",
        UntaggedStatus(BYE, None, b"IMAP4rev1 server terminating connection"),
    ),
    (
        b"+ Ready for additional command text\r\n",
        ContinuationRequest(b"Ready for additional command text"),
    ),
    (b"* 3 EXPUNGE\r\n", ExpungeResponse(3)),
    (
        b"A654 NO [TRYCREATE] no such box\r\n",
        TaggedResponse(b"A654", NO, PlainCode(b"TRYCREATE"), b"no such box"),
    ),
    (b"A1 BAD command unknown\r\n", TaggedResponse(b"A1", BAD, None, b"command unknown")),
    (
        b"* PREAUTH IMAP4rev1 server logged in as Smith\r\n",
        UntaggedStatus(PREAUTH, None, b"IMAP4rev1 server logged in as Smith"),
    ),
    (
        b"* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292)\r\n",
        StatusResponse(b"blurdybloop", messages=231, uid_next=44292),
    ),
    (b"* SEARCH 2 84 882\r\n", SearchResponse((2, 84, 882))),
    (b"* SEARCH\r\n", SearchResponse(())),
    (
        b'* LIST (\\Noselect) "/" ~/Mail/foo\r\n',
        ListResponse(b"LIST", (b"\\Noselect",), b"/", b"~/Mail/foo"),
    ),
    (
        b'* LSUB () "." #news.comp.mail.misc\r\n',
        ListResponse(b"LSUB", (), b".", b"#news.comp.mail.misc"),
    ),
    # RFC 6855 §3: with UTF8=ACCEPT enabled, quoted strings carry UTF-8.
    (
        '* LIST (\\HasNoChildren) "/" "Entwürfe"\r\n'.encode(),
        ListResponse(b"LIST", (b"\\HasNoChildren",), b"/", "Entwürfe".encode()),
    ),
    (b'* LIST (\\Noselect) NIL ""\r\n', ListResponse(b"LIST", (b"\\Noselect",), None, b"")),
]

CAPS_DOVECOT = (
    b"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES "
    b"THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    b"NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    b"WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    b"STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
)
CAPS_GMAIL = (
    b"IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 UIDPLUS "
    b"COMPRESS=DEFLATE ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS "
    b"LITERAL- SPECIAL-USE APPENDLIMIT=35651584"
)


def caps(text: bytes) -> frozenset[bytes]:
    """
    @return: the upper-cased capability names in C{text}.
    """
    return frozenset(text.upper().split())


# Transcripts written from the behaviour of common servers.
SERVER_ROWS: list[tuple[bytes, object]] = [
    (
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
        b"STARTTLS AUTH=PLAIN] Dovecot ready.\r\n",
        UntaggedStatus(
            OK,
            CapabilityCode(
                caps(
                    b"IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN"
                )
            ),
            b"Dovecot ready.",
        ),
    ),
    (b"* CAPABILITY " + CAPS_DOVECOT + b"\r\n", Capability(caps(CAPS_DOVECOT))),
    (b"* CAPABILITY " + CAPS_GMAIL + b"\r\n", Capability(caps(CAPS_GMAIL))),
    (
        b"* OK Gimap ready for requests from 192.0.2.7 a1mb12345678qab\r\n",
        UntaggedStatus(OK, None, b"Gimap ready for requests from 192.0.2.7 a1mb12345678qab"),
    ),
    (
        b"* OK The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADAAMQBDAEEAMAAwADEAMwAuAG4AYQBtAA==]\r\n",
        UntaggedStatus(
            OK,
            None,
            b"The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADAAMQBDAEEAMAAwADEAMwAuAG4AYQBtAA==]",
        ),
    ),
    (
        b"* OK [CAPABILITY IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN SASL-IR] "
        b"mail.example.com Cyrus IMAP 3.4.3 server ready\r\n",
        UntaggedStatus(
            OK,
            CapabilityCode(caps(b"IMAP4rev1 LITERAL+ ID ENABLE STARTTLS AUTH=PLAIN SASL-IR")),
            b"mail.example.com Cyrus IMAP 3.4.3 server ready",
        ),
    ),
    (
        b"* OK [CAPABILITY IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT "
        b"THREAD=REFERENCES SORT QUOTA IDLE ACL ACL2=UNION STARTTLS] Courier-IMAP ready. "
        b"Copyright 1998-2018 Double Precision, Inc.  See COPYING for distribution information.\r\n",
        UntaggedStatus(
            OK,
            CapabilityCode(
                caps(
                    b"IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT "
                    b"THREAD=REFERENCES SORT QUOTA IDLE ACL ACL2=UNION STARTTLS"
                )
            ),
            b"Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.  "
            b"See COPYING for distribution information.",
        ),
    ),
    (
        b'* LIST (\\HasNoChildren \\All) "/" "[Gmail]/All Mail"\r\n',
        ListResponse(b"LIST", (b"\\HasNoChildren", b"\\All"), b"/", b"[Gmail]/All Mail"),
    ),
    (
        b'* LIST (\\HasNoChildren) "." inbox\r\n',
        ListResponse(b"LIST", (b"\\HasNoChildren",), b".", b"INBOX"),
    ),
    (
        b'* LIST (\\HasNoChildren) "/" "Entw&APw-rfe"\r\n',
        ListResponse(b"LIST", (b"\\HasNoChildren",), b"/", b"Entw&APw-rfe"),
    ),
    (
        b'* LIST (\\HasChildren) "/" {11}\r\nfoo "bar"\\x\r\n',
        ListResponse(b"LIST", (b"\\HasChildren",), b"/", b'foo "bar"\\x'),
    ),
    (
        b'* LIST (\\Marked \\NoInferiors) "\\\\" "a\\"b"\r\n',
        ListResponse(b"LIST", (b"\\Marked", b"\\NoInferiors"), b"\\", b'a"b'),
    ),
    (
        b'* LIST (\\Subscribed) "/" Foo ("CHILDINFO" ("SUBSCRIBED"))\r\n',
        ListResponse(b"LIST", (b"\\Subscribed",), b"/", b"Foo", (b"CHILDINFO", (b"SUBSCRIBED",))),
    ),
    (
        b'* XLIST (\\HasNoChildren \\Inbox) "/" "Inbox"\r\n',
        ListResponse(b"XLIST", (b"\\HasNoChildren", b"\\Inbox"), b"/", b"INBOX"),
    ),
    (
        b'* NAMESPACE (("" "/")) NIL NIL\r\n',
        NamespaceResponse((Namespace(b"", b"/"),), (), ()),
    ),
    (
        b'* NAMESPACE (("INBOX." ".")) (("user." ".")) (("" "."))\r\n',
        NamespaceResponse(
            (Namespace(b"INBOX.", b"."),), (Namespace(b"user.", b"."),), (Namespace(b"", b"."),)
        ),
    ),
    (
        b'* NAMESPACE (("INBOX." ".")) NIL (("#shared." ".")("shared." "."))\r\n',
        NamespaceResponse(
            (Namespace(b"INBOX.", b"."),),
            (),
            (Namespace(b"#shared.", b"."), Namespace(b"shared.", b".")),
        ),
    ),
    (
        b'* NAMESPACE (("" "/" "X-PARAM" ("FLAG1" "FLAG2"))) nil NIL\r\n',
        NamespaceResponse((Namespace(b"", b"/", ((b"X-PARAM", (b"FLAG1", b"FLAG2")),)),), (), ()),
    ),
    (
        b'* 1 FETCH (UID 4 RFC822.SIZE 2401 FLAGS (\\Seen $Label1) INTERNALDATE " 2-Feb-2024 09:05:00 +0000")\r\n',
        FetchResponse(
            1,
            FetchItems(
                uid=4,
                size=2401,
                flags=(b"\\Seen", b"$Label1"),
                internal_date=datetime(2024, 2, 2, 9, 5, tzinfo=UTC),
                internal_date_raw=b" 2-Feb-2024 09:05:00 +0000",
            ),
        ),
    ),
    (
        b"* 7 FETCH (X-GM-THRID 1278455344230334865 X-GM-MSGID 1278455344230334866 "
        b'X-GM-LABELS (\\Important "\\\\Sent" Work) UID 9 FLAGS ())\r\n',
        FetchResponse(
            7,
            FetchItems(
                uid=9,
                flags=(),
                other={
                    b"X-GM-THRID": 1278455344230334865,
                    b"X-GM-MSGID": 1278455344230334866,
                    b"X-GM-LABELS": (b"\\Important", b"\\Sent", b"Work"),
                },
            ),
        ),
    ),
    (
        b'* 3 FETCH (UID 12 BODY[HEADER.FIELDS ("X-TUID" message-id)] {39}\r\n'
        b"X-TUID: abcdefghijkl\r\nMessage-ID: <a>\r\n)\r\n",
        FetchResponse(
            3,
            FetchItems(
                uid=12,
                sections={
                    b"HEADER.FIELDS (X-TUID MESSAGE-ID)": b"X-TUID: abcdefghijkl\r\nMessage-ID: <a>\r\n"
                },
            ),
        ),
    ),
    (
        b"* 3 FETCH (UID 12 BODY[]<0> {5}\r\nhello BODY[1.2.MIME] NIL RFC822.HEADER {2}\r\n\r\n"
        b" MODSEQ (624140003))\r\n",
        FetchResponse(
            3,
            FetchItems(
                uid=12,
                sections={b"": b"hello", b"1.2.MIME": None, b"HEADER": b"\r\n"},
                origins={b"": 0},
                modseq=624140003,
            ),
        ),
    ),
    (
        b"* 5 FETCH (RFC822 {3}\r\nabc UID 8 BINARY[1] ~{3}\r\n\x00\xff\n)\r\n",
        FetchResponse(5, FetchItems(uid=8, sections={b"": b"abc"}, binary={b"1": b"\x00\xff\n"})),
    ),
    (
        b"* 5 fetch (uid 8 flags (\\Flagged))\r\n",
        FetchResponse(5, FetchItems(uid=8, flags=(b"\\Flagged",))),
    ),
    (
        b'* 5 FETCH (BODY[TEXT] "quoted \\"body\\"")\r\n',
        FetchResponse(5, FetchItems(sections={b"TEXT": b'quoted "body"'})),
    ),
    (
        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)] Flags permitted.\r\n",
        UntaggedStatus(
            OK,
            PermanentFlagsCode(
                (
                    b"\\Answered",
                    b"\\Flagged",
                    b"\\Deleted",
                    b"\\Seen",
                    b"\\Draft",
                    b"$Forwarded",
                    b"\\*",
                )
            ),
            b"Flags permitted.",
        ),
    ),
    (
        b"* OK [UIDNEXT 4392] Predicted next UID\r\n",
        UntaggedStatus(OK, UIDNextCode(4392), b"Predicted next UID"),
    ),
    (
        b"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
        UntaggedStatus(OK, HighestModSeqCode(715194045007), b"Highest"),
    ),
    (b"* OK [NOMODSEQ] Sorry\r\n", UntaggedStatus(OK, PlainCode(b"NOMODSEQ"), b"Sorry")),
    (b"* OK [CLOSED]\r\n", UntaggedStatus(OK, PlainCode(b"CLOSED"), b"")),
    (b"* OK [ALERT]no space\r\n", UntaggedStatus(OK, PlainCode(b"ALERT"), b"no space")),
    (b"A4 OK\r\n", TaggedResponse(b"A4", OK, None, b"")),
    (
        b"A3 OK [APPENDUID 38505 3955] APPEND completed\r\n",
        TaggedResponse(b"A3", OK, AppendUIDCode(38505, ((3955, 3955),)), b"APPEND completed"),
    ),
    (
        b"A4 OK [COPYUID 38505 304,319:320 3956:3958] Done\r\n",
        TaggedResponse(
            b"A4", OK, CopyUIDCode(38505, ((304, 304), (319, 320)), ((3956, 3958),)), b"Done"
        ),
    ),
    (
        b"A5 OK [MODIFIED 7,9] Conditional STORE failed\r\n",
        TaggedResponse(b"A5", OK, ModifiedCode(((7, 7), (9, 9))), b"Conditional STORE failed"),
    ),
    (
        b"A6 NO [BADCHARSET (UTF-8 US-ASCII)] bad charset\r\n",
        TaggedResponse(b"A6", NO, OtherCode(b"BADCHARSET", b"(UTF-8 US-ASCII)"), b"bad charset"),
    ),
    (
        b"A7 NO [X-WEIRD] Strange\r\n",
        TaggedResponse(b"A7", NO, OtherCode(b"X-WEIRD", None), b"Strange"),
    ),
    (
        b"A8 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
        TaggedResponse(b"A8", NO, PlainCode(b"AUTHENTICATIONFAILED"), b"Authentication failed."),
    ),
    (b"+ \r\n", ContinuationRequest(b"")),
    (b"+\r\n", ContinuationRequest(b"")),
    (
        b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+\r\n",
        ContinuationRequest(b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+"),
    ),
    (b"+ go ahead {5}\r\n", ContinuationRequest(b"go ahead {5}")),
    (b"* OK text ending {5}\r\n", UntaggedStatus(OK, None, b"text ending {5}")),
    (
        b'* STATUS "Sent Items" (MESSAGES 2 UIDVALIDITY 7 UNSEEN 0 RECENT 0 HIGHESTMODSEQ 99 SIZE 40)\r\n',
        StatusResponse(
            b"Sent Items",
            messages=2,
            uid_validity=7,
            unseen=0,
            recent=0,
            highest_modseq=99,
            other={b"SIZE": 40},
        ),
    ),
    (b"* SEARCH 2 5 6 7 (MODSEQ 917162500)\r\n", SearchResponse((2, 5, 6, 7), 917162500)),
    (b"* SEARCH \r\n", SearchResponse(())),
    (
        b'* ESEARCH (TAG "A282") MIN 2 COUNT 3\r\n',
        ESearchResponse(b"A282", False, min=2, count=3),
    ),
    (
        b'* ESEARCH (TAG "A285") UID MIN 7 MAX 3800 ALL 4:18,21,28\r\n',
        ESearchResponse(b"A285", True, min=7, max=3800, all=((4, 18), (21, 21), (28, 28))),
    ),
    (b"* ESEARCH UID COUNT 0\r\n", ESearchResponse(None, True, count=0)),
    (b"* ESEARCH\r\n", ESearchResponse(None, False)),
    (
        b'* ESEARCH (TAG "x") MODSEQ 5 X-FOO (1 2)\r\n',
        ESearchResponse(b"x", False, modseq=5, other={b"X-FOO": (1, 2)}),
    ),
    (
        b"* VANISHED (EARLIER) 300:310,405,411\r\n",
        VanishedResponse(True, ((300, 310), (405, 405), (411, 411))),
    ),
    (b"* VANISHED 405,407\r\n", VanishedResponse(False, ((405, 405), (407, 407)))),
    (b"* ENABLED CONDSTORE QRESYNC\r\n", EnabledResponse(frozenset({b"CONDSTORE", b"QRESYNC"}))),
    (b"* ENABLED\r\n", EnabledResponse(frozenset())),
    (
        b'* ID ("name" "Dovecot" "version" NIL)\r\n',
        IDResponse({b"name": b"Dovecot", b"version": None}),
    ),
    (b"* ID NIL\r\n", IDResponse(None)),
    (b'* QUOTA "" (STORAGE 10 512)\r\n', UnknownResponse(b"QUOTA", b'QUOTA "" (STORAGE 10 512)')),
    (b"* 4 XFOO {2}\r\nab\r\n", UnknownResponse(b"XFOO", b"4 XFOO {2}\r\n", (b"ab",))),
    (b"* 22 exists\r\n", ExistsResponse(22)),
    (b"* bye Autologout\r\n", UntaggedStatus(BYE, None, b"Autologout")),
    (b"* NO [ALERT] Quota 90%\r\n", UntaggedStatus(NO, PlainCode(b"ALERT"), b"Quota 90%")),
    (b"* OK [COPYUID 7 *:4 1] x\r\n", None),
]
SERVER_ROWS.pop()  # the last row is malformed (uid-set with "*"); see MALFORMED

ALL_ROWS = RFC3501_SESSION + SERVER_ROWS
TRAILING = b"* 1 FETCH (UID 1 BODY[] {10}\r\nabc"

MALFORMED: list[bytes] = [
    b"* 1 FETCH (UID 1\r\n",  # unbalanced parens
    b"* 1 FETCH (UID 1))\r\n",  # extra paren
    b"* FLAGS (\\Seen\r\n",
    b"* 1 FETCH (BODY[] {5x}\r\nabcde)\r\n",  # bad literal count
    b"* 1 FETCH (BODY[] {3}\r\nabcde)\r\n",  # literal shorter than data
    b"* 1 FETCH (UID 1a)\r\n",  # non-digit in number
    b"* 1x EXISTS\r\n",
    b"* 99999999999 EXISTS\r\n",  # number over 32 bits
    b"A1 MAYBE fine\r\n",  # unknown tagged status
    b"A1 PREAUTH hi\r\n",  # PREAUTH is never tagged
    b"* OK [UIDVALIDITY abc] x\r\n",
    b"* OK [UIDVALIDITY 0] x\r\n",
    b"* OK [APPENDUID 1] x\r\n",
    b"* OK [COPYUID 7 *:4 1] x\r\n",
    b"* OK [UIDNEXT 5 x\r\n",  # unterminated code
    b"* CAPABILITY IMAP4rev1 \xe9\xe9\r\n",  # 8-bit garbage in atoms
    b"* FLAGS (\\Se\xffen)\r\n",
    b'* LIST (\\Noselect) "//" foo\r\n',  # two-character delimiter
    b'* LIST (\\Noselect) "/"\r\n',
    b"* STATUS foo (MESSAGES x)\r\n",
    b'* NAMESPACE (("" "/")) NIL\r\n',
    b'* 1 FETCH (INTERNALDATE "31-Feb-2024 00:00:00 +0000")\r\n',
    b'* 1 FETCH (INTERNALDATE "01-Foo-2024 00:00:00 +0000")\r\n',
    b"* 1 FETCH (MODSEQ 5)\r\n",
    b"* 0 FETCH (UID 1)\r\n",
    b"* 1 FETCH (UID 0)\r\n",
    b"* VANISHED (LATER) 1\r\n",
    b"* VANISHED 0:3\r\n",
    b"* ESEARCH (TAG A1) UID\r\n",
    b"* SEARCH 1 x\r\n",
    b'* 1 FETCH (BODY[HEADER "x"\r\n',
    b"* OK foo\rbar\r\n",  # bare CR
    b"\r\n",  # empty line
    b"* \r\n",
    b"A\xff OK hi\r\n",  # 8-bit tag
    b"* 1 FETCH (X-LIST " + b"(" * 100 + b")" * 100 + b")\r\n",  # nesting bomb
    b'* ID ("a")\r\n',
    b'* 1 FETCH (UID 1 BODY[] "ab\r\n',  # unterminated quoted string
    b"* 1 FETCH (FLAGS (\\Seen\\Deleted))\r\n",
    b"* 1 FETCH (UID 11111111111111111111111111)\r\n",
    b"* 1 FETCH (BODY[] {99999999999}\r\n",  # literal over the limit
    b"* OK " + b"x" * 5000 + b"\r\n",  # line over the limit
    b"* 1 FETCH (BODY[] {123456789012345678901}\r\nx)\r\n",  # absurd literal count
]

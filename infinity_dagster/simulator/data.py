"""Seeded, realistic installations, generated with numpy in a few vectorised passes.

Calls follow a business-hours curve in the installation's zone, come through dynamic numbers
(with a visitor id and usually a Google client id) or fixed numbers (fallbacks on channel 0, print
and direct lines), end in the call states Infinity documents in realistic proportions, and are
inserted (given a rowId) when processed: after the call ends plus a delay of seconds, sometimes
minutes, rarely hours. rowIds start in the millions and leave gaps, as if other installations' rows
sat between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .installation import ACTIVE, INSERTED, Installation, RouteTable
from .schema import (
    CALL_FIELDS,
    DGRP_FIELDS,
    NUMBER_FIELDS,
    ORGANISATION_FIELDS,
    TIMESTAMP,
)

DEMO_IGRP = 20001
US = 1_000_000
POOL_SIZE = 3  # dynamic numbers per dial-in group and channel

# (ch, chName, chType, weight among dynamic-number calls)
CHANNELS: list[tuple[int, str, str, float]] = [
    (0, "Fallback", "direct", 0.0),
    (1, "Google Ads", "ppc", 0.33),
    (2, "Microsoft Ads", "ppc", 0.07),
    (3, "Google Organic", "seo", 0.25),
    (4, "Bing Organic", "seo", 0.04),
    (5, "Direct", "direct", 0.13),
    (6, "Referral, partner sites", "ref", 0.08),
    (7, 'Facebook — Paid "Social"', "social", 0.10),
    (8, "Print: Yellow Pages", "direct", 0.0),
]
DYNAMIC_CHANNELS = [c for c in CHANNELS if c[3] > 0]
# Fixed (static) numbers are on these channels; calls through them carry no visitor id.
FIXED_CHANNELS = [(0, 0.55), (8, 0.25), (5, 0.20)]

# (name, status, share of calls)
DGRPS: list[tuple[str, int, float]] = [
    ("Sales", 200, 0.40),
    ("Support, Technical", 200, 0.22),
    ('Bookings "Main Line"', 200, 0.15),
    ("Café & Crêpes — Évènements", 200, 0.10),
    ("After hours\nOverflow", 200, 0.13),
    ("Winter promo 2024", 410, 0.0),
    ("Old campaign, archived", 410, 0.0),
]

STAGES = ["", "bridge", "ivr", "queue", "ring", "voicemail"]
OPERATORS = [f"op-{i}" for i in range(101, 131)]

# (orgName, active, index of parent or -1)
ORGANISATIONS: list[tuple[str, bool, int]] = [
    ("Acme Heating Ltd", True, -1),
    ("Acme Heating — North", True, 0),
    ("Acme Plumbing, Leeds", True, 0),
    ('"Quick Fix" Boilers', False, 0),
    ("Ærø Services", True, -1),
    ("Old Brand (closed)", False, -1),
]

# (callState, weight, [(callStage, weight), ...])
STATES: list[tuple[str, float, list[tuple[str, float]]]] = [
    ("NORMAL_CLEARING_A", 0.520, [("bridge", 0.92), ("voicemail", 0.05), ("ivr", 0.03)]),
    ("NORMAL_CLEARING_B", 0.230, [("bridge", 0.95), ("ring", 0.05)]),
    ("NO_ANSWER", 0.085, [("ring", 0.8), ("queue", 0.2)]),
    ("USER_BUSY", 0.030, [("ring", 1.0)]),
    ("ORIGINATOR_CANCEL", 0.080, [("ring", 0.6), ("queue", 0.25), ("ivr", 0.15)]),
    ("NO_USER_RESPONSE", 0.012, [("ring", 1.0)]),
    ("UNALLOCATED_NUMBER", 0.006, [("ring", 1.0)]),
    ("PROTOCOL_ERROR", 0.006, [("ring", 1.0)]),
    ("NORMAL_TEMPORARY_FAILURE_B", 0.021, [("ring", 1.0)]),
    ("CALL_REJECTED", 0.006, [("ring", 1.0)]),
    ("", 0.004, [("", 1.0)]),
]

PAGES = [
    "/",
    "/contact",
    "/contact-us/",
    "/services/boiler-repair",
    "/pricing",
    "/search?q=boiler, repair",
    '/offers/"winter"-deal',
    "/café-menu",
    "/blog/10-tips",
    "/landing/ppc-2026",
    "/about?ref=footer&x=1,2",
    "/book-now",
]
PAGE_WEIGHTS = [18, 14, 6, 12, 10, 3, 2, 3, 5, 12, 4, 11]
SITE = "https://www.acme-heating.example.co.uk"
REFERRERS = {
    "ppc": ["https://www.google.com/", "https://www.bing.com/"],
    "seo": ["https://www.google.co.uk/", "https://www.bing.com/search?q=acme, heating"],
    "direct": [""],
    "ref": ["https://partner.example.org/links", "https://www.yell.example.com/acme"],
    "social": ["https://m.facebook.com/", "https://l.instagram.com/?u=acme"],
}
# (goal, goalTitle) of page-view goals; goal 1 is the call goal.
CALL_GOAL = (1, "Qualified call, 60s+")
PAGE_GOALS = [
    (2, 'Quote request "Form"'),
    (3, "Brochure download, PDF"),
    (4, "Réservation en ligne"),
    (5, "Callback\nrequest"),
]
HOUR_WEIGHTS = np.array(
    [
        0.2,
        0.1,
        0.1,
        0.1,
        0.1,
        0.2,
        0.5,
        1.5,
        4.0,
        7.0,
        8.0,
        7.5,
        6.5,
        6.5,
        7.0,
        6.5,
        5.5,
        4.0,
        2.5,
        2.0,
        1.6,
        1.2,
        0.8,
        0.4,
    ]
)


# ---------------------------------------------------------------------------------------------
# Vectorised text helpers
# ---------------------------------------------------------------------------------------------


def fixed_width_strings(matrix: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """An (n, w) uint8 matrix of UTF-8 bytes as n strings of w bytes ('' where not `mask`)."""
    n, w = matrix.shape
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    if mask is None:
        offsets = np.arange(0, w * (n + 1), w, dtype=np.int32)
        data = matrix.reshape(-1)
    else:
        mask = np.asarray(mask, dtype=bool)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.where(mask, w, 0), out=offsets[1:])
        data = matrix[mask].reshape(-1)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def uuids(rng: np.random.Generator, n: int, mask: np.ndarray | None = None) -> pa.Array:
    """n random version-4 UUIDs as text ('' where not `mask`)."""
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    hexchars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    h = np.stack([hexchars[raw >> 4], hexchars[raw & 0x0F]], axis=2).reshape(n, 32)
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for dst, src, width in ((0, 0, 8), (9, 8, 4), (14, 12, 4), (19, 16, 4), (24, 20, 12)):
        out[:, dst : dst + width] = h[:, src : src + width]
    return fixed_width_strings(out, mask)


def digit_matrix(values: np.ndarray, width: int) -> np.ndarray:
    """Non-negative integers as an (n, width) matrix of zero-padded ASCII digits."""
    v = np.asarray(values, dtype=np.int64)
    out = np.empty((len(v), width), dtype=np.uint8)
    for k in range(width):
        out[:, width - 1 - k] = (v // 10**k) % 10 + 48
    return out


def digits(values: np.ndarray, width: int, mask: np.ndarray | None = None) -> pa.Array:
    """Non-negative integers as zero-padded text of `width` digits ('' where not `mask`)."""
    return fixed_width_strings(digit_matrix(values, width), mask)


def pick(options: list[str], idx: np.ndarray) -> pa.Array:
    """options[idx] as an Arrow string array."""
    return pa.array(options, pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))


def join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def ints(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pa.array(np.asarray(values, dtype=np.int64), pa.int64(), mask=mask)


def timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, dtype=np.int64), pa.int64()).cast(TIMESTAMP)


# ---------------------------------------------------------------------------------------------
# The configuration side: organisations, dial-in groups, numbers
# ---------------------------------------------------------------------------------------------


@dataclass
class Config:
    """Ids and lookups the call generator needs."""

    org_ids: np.ndarray
    dgrp_ids: np.ndarray
    dgrp_org: np.ndarray  # orgId per dgrp index
    dest_numbers: list[str]
    numbers: list[str]
    pool_offset: np.ndarray  # [dgrp idx, ch] -> first of POOL_SIZE dynamic numbers
    fixed_index: np.ndarray  # [dgrp idx, ch] -> the fixed number of a fixed channel
    tables: dict[str, pa.Table]


def _national(prefix_choice: int, n3: int) -> str:
    return [f"01632 960{n3:03d}", f"0113 496 0{n3:03d}", f"020 7946 0{n3:03d}"][prefix_choice]


def build_config(igrp: int, rng: np.random.Generator) -> Config:
    org_base = 31_000 + (igrp * 7) % 60_000
    org_ids = np.array([org_base + 17 * i for i in range(len(ORGANISATIONS))], dtype=np.int64)
    orgs = pa.table(
        {
            "orgId": ints(org_ids),
            "orgName": pa.array([o[0] for o in ORGANISATIONS]),
            "igrp": ints(np.full(len(ORGANISATIONS), igrp)),
            "parentOrgId": ints(
                np.array([org_ids[p] if p >= 0 else 0 for _, _, p in ORGANISATIONS]),
                valid=np.array([p >= 0 for _, _, p in ORGANISATIONS]),
            ),
            "orgRef": pa.array([f"ORG-{i + 1:03d}" for i in range(len(ORGANISATIONS))]),
            ACTIVE: pa.array([o[1] for o in ORGANISATIONS]),
        }
    )
    active_orgs = org_ids[[i for i, o in enumerate(ORGANISATIONS) if o[1]]]

    dgrp_ids = np.array([igrp * 10 + 1 + i for i in range(len(DGRPS))], dtype=np.int64)
    dgrp_org = active_orgs[np.arange(len(DGRPS)) % len(active_orgs)]
    used: set[int] = set()

    def fresh(kind: int) -> str:
        while True:
            n3 = int(rng.integers(0, 1000))
            if (kind, n3) not in used:
                used.add((kind, n3))
                return _national(kind, n3)

    auto = [fresh(1) for _ in DGRPS]
    auto = [("+44 " + a[1:]) if i % 3 == 2 else a for i, a in enumerate(auto)]
    dest = [fresh(2) for _ in DGRPS]
    dgrps = pa.table(
        {
            "igrp": ints(np.full(len(DGRPS), igrp)),
            "dgrp": ints(dgrp_ids),
            "dgrpName": pa.array([d[0] for d in DGRPS]),
            "autoDiscoveryNumber": pa.array(auto),
            "destPhoneNumber": pa.array(dest),
            "dgrpStatus": ints(np.array([d[1] for d in DGRPS])),
        }
    )

    numbers: list[str] = []
    rows: list[tuple[int, int, str, str]] = []  # dgrp idx, ch, number, usageType
    shape = (len(DGRPS), len(CHANNELS))
    pool_offset = np.zeros(shape, dtype=np.int64)
    fixed_index = np.zeros(shape, dtype=np.int64)
    for d in range(len(DGRPS)):
        for ch, _, _, _ in DYNAMIC_CHANNELS:
            pool_offset[d, ch] = len(numbers)
            for _ in range(POOL_SIZE):
                numbers.append(fresh(0))
                rows.append((d, ch, numbers[-1], "dynamic"))
        for ch, _ in FIXED_CHANNELS:
            fixed_index[d, ch] = len(numbers)
            numbers.append(fresh(1))
            rows.append((d, ch, numbers[-1], "fixed"))
    ch_name = {c[0]: c[1] for c in CHANNELS}
    ch_type = {c[0]: c[2] for c in CHANNELS}
    numbers_table = pa.table(
        {
            "igrp": ints(np.full(len(rows), igrp)),
            "dgrp": ints(np.array([dgrp_ids[r[0]] for r in rows])),
            "dgrpName": pa.array([DGRPS[r[0]][0] for r in rows]),
            "number": pa.array([r[2] for r in rows]),
            "usageType": pa.array([r[3] for r in rows]),
            "ch": ints(np.array([r[1] for r in rows])),
            "chName": pa.array([ch_name[r[1]] for r in rows]),
            "chType": pa.array([ch_type[r[1]] for r in rows]),
        }
    )
    return Config(
        org_ids,
        dgrp_ids,
        dgrp_org,
        dest,
        numbers,
        pool_offset,
        fixed_index,
        {"organisations": orgs, "dgrps": dgrps, "numbers": numbers_table},
    )


# ---------------------------------------------------------------------------------------------
# Triggers
# ---------------------------------------------------------------------------------------------


def _trigger_times(
    rng: np.random.Generator, start: date, end: date, per_day: int, tz: str
) -> np.ndarray:
    """Start times (us, UTC) of `per_day` events on each UTC day, busiest in local office hours."""
    zone = ZoneInfo(tz)
    out = []
    day = start
    while day <= end:
        base = datetime(day.year, day.month, day.day, tzinfo=UTC)
        local_hours = [(base + timedelta(hours=h)).astimezone(zone).hour for h in range(24)]
        p = HOUR_WEIGHTS[local_hours]
        counts = rng.multinomial(per_day, p / p.sum())
        hours = np.repeat(np.arange(24, dtype=np.int64), counts)
        secs = int(base.timestamp()) + hours * 3600 + rng.integers(0, 3600, size=per_day)
        out.append(secs * US)
        day += timedelta(days=1)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def _choice(rng: np.random.Generator, n: int, weights: list[float] | np.ndarray) -> np.ndarray:
    """n draws of an index with the given weights."""
    w = np.asarray(weights, dtype=float)
    return np.searchsorted(np.cumsum(w / w.sum()), rng.random(n), side="right").clip(0, len(w) - 1)


def _permute(draws: dict[str, np.ndarray], order: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[order] for k, v in draws.items()}


# ---------------------------------------------------------------------------------------------
# Text columns from numeric draws (one pick/join per column, no per-row Python)
# ---------------------------------------------------------------------------------------------


def _google_cids(
    rng: np.random.Generator, trig_us: np.ndarray, has_vid: np.ndarray, gap_rate: float
) -> pa.Array:
    """Client ids of visitors: '1234567890.1700000000'; a `gap_rate` share blank (mostly '', some
    'undefined'); a few raw '_ga' cookie values ('GA1.1.…'); '' where there is no visitor."""
    n = len(trig_us)
    first_seen = trig_us // US - rng.integers(0, 90 * 86_400, size=n)
    core = np.concatenate(
        [
            digit_matrix(rng.integers(1_000_000_000, 2_147_483_647, size=n), 10),
            np.full((n, 1), ord("."), dtype=np.uint8),
            digit_matrix(first_seen, 10),
        ],
        axis=1,
    )
    gap = rng.random(n) < gap_rate
    # 0: no visitor / blank gap, 1: 'undefined' gap, 2: raw cookie form, 3: plain client id
    form = np.where(gap, np.where(rng.random(n) < 0.1, 1, 0), np.where(rng.random(n) < 0.03, 2, 3))
    form = np.where(has_vid, form, 0)
    prefix = pick(["", "undefined", "GA1.1.", ""], form)
    return join(prefix, fixed_width_strings(core, form >= 2))


PAGE_OPTIONS = [SITE + p for p in PAGES] + [""]
REFERRER_OPTIONS = [r for kind in REFERRERS for r in REFERRERS[kind]] + [""]
# (first index into REFERRER_OPTIONS, count) per channel type
_REF_RANGE = {
    kind: (sum(len(REFERRERS[k]) for k in list(REFERRERS)[:i]), len(REFERRERS[kind]))
    for i, kind in enumerate(REFERRERS)
}


def _pages(
    rng: np.random.Generator, ch: np.ndarray, visited: np.ndarray
) -> tuple[pa.Array, pa.Array]:
    """href and vref of visits ('' where not `visited`)."""
    n = len(ch)
    page_idx = np.where(visited, _choice(rng, n, PAGE_WEIGHTS), len(PAGES))
    kinds = list(REFERRERS)
    ch_types = np.array([kinds.index(c[2]) for c in CHANNELS])[ch]
    has_query = np.array(["?" in p for p in PAGES] + [False])
    ppc = visited & (ch_types == kinds.index("ppc")) & ~has_query[page_idx]
    gclid = join(
        pick(["", "?gclid="], ppc.astype(np.int64)),
        digits(rng.integers(0, 10**12, size=n), 12, ppc),
    )
    odd = visited & (rng.random(n) < 0.0005)  # a rare raw newline in an href, as seen in the wild
    href = join(pick(PAGE_OPTIONS, page_idx), gclid, pick(["", "\n#section"], odd.astype(np.int64)))
    start = np.zeros(n, dtype=np.int64)
    count = np.ones(n, dtype=np.int64)
    for kind, (first, k) in _REF_RANGE.items():
        sel = ch_types == kinds.index(kind)
        start[sel], count[sel] = first, k
    ref_idx = start + (rng.random(n) * count).astype(np.int64)
    ref_idx = np.where(visited, ref_idx, len(REFERRER_OPTIONS) - 1)
    return href, pick(REFERRER_OPTIONS, ref_idx)


PHONE_PREFIXES = ["07700 900", "+447700900", "020 7946 0", "0113 496 0", "01632 960", "anonymous"]


def _phones(rng: np.random.Generator, n: int) -> pa.Array:
    """Caller ids: UK mobiles and landlines (drama ranges), some +44, some 'anonymous'."""
    kind = _choice(rng, n, [0.45, 0.10, 0.14, 0.13, 0.13, 0.05])
    tail = digits(rng.integers(0, 1000, size=n), 3, kind != len(PHONE_PREFIXES) - 1)
    return join(pick(PHONE_PREFIXES, kind), tail)


def _call_draws(cfg: Config, rng: np.random.Generator, trig: np.ndarray) -> dict[str, np.ndarray]:
    """The numeric side of calls, in generation order (``inserted`` included)."""
    n = len(trig)
    active = np.array([d[1] == 200 for d in DGRPS])
    d_idx = _choice(rng, n, np.array([d[2] for d in DGRPS]) * active)
    dynamic = rng.random(n) < 0.70
    dyn_ch = np.array([c[0] for c in DYNAMIC_CHANNELS])[
        _choice(rng, n, [c[3] for c in DYNAMIC_CHANNELS])
    ]
    fix_ch = np.array([c for c, _ in FIXED_CHANNELS])[
        _choice(rng, n, [w for _, w in FIXED_CHANNELS])
    ]
    ch = np.where(dynamic, dyn_ch, fix_ch)
    # Number dialled: one of the dynamic pool of (dgrp, ch), or the fixed line of (dgrp, ch).
    pool = cfg.pool_offset[d_idx, ch] + rng.integers(0, POOL_SIZE, size=n)
    num_idx = np.where(dynamic, pool, cfg.fixed_index[d_idx, ch])

    state_idx = _choice(rng, n, [s[1] for s in STATES])
    stage_idx = np.zeros(n, dtype=np.int64)
    for k, (_, _, stages) in enumerate(STATES):
        sel = state_idx == k
        if sel.any():
            codes = np.array([STAGES.index(st) for st, _ in stages])
            stage_idx[sel] = codes[_choice(rng, int(sel.sum()), [w for _, w in stages])]
    state_names = [s[0] for s in STATES]

    # Durations follow the stage reached; only bridged calls have a bridgeDuration.
    bridged = stage_idx == STAGES.index("bridge")
    in_ivr = stage_idx == STAGES.index("ivr")
    queued = stage_idx == STAGES.index("queue")
    ringing = (stage_idx == STAGES.index("ring")) | queued
    voicemail = stage_idx == STAGES.index("voicemail")
    blank = state_idx == state_names.index("")
    has_ivr = ((rng.random(n) < 0.3) | in_ivr) & ~blank
    ivr_time = np.where(has_ivr, rng.integers(5, 41, size=n), 0)
    long_ring = np.isin(
        state_idx,
        [state_names.index(x) for x in ("NO_ANSWER", "ORIGINATOR_CANCEL", "NO_USER_RESPONSE")],
    )
    ring = np.select(
        [bridged, voicemail, ringing & long_ring, ringing],
        [
            rng.integers(2, 26, size=n),
            rng.integers(20, 41, size=n),
            rng.integers(8, 61, size=n),
            rng.integers(0, 3, size=n),
        ],
        0,
    )
    bridge = np.where(
        bridged, np.clip(rng.lognormal(np.log(120), 1.0, size=n), 1, 7200).astype(np.int64), 0
    )
    # callDuration: how long the caller's leg was answered (IVR, queue, voicemail, talk).
    call_dur = np.select(
        [blank, bridged, voicemail, queued],
        [
            0,
            ivr_time + np.where(has_ivr, ring, 0) + bridge,
            rng.integers(5, 61, size=n),
            ivr_time + rng.integers(10, 121, size=n),
        ],
        ivr_time,
    )
    # Inserted once processed: seconds after the end usually, minutes sometimes, hours rarely.
    kind = rng.random(n)
    delay = np.select(
        [kind < 0.88, kind < 0.99],
        [2 + rng.exponential(20, size=n), rng.uniform(60, 900, size=n)],
        rng.uniform(3600, 6 * 3600, size=n),
    ).astype(np.int64)
    inserted = trig + (ring + call_dur + delay) * US
    goal = np.where(bridged & (bridge >= 60) & (rng.random(n) < 0.5), CALL_GOAL[0], 0)
    return {
        "trig": trig,
        "inserted": inserted,
        "d_idx": d_idx,
        "dynamic": dynamic,
        "ch": ch,
        "num_idx": num_idx,
        "state_idx": state_idx,
        "stage_idx": stage_idx,
        "ring": ring,
        "bridge": bridge,
        "call_dur": call_dur,
        "has_ivr": has_ivr,
        "goal": goal,
        "bridged": bridged,
        "has_rec": bridged & (rng.random(n) < 0.40),
        "segment": _choice(rng, n, [0.55, 0.25, 0.15, 0.05]),
        "ivr_idx": np.where(has_ivr, 1 + rng.integers(0, 2, size=n), 0),
        "op_idx": np.where(bridged, 1 + rng.integers(0, len(OPERATORS), size=n), 0),
    }


def _call_table(
    igrp: int,
    cfg: Config,
    rng: np.random.Generator,
    d: dict[str, np.ndarray],
    row_ids: np.ndarray,
    gap_rate: float,
) -> pa.Table:
    """Calls in rowId order, from draws already put in insertion order."""
    n = len(row_ids)
    href, vref = _pages(rng, d["ch"], d["dynamic"])
    rec = pc.if_else(
        pa.array(d["has_rec"]),
        join(f"{igrp}/", pc.cast(pa.array(row_ids), pa.string()), ".mp3"),
        "",
    )
    return pa.table(
        {
            "rowId": ints(row_ids),
            "triggerDatetime": timestamps(d["trig"]),
            "igrp": ints(np.full(n, igrp)),
            "dgrp": ints(cfg.dgrp_ids[d["d_idx"]]),
            "dgrpName": pick([g[0] for g in DGRPS], d["d_idx"]),
            "vid": uuids(rng, n, d["dynamic"]),
            "googleCid": _google_cids(rng, d["trig"], d["dynamic"], gap_rate),
            "href": href,
            "vref": vref,
            "dialledPhoneNumber": pick(cfg.numbers, d["num_idx"]),
            "srcPhoneNumber": _phones(rng, n),
            "destPhoneNumber": pick(cfg.dest_numbers, d["d_idx"]),
            "ch": ints(d["ch"]),
            "chName": pick([c[1] for c in CHANNELS], d["ch"]),
            "chType": pick([c[2] for c in CHANNELS], d["ch"]),
            "callDuration": ints(d["call_dur"]),
            "ringTime": ints(d["ring"]),
            "bridgeDuration": ints(d["bridge"]),
            "callState": pick([s[0] for s in STATES], d["state_idx"]),
            "callStage": pick(STAGES, d["stage_idx"]),
            "matchRef": digits(rng.integers(10_000, 100_000, size=n), 5, d["dynamic"]),
            "matchType": pick(["static", "dynamic"], d["dynamic"].astype(np.int64)),
            "segment": ints(d["segment"]),
            "orgId": ints(cfg.dgrp_org[d["d_idx"]]),
            "goal": ints(d["goal"]),
            "goalTitle": pick(["", CALL_GOAL[1]], (d["goal"] > 0).astype(np.int64)),
            "rec": rec,
            "operatorRef": pick([""] + OPERATORS, d["op_idx"]),
            "ivrRef": pick(["", "ivr-main", "ivr-hours"], d["ivr_idx"]),
            "dialplanRef": pick(["dp-standard", "dp-ooh"], (d["segment"] == 3).astype(np.int64)),
            INSERTED: timestamps(d["inserted"]),
        }
    )


def _row_ids(rng: np.random.Generator, n: int, base: int) -> np.ndarray:
    """n increasing rowIds above `base`, with gaps (other installations' rows sit between)."""
    return base + np.cumsum(rng.geometric(0.25, size=n))


def _page_goal_table(
    igrp: int,
    cfg: Config,
    rng: np.random.Generator,
    n_per_day: int,
    start: date,
    end: date,
    tz: str,
    gap_rate: float,
) -> pa.Table:
    """Goals reached on a page (forms, downloads): a visitor and a page, call fields empty."""
    trig = _trigger_times(rng, start, end, n_per_day, tz)
    n = len(trig)
    inserted = trig + ((1 + rng.exponential(5, size=n)) * US).astype(np.int64)
    order = np.argsort(inserted, kind="stable")
    trig, inserted = trig[order], inserted[order]
    ch = np.array([c[0] for c in DYNAMIC_CHANNELS])[
        _choice(rng, n, [c[3] for c in DYNAMIC_CHANNELS])
    ]
    href, vref = _pages(rng, ch, np.ones(n, dtype=bool))
    g = _choice(rng, n, [0.4, 0.3, 0.2, 0.1])
    none = np.zeros(n, dtype=bool)
    empty = pa.array([""] * n, pa.string())
    segment = _choice(rng, n, [0.55, 0.25, 0.15, 0.05])
    return pa.table(
        {
            "triggerDatetime": timestamps(trig),
            "igrp": ints(np.full(n, igrp)),
            "dgrp": ints(np.zeros(n), valid=none),
            "dgrpName": empty,
            "vid": uuids(rng, n),
            "googleCid": _google_cids(rng, trig, np.ones(n, dtype=bool), gap_rate),
            "href": href,
            "vref": vref,
            "dialledPhoneNumber": empty,
            "srcPhoneNumber": empty,
            "destPhoneNumber": empty,
            "ch": ints(ch),
            "chName": pick([c[1] for c in CHANNELS], ch),
            "chType": pick([c[2] for c in CHANNELS], ch),
            "callDuration": ints(np.zeros(n), valid=none),
            "ringTime": ints(np.zeros(n), valid=none),
            "bridgeDuration": ints(np.zeros(n), valid=none),
            "callState": empty,
            "callStage": empty,
            "matchRef": empty,
            "matchType": empty,
            "segment": ints(segment),
            "orgId": ints(cfg.dgrp_org[rng.integers(0, len(DGRPS), size=n)]),
            "goal": ints(np.array([p[0] for p in PAGE_GOALS])[g]),
            "goalTitle": pick([p[1] for p in PAGE_GOALS], g),
            "rec": empty,
            "operatorRef": empty,
            "ivrRef": empty,
            "dialplanRef": empty,
            INSERTED: timestamps(inserted),
        }
    )


def _goals_route(
    igrp: int,
    cfg: Config,
    calls: pa.Table,
    seed: int,
    start: date,
    end: date,
    tz: str,
    gap_rate: float,
    per_day: int,
) -> RouteTable:
    """Goals: the calls that reached a goal, plus page-view goals, in their own rowId sequence."""
    rng = np.random.default_rng([int(seed), int(igrp), 2])
    call_goals = calls.filter(pc.greater(calls.column("goal"), 0)).drop_columns(["rowId"])
    pv = _page_goal_table(igrp, cfg, rng, per_day, start, end, tz, gap_rate)
    goals = pa.concat_tables([call_goals, pv])
    inserted = np.asarray(goals.column(INSERTED).cast(pa.int64()).to_numpy(), dtype=np.int64)
    order = np.argsort(inserted, kind="stable")  # a merge of two sorted runs
    goals = goals.take(pa.array(order, pa.int64()))
    ids = _row_ids(rng, goals.num_rows, 2_000_000 + (seed * 104_729 + igrp) % 1_000_000)
    goals = goals.add_column(0, "rowId", ints(ids))
    return RouteTable.build(
        "goals", goals.select([f.name for f in CALL_FIELDS] + [INSERTED]), CALL_FIELDS
    )


def generate_installation(
    igrp: int = DEMO_IGRP,
    start: date | None = None,
    end: date | None = None,
    calls_per_day: int = 2000,
    seed: int = 7,
    cid_gap_rate: float = 0.12,
    tz: str = "Europe/London",
    page_goal_ratio: float = 0.3,
    missing_recording_rate: float = 0.03,
) -> Installation:
    """A seeded realistic installation: `calls_per_day` calls on each UTC day `start`..`end`.

    Goals (page-view goals: `page_goal_ratio` per call) are built on first use. A
    `missing_recording_rate` share of calls with a ``rec`` reference has no recording (404).
    """
    if end is None:
        end = datetime.now(UTC).date()
    if start is None:
        start = end - timedelta(days=29)
    rng = np.random.default_rng([int(seed), int(igrp)])
    cfg = build_config(igrp, rng)

    trig = _trigger_times(rng, start, end, calls_per_day, tz)
    draws = _call_draws(cfg, rng, trig)
    draws = _permute(draws, np.argsort(draws["inserted"], kind="stable"))
    row_ids = _row_ids(rng, len(trig), 4_000_000 + (seed * 7_919 + igrp) % 3_000_000)
    calls = _call_table(igrp, cfg, rng, draws, row_ids, cid_gap_rate)
    missing = row_ids[draws["has_rec"] & (rng.random(len(row_ids)) < missing_recording_rate)]
    calls_route = RouteTable.build("calls", calls, CALL_FIELDS)

    pv_per_day = int(round(calls_per_day * page_goal_ratio))
    routes: dict[str, RouteTable | Callable[[], RouteTable]] = {
        "calls": calls_route,
        "goals": lambda: _goals_route(
            igrp, cfg, calls, seed, start, end, tz, cid_gap_rate, pv_per_day
        ),
        "dgrps": RouteTable.build("dgrps", cfg.tables["dgrps"], DGRP_FIELDS),
        "numbers": RouteTable.build("numbers", cfg.tables["numbers"], NUMBER_FIELDS),
        "organisations": RouteTable.build(
            "organisations", cfg.tables["organisations"], ORGANISATION_FIELDS
        ),
    }
    return Installation(
        igrp, routes, recording_seed=seed, missing_recordings=missing.tolist(), tz=tz, seed=seed
    )

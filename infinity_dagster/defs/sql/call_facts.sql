-- One pass over every call: counts per day, dial-in group, state and client-id outcome. The
-- three operational models below are sums over this small table, so the calls are read once,
-- not once per model. The state is grouped as sent and normalised afterwards, on the few
-- distinct values rather than on every call. A temporary table: not kept in the database file.
CREATE OR REPLACE TEMP TABLE call_facts AS
WITH per_raw_state AS (
    SELECT
        date,
        dgrp,
        "callState" AS raw_state,
        visitor_id_of("vid") IS NOT NULL AS has_vid,
        cid_is_missing(${cid_field}) AS cid_missing,
        count(*) AS calls,
        max("rowId") AS last_row_id,
        arg_max("dgrpName", "rowId") AS dgrp_name
    FROM calls
    GROUP BY ALL
),
f AS (
    SELECT
        date,
        dgrp,
        call_state_key(raw_state) AS state_key,
        has_vid,
        cid_missing,
        sum(calls) AS calls,
        max(last_row_id) AS last_row_id,
        arg_max(dgrp_name, last_row_id) AS dgrp_name
    FROM per_raw_state
    GROUP BY date, dgrp, state_key, has_vid, cid_missing
)
SELECT
    f.*,
    state_category(f.state_key, m.category) AS category,
    coalesce(m.is_failure, false) AS is_failure,
    m.call_state IS NULL AS is_unmapped_state
FROM f
LEFT JOIN call_state_mapping AS m ON m.call_state = f.state_key;

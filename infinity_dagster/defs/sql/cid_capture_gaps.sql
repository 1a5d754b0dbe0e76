-- One row per day and dial-in group: is the tracking code capturing the Google client id?
-- A call with a visitor id but no (clean) client id is a capture gap.
CREATE OR REPLACE TABLE cid_capture_gaps AS
SELECT
    date,
    dgrp,
    CAST(coalesce(sum(calls) FILTER (WHERE has_vid), 0) AS BIGINT) AS calls_with_vid,
    CAST(coalesce(sum(calls) FILTER (WHERE has_vid AND cid_missing), 0) AS BIGINT)
        AS missing_cid_calls,
    CAST(coalesce(sum(calls) FILTER (WHERE has_vid AND cid_missing), 0) AS DOUBLE)
        / NULLIF(sum(calls) FILTER (WHERE has_vid), 0) AS gap_rate
FROM call_facts
GROUP BY date, dgrp
ORDER BY date, dgrp;

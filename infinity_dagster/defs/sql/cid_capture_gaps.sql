-- One row per day and dial-in group: is the tracking code capturing the Google client id?
-- A call with a visitor id but no (clean) client id is a capture gap.
CREATE OR REPLACE TABLE cid_capture_gaps AS
SELECT
    date,
    dgrp,
    count(*) FILTER (WHERE visitor_id IS NOT NULL) AS calls_with_vid,
    count(*) FILTER (WHERE visitor_id IS NOT NULL AND client_id IS NULL) AS missing_cid_calls,
    CASE
        WHEN count(*) FILTER (WHERE visitor_id IS NOT NULL) = 0 THEN NULL
        ELSE CAST(count(*) FILTER (WHERE visitor_id IS NOT NULL AND client_id IS NULL) AS DOUBLE)
            / count(*) FILTER (WHERE visitor_id IS NOT NULL)
    END AS gap_rate
FROM calls_clean
GROUP BY date, dgrp
ORDER BY date, dgrp;

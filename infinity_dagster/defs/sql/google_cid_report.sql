-- Calls that came with an Infinity visitor id, their Google client id as sent and as cleaned,
-- and whether it is missing (a capture gap: the site's code did not pass the client id).
CREATE OR REPLACE VIEW google_cid_report AS
SELECT
    date,
    "rowId" AS row_id,
    "triggerDatetime" AS call_time,
    dgrp,
    "dgrpName" AS dgrp_name,
    visitor_id,
    CAST(${cid_field} AS VARCHAR) AS client_id_sent,
    client_id,
    client_id IS NULL AS cid_missing,
    href
FROM calls_clean
WHERE visitor_id IS NOT NULL;

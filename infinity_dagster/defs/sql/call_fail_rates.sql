-- One row per day and dial-in group: are calls failing? Unmapped and blank states stay in the
-- denominator and are counted apart, never as failures.
CREATE OR REPLACE TABLE call_fail_rates AS
SELECT
    date,
    dgrp,
    arg_max("dgrpName", "rowId") AS dgrp_name,
    count(*) AS total_calls,
    count(*) FILTER (WHERE is_failure) AS failed_calls,
    count(*) FILTER (WHERE is_unmapped_state) AS unmapped_state_calls,
    CAST(count(*) FILTER (WHERE is_failure) AS DOUBLE) / count(*) AS fail_rate
FROM calls_clean
GROUP BY date, dgrp
ORDER BY date, dgrp;

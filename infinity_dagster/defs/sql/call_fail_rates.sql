-- One row per day and dial-in group: are calls failing? Unmapped and blank states stay in the
-- denominator and are counted apart, never as failures.
CREATE OR REPLACE TABLE call_fail_rates AS
SELECT
    date,
    dgrp,
    arg_max(dgrp_name, last_row_id) AS dgrp_name,
    CAST(sum(calls) AS BIGINT) AS total_calls,
    CAST(coalesce(sum(calls) FILTER (WHERE is_failure), 0) AS BIGINT) AS failed_calls,
    CAST(coalesce(sum(calls) FILTER (WHERE is_unmapped_state), 0) AS BIGINT)
        AS unmapped_state_calls,
    CAST(coalesce(sum(calls) FILTER (WHERE is_failure), 0) AS DOUBLE) / sum(calls) AS fail_rate
FROM call_facts
GROUP BY date, dgrp
ORDER BY date, dgrp;

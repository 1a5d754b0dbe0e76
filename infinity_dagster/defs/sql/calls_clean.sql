-- Each call with the cleaning rules applied: one normalised call state, its category from the
-- editable mapping, the visitor id and the cleaned Google client id. Blank or unmapped states are
-- kept (never dropped) and never counted as failures.
CREATE OR REPLACE VIEW calls_clean AS
WITH base AS (
    SELECT
        *,
        call_state_key("callState") AS state_key,
        visitor_id_of("vid") AS visitor_id,
        client_id_of(${cid_field}) AS client_id
    FROM calls
)
SELECT
    base.*,
    state_category(base.state_key, m.category) AS state_category,
    coalesce(m.is_failure, false) AS is_failure,
    m.call_state IS NULL AS is_unmapped_state
FROM base
LEFT JOIN call_state_mapping AS m ON m.call_state = base.state_key;

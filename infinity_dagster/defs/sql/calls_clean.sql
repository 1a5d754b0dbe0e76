-- Cleaning rules live here, not in the raw files: one normalised call state, its category from
-- the editable mapping, and the Google client id with blanks, placeholders and _ga cookie forms
-- resolved. Blank or unmapped states are kept (never dropped) and never counted as failures.
CREATE OR REPLACE VIEW calls_clean AS
WITH base AS (
    SELECT
        *,
        NULLIF(upper(trim(coalesce("callState", ''))), '') AS state_key,
        NULLIF(trim(coalesce("vid", '')), '') AS visitor_id,
        trim(coalesce(CAST(${cid_field} AS VARCHAR), '')) AS cid_text
    FROM calls
)
SELECT
    base.* EXCLUDE (cid_text),
    CASE
        WHEN base.state_key IS NULL THEN 'blank'
        ELSE coalesce(m.category, 'unmapped')
    END AS state_category,
    coalesce(m.is_failure, false) AS is_failure,
    m.call_state IS NULL AS is_unmapped_state,
    CASE
        WHEN lower(base.cid_text) IN ('', 'undefined', 'null', '(not set)', 'not set', 'none', 'nan')
            THEN NULL
        WHEN regexp_matches(base.cid_text, '^GA[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$')
            THEN regexp_extract(base.cid_text, '^GA[0-9]+\.[0-9]+\.([0-9]+\.[0-9]+)$', 1)
        ELSE base.cid_text
    END AS client_id
FROM base
LEFT JOIN call_state_mapping AS m ON m.call_state = base.state_key;

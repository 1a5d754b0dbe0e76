-- The cleaning rules, once, as macros every model uses (and users can call in their queries):
-- call states trimmed and upper-cased (blank -> NULL), visitor ids trimmed (blank -> NULL), and
-- Google client ids with blanks and placeholders missing and _ga cookie forms resolved.
CREATE OR REPLACE MACRO call_state_key(state) AS
    NULLIF(upper(trim(coalesce(CAST(state AS VARCHAR), ''))), '');

CREATE OR REPLACE MACRO visitor_id_of(vid) AS
    NULLIF(trim(coalesce(CAST(vid AS VARCHAR), '')), '');

CREATE OR REPLACE MACRO cid_is_missing(cid) AS
    lower(trim(coalesce(CAST(cid AS VARCHAR), '')))
        IN ('', 'undefined', 'null', '(not set)', 'not set', 'none', 'nan');

-- 'blank' for a blank state, else the mapping's category, else 'unmapped'.
CREATE OR REPLACE MACRO state_category(state_key, mapped_category) AS
    CASE WHEN state_key IS NULL THEN 'blank' ELSE coalesce(mapped_category, 'unmapped') END;

-- NULL exactly when cid_is_missing: a _ga cookie yields its (non-empty) client id part.
CREATE OR REPLACE MACRO client_id_of(cid) AS
    CASE
        WHEN cid_is_missing(cid) THEN NULL
        WHEN regexp_matches(trim(CAST(cid AS VARCHAR)), '^GA[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$')
            THEN regexp_extract(trim(CAST(cid AS VARCHAR)), '^GA[0-9]+\.[0-9]+\.([0-9]+\.[0-9]+)$', 1)
        ELSE trim(CAST(cid AS VARCHAR))
    END;

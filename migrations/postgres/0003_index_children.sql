-- The children of each multi-platform index, in index order. A manifest may be a child of several
-- indexes (a platform image shared by two releases), so the link is its own table;
-- artifacts.parent_digest keeps the most recent parent for listings.
CREATE TABLE index_children (
    parent_id BIGINT NOT NULL REFERENCES artifacts (id),
    child_id BIGINT NOT NULL REFERENCES artifacts (id),
    position BIGINT NOT NULL,
    platform TEXT,
    PRIMARY KEY (parent_id, child_id)
);

INSERT INTO index_children (parent_id, child_id, position, platform)
SELECT p.id, c.id, c.id, c.platform
FROM artifacts c
JOIN artifacts p ON p.registry = c.registry AND p.repository = c.repository AND p.digest = c.parent_digest;

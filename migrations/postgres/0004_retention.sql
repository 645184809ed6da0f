-- Retention prunes old scans, but never one whose package inventory a kept scan uses: this index
-- makes that check a lookup.
CREATE INDEX scans_inventory ON scans (inventory_scan_id);

select cast(1 as bigint) as node_id

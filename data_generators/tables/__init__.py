"""One module per entity: how its rows are drawn, rendered into Arrow tables and scheduled into work units."""

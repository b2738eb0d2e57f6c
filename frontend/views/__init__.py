"""Pages, one module per area: public and account pages, the portal, settings, reports."""

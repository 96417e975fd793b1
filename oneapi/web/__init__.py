"""The browser admin: server-rendered Jinja2 pages at One API's own routes."""

"""SQL_DSN in One API's two spellings: PostgreSQL URLs and go-sql-driver MySQL DSNs."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True, slots=True)
class Dsn:
    backend: str  # "postgres" | "mysql"
    database: str
    options: dict[str, object] = field(default_factory=dict)


def parse_dsn(dsn: str) -> Dsn:
    """Parse ``postgres://…`` (or ``postgresql://…``) or ``user:pass@tcp(host:port)/db?params``."""
    if dsn.startswith(("postgres://", "postgresql://")):
        return _parse_postgres(dsn)
    return _parse_go_mysql(dsn)


def _parse_postgres(dsn: str) -> Dsn:
    parts = urlsplit(dsn)
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError("the PostgreSQL URL names no database")
    try:
        port = parts.port or 5432
    except ValueError:
        raise ValueError("the PostgreSQL URL has a bad port") from None
    opts: dict[str, object] = {"host": parts.hostname or "127.0.0.1", "port": port}
    if parts.username:
        opts["user"] = unquote(parts.username)
    if parts.password is not None:
        opts["password"] = unquote(parts.password)
    query = dict(parse_qsl(parts.query))
    sslmode = query.get("sslmode")
    if sslmode == "disable":
        opts["ssl"] = False
    elif sslmode:
        opts["ssl"] = sslmode
    return Dsn("postgres", database, opts)


def _parse_go_mysql(dsn: str) -> Dsn:
    """go-sql-driver's rules: the last '/', the last '@' before it, the first ':' before that."""
    slash = dsn.rfind("/")
    if slash < 0:
        raise ValueError("expected user:password@tcp(host:port)/dbname or a postgres:// URL")
    left, right = dsn[:slash], dsn[slash + 1 :]
    at = left.rfind("@")
    user = password = None
    if at >= 0:
        credentials, netaddr = left[:at], left[at + 1 :]
        user, sep, pw = credentials.partition(":")
        password = pw if sep else None
    else:
        netaddr = left
    if "(" in netaddr:
        if not netaddr.endswith(")"):
            raise ValueError(f"unclosed address in {netaddr!r}")
        net, addr = netaddr.split("(", 1)
        addr = addr[:-1]
    else:
        net, addr = netaddr, ""
    database, _, query = right.partition("?")
    if not database:
        raise ValueError("the DSN names no database after '/'")
    opts: dict[str, object] = {"charset": "utf8mb4"}
    if user:
        opts["user"] = user
    if password is not None:
        opts["password"] = password
    if (net or "tcp") == "unix":
        opts["unix_socket"] = addr
    elif (net or "tcp") == "tcp":
        host, port = addr or "127.0.0.1:3306", "3306"
        if addr.startswith("["):
            host, _, rest = addr[1:].partition("]")
            port = rest.lstrip(":") or "3306"
        elif ":" in addr:
            host, _, port = addr.rpartition(":")
        if not port.isdigit():
            raise ValueError(f"bad port {port!r}")
        opts["host"] = host or "127.0.0.1"
        opts["port"] = int(port)
    else:
        raise ValueError(f"unknown network {net!r} (use tcp or unix)")
    for key, value in parse_qsl(query):
        if key == "charset":
            opts["charset"] = value.split(",")[0]
    return Dsn("mysql", unquote(database), opts)

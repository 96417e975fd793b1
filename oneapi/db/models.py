"""One API's seven tables, column for column (SPEC §1), so that its databases open unchanged.

Index names follow GORM's (``idx_<table>_<column>``) so that opening a One API database creates no twins.
Foreign keys are plain integer columns, as in One API: no lazy loads can sneak into async code.
"""

from __future__ import annotations

from typing import Any

from peewee import (
    SQL,
    AutoField,
    BigIntegerField,
    BooleanField,
    CharField,
    CompositeKey,
    DatabaseProxy,
    FloatField,
    IntegerField,
    TextField,
)
from playhouse.pwasyncio import AsyncModel

main_db = DatabaseProxy()
log_db = DatabaseProxy()


class BaseModel(AsyncModel):
    class Meta:
        database = main_db
        legacy_table_names = False


class User(BaseModel):
    id = AutoField()
    username = CharField(max_length=191)
    password = TextField()
    display_name = CharField(max_length=191, default="", null=True)
    role = IntegerField(default=1)
    status = IntegerField(default=1)
    email = CharField(max_length=191, default="", null=True)
    github_id = CharField(max_length=191, default="", null=True)
    wechat_id = CharField(max_length=191, default="", null=True)
    lark_id = CharField(max_length=191, default="", null=True)
    oidc_id = CharField(max_length=191, default="", null=True)
    access_token = CharField(max_length=32, null=True)
    quota = BigIntegerField(default=0)
    used_quota = BigIntegerField(default=0)
    request_count = IntegerField(default=0)
    group = CharField(max_length=32, default="default")
    aff_code = CharField(max_length=32, null=True)
    inviter_id = IntegerField(default=0, null=True)

    class Meta:
        table_name = "users"


class Token(BaseModel):
    id = AutoField()
    user_id = IntegerField()
    key = CharField(max_length=48)
    status = IntegerField(default=1)
    name = CharField(max_length=191, default="", null=True)
    created_time = BigIntegerField(default=0)
    accessed_time = BigIntegerField(default=0)
    expired_time = BigIntegerField(default=-1)
    remain_quota = BigIntegerField(default=0)
    unlimited_quota = BooleanField(default=False)
    used_quota = BigIntegerField(default=0)
    models = TextField(null=True)
    subnet = CharField(max_length=191, default="", null=True)

    class Meta:
        table_name = "tokens"


class Channel(BaseModel):
    id = AutoField()
    type = IntegerField(default=0)
    key = TextField()
    status = IntegerField(default=1)
    name = CharField(max_length=191, default="", null=True)
    weight = IntegerField(default=0, null=True)
    created_time = BigIntegerField(default=0)
    test_time = BigIntegerField(default=0)
    response_time = IntegerField(default=0)
    base_url = CharField(max_length=191, default="", null=True)
    other = TextField(default="", null=True)
    balance = FloatField(default=0)
    balance_updated_time = BigIntegerField(default=0)
    models = TextField(default="")
    group = CharField(max_length=32, default="default")
    used_quota = BigIntegerField(default=0)
    model_mapping = CharField(max_length=1024, default="", null=True)
    priority = BigIntegerField(default=0, null=True)
    config = TextField(default="", null=True)
    system_prompt = TextField(default="", null=True)

    class Meta:
        table_name = "channels"


class Ability(BaseModel):
    group = CharField(max_length=32)
    model = CharField(max_length=191)
    channel_id = IntegerField()
    enabled = BooleanField(default=True)
    priority = BigIntegerField(default=0, null=True)

    class Meta:
        table_name = "abilities"
        primary_key = CompositeKey("group", "model", "channel_id")


class Option(BaseModel):
    key = CharField(max_length=191, primary_key=True)
    value = TextField(default="")

    class Meta:
        table_name = "options"


class OneTimeSecret(BaseModel):
    """Ours, not One API's: verification codes, reset tokens, OAuth states and Turnstile passes, shared by
    every node and worker (One API keeps them in process memory). ``key`` is ``purpose:subject``; only a
    SHA-256 digest of the secret is stored."""

    key = CharField(max_length=191, primary_key=True)
    digest = CharField(max_length=64)
    expires_at = BigIntegerField()

    class Meta:
        table_name = "one_time_secrets"


TEXT_BYTES = 65_535  # what a TEXT column holds on MySQL / MariaDB: longer values are refused on every backend


def fits_text(value: str) -> bool:
    """Whether a TEXT column holds ``value`` on every backend (the UTF-8 length is taken only when a string of
    that many characters could pass TEXT_BYTES)."""
    return len(value) <= TEXT_BYTES // 4 or len(value.encode()) <= TEXT_BYTES


class LongTextField(TextField):
    """TEXT, except on MySQL/MariaDB, whose TEXT holds only 64 KB: LONGTEXT there (as GORM's strings are)."""

    def ddl_datatype(self, ctx: Any) -> SQL:
        field_types = ctx.state.field_types if ctx else None
        mysql = "AUTO_INCREMENT" in (field_types or {}).get("AUTO", "")
        return SQL("LONGTEXT") if mysql else super().ddl_datatype(ctx)


class StoredResponse(BaseModel):
    """Ours, not One API's: a /v1/responses answer kept for ``previous_response_id`` and GET, per token, for
    RESPONSE_STORE_DAYS. ``items`` is the whole conversation as Responses items (input, then output)."""

    id = CharField(max_length=64, primary_key=True)
    token_id = IntegerField(index=True)
    created_at = BigIntegerField(index=True)
    response = LongTextField()
    items = LongTextField()

    class Meta:
        table_name = "responses"


class SessionGeneration(BaseModel):
    """Ours, not One API's: a user's session generation. Every cookie names the generation it was issued
    under; logout, a password, role or status change bumps it, which ends every older cookie on every node."""

    user_id = IntegerField(primary_key=True)
    generation = BigIntegerField(default=0)

    class Meta:
        table_name = "session_generations"


class Redemption(BaseModel):
    id = AutoField()
    user_id = IntegerField(default=0)
    key = CharField(max_length=32)
    status = IntegerField(default=1)
    name = CharField(max_length=191, default="", null=True)
    quota = BigIntegerField(default=100)
    created_time = BigIntegerField(default=0)
    redeemed_time = BigIntegerField(default=0)

    class Meta:
        table_name = "redemptions"


class Log(AsyncModel):
    id = AutoField()
    user_id = IntegerField(default=0)
    created_at = BigIntegerField(default=0)
    type = IntegerField(default=0)
    content = TextField(default="")
    username = CharField(max_length=191, default="")
    token_name = CharField(max_length=191, default="")
    model_name = CharField(max_length=191, default="")
    quota = IntegerField(default=0)
    prompt_tokens = IntegerField(default=0)
    completion_tokens = IntegerField(default=0)
    channel_id = IntegerField(default=0)
    request_id = CharField(max_length=191, default="")
    elapsed_time = BigIntegerField(default=0)
    is_stream = BooleanField(default=False)
    system_prompt_reset = BooleanField(default=False)

    class Meta:
        database = log_db
        table_name = "logs"
        legacy_table_names = False


class LogHourly(AsyncModel):
    """Ours, not One API's: consume logs summed per user, UTC hour and model, so that the dashboard and the
    quota stats read a few hundred rows instead of every log (kept up by oneapi/log_rollup.py)."""

    user_id = IntegerField()
    hour = BigIntegerField()  # unix time of the hour's first second
    model_name = CharField(max_length=191, default="")
    requests = BigIntegerField(default=0)
    quota = BigIntegerField(default=0)
    prompt_tokens = BigIntegerField(default=0)
    completion_tokens = BigIntegerField(default=0)

    class Meta:
        database = log_db
        table_name = "log_hourly"
        legacy_table_names = False
        primary_key = CompositeKey("user_id", "hour", "model_name")


class LogRollupMark(AsyncModel):
    """Ours: the id of the last log row summed into log_hourly (one row)."""

    name = CharField(max_length=32, primary_key=True)
    last_log_id = BigIntegerField(default=0)

    class Meta:
        database = log_db
        table_name = "log_rollup_marks"
        legacy_table_names = False


def _index(model: type[AsyncModel], name: str, *columns: str, unique: bool = False) -> None:
    model.add_index(model.index(*(getattr(model, c) for c in columns), unique=unique, name=name))


for _model, _name, _cols, _unique in (
    (User, "idx_users_username", ("username",), True),
    (User, "idx_users_display_name", ("display_name",), False),
    (User, "idx_users_email", ("email",), False),
    (User, "idx_users_github_id", ("github_id",), False),
    (User, "idx_users_wechat_id", ("wechat_id",), False),
    (User, "idx_users_lark_id", ("lark_id",), False),
    (User, "idx_users_oidc_id", ("oidc_id",), False),
    (User, "idx_users_access_token", ("access_token",), True),
    (User, "idx_users_aff_code", ("aff_code",), True),
    (User, "idx_users_inviter_id", ("inviter_id",), False),
    (Token, "idx_tokens_key", ("key",), True),
    (Token, "idx_tokens_name", ("name",), False),
    (Channel, "idx_channels_name", ("name",), False),
    (Ability, "idx_abilities_channel_id", ("channel_id",), False),
    (Ability, "idx_abilities_priority", ("priority",), False),
    (Redemption, "idx_redemptions_key", ("key",), True),
    (Redemption, "idx_redemptions_name", ("name",), False),
    (Log, "idx_logs_user_id", ("user_id",), False),
    (Log, "idx_created_at_type", ("created_at", "type"), False),
    (Log, "index_username_model_name", ("model_name", "username"), False),
    (Log, "idx_logs_token_name", ("token_name",), False),
    (Log, "idx_logs_model_name", ("model_name",), False),
    (Log, "idx_logs_channel_id", ("channel_id",), False),
    # ours: the log pages order by id within these filters
    (Log, "idx_logs_user_id_id", ("user_id", "id"), False),  # PostgreSQL's only: see POSTGRES_ONLY_INDEXES
    (Log, "idx_logs_type_id", ("type", "id"), False),
    (Log, "idx_logs_username_id", ("username", "id"), False),  # One API's username index leads with model_name
    (LogHourly, "idx_log_hourly_hour", ("hour",), False),
):
    _index(_model, _name, *_cols, unique=_unique)

# Made on PostgreSQL alone: its B-tree on user_id keeps equal keys in heap order, not id order, while SQLite's and
# InnoDB's secondary indexes end with the primary key, so there idx_logs_user_id already serves the pages in id
# order and a second copy only costs every log row one more index insert (about 1.5 us of 22 at a million rows).
POSTGRES_ONLY_INDEXES = frozenset({"idx_logs_user_id_id"})

MAIN_MODELS: tuple[type[AsyncModel], ...] = (User, Token, Channel, Ability, Option, Redemption, OneTimeSecret,
                                             StoredResponse, SessionGeneration)
LOG_MODELS: tuple[type[AsyncModel], ...] = (Log, LogHourly, LogRollupMark)

"""core: 流程实例、任务、历史、发件箱、定时器 (flow engine)

Revision ID: 0006_flow_engine
Revises: 0005_flow_defs
Create Date: 2026-11-25
"""
from alembic import op
import sqlalchemy as sa

revision = "0006_flow_engine"
down_revision = "0005_flow_defs"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "core_flow_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("def_version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("form_id", sa.String(length=64), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=True),
        sa.Column("variables", sa.JSON(), nullable=False),
        sa.Column("initiator_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("parent_token_id", sa.Integer(), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("ended_at", TS, nullable=True),
        sa.Column("rework_count", sa.Integer(), nullable=False),
        sa.Column("extend_count", sa.Integer(), nullable=False),
        sa.Column("return_count", sa.Integer(), nullable=False),
        sa.Column("suspend_count", sa.Integer(), nullable=False),
        sa.Column("urge_count", sa.Integer(), nullable=False),
        sa.Column("reassign_count", sa.Integer(), nullable=False),
        sa.Column("suspended_seconds", sa.Float(), nullable=False),
        sa.Column("suspended_at", TS, nullable=True),
        sa.Column("steps", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["record_id"], ["core_form_record.id"]),
        sa.ForeignKeyConstraint(["org_id"], ["core_org.id"]),
        sa.ForeignKeyConstraint(["parent_id"], ["core_flow_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_flow_instance_record_id", "core_flow_instance", ["record_id"])
    op.create_index("ix_core_flow_instance_org_id", "core_flow_instance", ["org_id"])
    op.create_index("ix_core_flow_instance_parent_id", "core_flow_instance", ["parent_id"])
    op.create_index("ix_core_flow_instance_initiator", "core_flow_instance", ["initiator_id", "started_at"])
    op.create_index("ix_core_flow_instance_flow", "core_flow_instance", ["flow_id", "def_version", "status"])

    op.create_table(
        "core_flow_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("multi_key", sa.String(length=64), nullable=True),
        sa.Column("prev_task_id", sa.Integer(), nullable=True),
        sa.Column("last_actor_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["core_flow_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_flow_token_instance", "core_flow_token", ["instance_id", "status", "node_id"])

    op.create_table(
        "core_flow_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=True),
        sa.Column("flow_id", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("op", sa.String(length=16), nullable=True),
        sa.Column("op_data", sa.JSON(), nullable=True),
        sa.Column("subject_task_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claim", sa.Boolean(), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("org_id", sa.Integer(), nullable=True),
        sa.Column("multi_key", sa.String(length=64), nullable=True),
        sa.Column("prev_task_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("limit_amount", sa.Float(), nullable=True),
        sa.Column("limit_unit", sa.String(length=16), nullable=True),
        sa.Column("calendar_id", sa.String(length=64), nullable=True),
        sa.Column("warn_at", TS, nullable=True),
        sa.Column("due_at", TS, nullable=True),
        sa.Column("warned_at", TS, nullable=True),
        sa.Column("overdue_at", TS, nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("completed_by", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("urge_count", sa.Integer(), nullable=False),
        sa.Column("rework", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["core_flow_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_flow_task_assignee", "core_flow_task", ["assignee_id", "status", "due_at"])
    op.create_index("ix_core_flow_task_done", "core_flow_task", ["completed_by", "completed_at"])
    op.create_index("ix_core_flow_task_instance", "core_flow_task", ["instance_id", "status"])
    op.create_index("ix_core_flow_task_status_due", "core_flow_task", ["status", "due_at"])
    op.create_index("ix_core_flow_task_status_warn", "core_flow_task", ["status", "warn_at"])

    op.create_table(
        "core_flow_task_candidate",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["core_flow_task.id"]),
        sa.PrimaryKeyConstraint("task_id", "person_id"),
    )
    op.create_index("ix_core_flow_task_candidate_person", "core_flow_task_candidate", ["person_id", "task_id"])

    op.create_table(
        "core_flow_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=True),
        sa.Column("to_node", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["instance_id"], ["core_flow_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_flow_history_instance_id", "core_flow_history", ["instance_id"])

    op.create_table(
        "core_flow_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_flow_outbox_pending", "core_flow_outbox", ["delivered_at", "id"])

    op.create_table(
        "core_flow_timer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fire_at", TS, nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("fired_at", TS, nullable=True),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["core_flow_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_core_flow_timer_instance_id", "core_flow_timer", ["instance_id"])
    op.create_index("ix_core_flow_timer_task_id", "core_flow_timer", ["task_id"])
    op.create_index("ix_core_flow_timer_due", "core_flow_timer", ["fired_at", "cancelled", "fire_at"])

    op.create_table(
        "core_flow_lock",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=100), nullable=False),
        sa.Column("until", TS, nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    for table in ("core_flow_lock", "core_flow_timer", "core_flow_outbox", "core_flow_history",
                  "core_flow_task_candidate", "core_flow_task", "core_flow_token", "core_flow_instance"):
        op.drop_table(table)

"""Access rules, independent of GraphQL: which actions an actor's roles allow."""

from openitsm.kernel.access.actions import (
    KERNEL_ACTIONS,
    ActionRegistry,
    ActionSpec,
    action_registry,
    require,
)

__all__ = ["KERNEL_ACTIONS", "ActionRegistry", "ActionSpec", "action_registry", "require"]

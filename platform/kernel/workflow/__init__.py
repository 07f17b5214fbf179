"""The workflow engine: BPMN process definitions run over relational tables."""

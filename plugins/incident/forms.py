"""The incident module's forms: registration and the action forms on the incident page.

Each field is named after the incident field it writes, so field rules apply to it;
dictionary fields post item ids that the page turns into the item codes incidents keep.
"""

from __future__ import annotations

from openitsm.kernel.forms import Choice, Form, FormField, FormSection

CALLER = FormField(
    "caller_id",
    {"zh-CN": "报告人", "en": "Caller"},
    type="user",
    required=True,
    help={
        "zh-CN": "按电话、工号、姓名或登录名查找",
        "en": "Search by phone, employee id, name or login",
    },
)
CONTACT_PHONE = FormField(
    "contact_phone", {"zh-CN": "联系电话", "en": "Contact phone"}, max_length=50
)
TITLE = FormField("title", {"zh-CN": "标题", "en": "Title"}, required=True, max_length=200)
DESCRIPTION = FormField("description", {"zh-CN": "描述", "en": "Description"}, type="richtext")
CATEGORY = FormField(
    "category",
    {"zh-CN": "事件分类", "en": "Category"},
    type="dictionary",
    dictionary="incident_category",
)
NATURE = FormField(
    "nature",
    {"zh-CN": "事件性质", "en": "Nature"},
    type="dictionary",
    dictionary="incident_nature",
)
IMPACT = FormField(
    "impact",
    {"zh-CN": "影响度", "en": "Impact"},
    type="dictionary",
    dictionary="incident_impact",
)
URGENCY = FormField(
    "urgency",
    {"zh-CN": "紧急度", "en": "Urgency"},
    type="dictionary",
    dictionary="incident_urgency",
)
LEVEL = FormField(
    "level",
    {"zh-CN": "级别", "en": "Level"},
    type="dictionary",
    dictionary="incident_level",
    help={
        "zh-CN": "留空则按 SLA 矩阵（分类、影响度、紧急度、服务单位）确定",
        "en": "Leave empty to take the one the SLA matrix gives (category, impact, urgency, "
        "service unit)",
    },
)
LEVEL_REASON = FormField(
    "level_reason", {"zh-CN": "调整级别原因", "en": "Reason for the level"}, max_length=500
)
GROUP = FormField("group_id", {"zh-CN": "处理组", "en": "Assignment group"}, type="department")
ASSIGNEE = FormField("assignee_id", {"zh-CN": "处理人", "en": "Assignee"}, type="user")

REGISTER = Form(
    "incident.register",
    "incident",
    {"zh-CN": "登记事件", "en": "Register an incident"},
    (
        FormSection("caller", {"zh-CN": "报告人", "en": "Caller"}, (CALLER, CONTACT_PHONE)),
        FormSection(
            "incident",
            {"zh-CN": "事件", "en": "Incident"},
            (TITLE, DESCRIPTION, CATEGORY, NATURE, IMPACT, URGENCY, LEVEL, LEVEL_REASON),
        ),
        FormSection("assignment", {"zh-CN": "分派", "en": "Assignment"}, (GROUP, ASSIGNEE)),
    ),
)

ASSIGN = Form(
    "incident.assign",
    "incident",
    {"zh-CN": "分派", "en": "Assign"},
    (FormSection("assign", {"zh-CN": "分派", "en": "Assign"}, (GROUP, ASSIGNEE)),),
)

RESOLVE = Form(
    "incident.resolve",
    "incident",
    {"zh-CN": "解决", "en": "Resolve"},
    (
        FormSection(
            "resolve",
            {"zh-CN": "解决", "en": "Resolve"},
            (
                FormField(
                    "resolution",
                    {"zh-CN": "解决方案", "en": "Resolution"},
                    type="richtext",
                    required=True,
                ),
                FormField("cost", {"zh-CN": "服务费用", "en": "Cost"}, type="money", minimum=0),
                FormField(
                    "work_hours",
                    {"zh-CN": "服务工时", "en": "Work hours"},
                    type="money",
                    minimum=0,
                    maximum=99999,
                ),
            ),
        ),
    ),
)

SCORES = tuple(Choice(str(n), {"zh-CN": "★" * n, "en": "★" * n}) for n in range(5, 0, -1))
RATE = Form(
    "incident.rate",
    "incident",
    {"zh-CN": "满意度", "en": "Satisfaction"},
    (
        FormSection(
            "rate",
            {"zh-CN": "满意度", "en": "Satisfaction"},
            (
                FormField(
                    "satisfaction",
                    {"zh-CN": "满意度", "en": "Satisfaction"},
                    type="choice",
                    choices=SCORES,
                    required=True,
                ),
                FormField(
                    "satisfaction_comment",
                    {"zh-CN": "评价", "en": "Comment"},
                    type="textarea",
                    max_length=1000,
                ),
            ),
        ),
    ),
)

TEMPLATE = Form(
    "incident.template",
    "incident_template",
    {"zh-CN": "事件模板", "en": "Incident template"},
    (
        FormSection(
            "template",
            {"zh-CN": "模板", "en": "Template"},
            (
                FormField(
                    "name",
                    {"zh-CN": "模板名称", "en": "Template name"},
                    required=True,
                    max_length=100,
                ),
            ),
        ),
        FormSection(
            "incident",
            {"zh-CN": "新事件的预填内容", "en": "What new incidents start with"},
            (
                FormField("title", TITLE.labels, max_length=200),
                DESCRIPTION,
                CATEGORY,
                NATURE,
                IMPACT,
                URGENCY,
                GROUP,
            ),
        ),
    ),
)

DICTIONARY_FIELDS = ("category", "nature", "impact", "urgency", "level")

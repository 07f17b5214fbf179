"""The complaint module's forms: registration and the action forms on the complaint page.

Each field is named after the complaint field it writes, so field rules apply to it;
dictionary fields post item ids that the page turns into the item codes complaints keep;
their dictionaries are the kernel's default ones (`complaint_source`, `complaint_type`,
`complaint_nature`).
The keys `complaint.route`, `complaint.feedback` and `complaint.rate` are the forms the
steps of the default process name (`itsm:form`).
"""

from __future__ import annotations

from openitsm.kernel.forms import Choice, Form, FormField, FormSection

COMPLAINANT = FormField(
    "complainant_id",
    {"zh-CN": "投诉人", "en": "Complainant"},
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
CHANNEL = FormField(
    "channel",
    {"zh-CN": "投诉渠道", "en": "Channel"},
    type="dictionary",
    dictionary="complaint_source",
)
TITLE = FormField("title", {"zh-CN": "标题", "en": "Title"}, required=True, max_length=200)
DESCRIPTION = FormField("description", {"zh-CN": "投诉内容", "en": "Description"}, type="richtext")
CATEGORY = FormField(
    "category",
    {"zh-CN": "投诉分类", "en": "Category"},
    type="dictionary",
    dictionary="complaint_type",
)
NATURE = FormField(
    "nature",
    {"zh-CN": "投诉性质", "en": "Nature"},
    type="dictionary",
    dictionary="complaint_nature",
    help={
        "zh-CN": "一般、严重、重大或无效投诉（可稍后认定）",
        "en": "General, serious, major or unfounded (may be decided later)",
    },
)
SEVERITY_CHOICES = (
    Choice("minor", {"zh-CN": "一般", "en": "Minor"}),
    Choice("major", {"zh-CN": "较重", "en": "Major"}),
    Choice("serious", {"zh-CN": "严重", "en": "Serious"}),
)
SEVERITY = FormField(
    "severity",
    {"zh-CN": "严重程度", "en": "Severity"},
    type="choice",
    choices=SEVERITY_CHOICES,
    required=True,
)
CAUSED_BY = FormField(
    "caused_by",
    {"zh-CN": "引发投诉的记录", "en": "Caused by"},
    type="reference",
    max_length=100,
    help={
        "zh-CN": "引发投诉的事件等记录：填写编号（如 INC-2026-000042）或 incident:42",
        "en": "The incident (or other record) behind the complaint: its number "
        "(INC-2026-000042) or incident:42",
    },
)
DEPARTMENT = FormField(
    "department_id", {"zh-CN": "责任部门", "en": "Responsible department"}, type="department"
)
ASSIGNEE = FormField("assignee_id", {"zh-CN": "处理人", "en": "Assignee"}, type="user")

REGISTER = Form(
    "complaint.register",
    "complaint",
    {"zh-CN": "登记投诉", "en": "Register a complaint"},
    (
        FormSection(
            "complainant",
            {"zh-CN": "投诉人", "en": "Complainant"},
            (COMPLAINANT, CONTACT_PHONE, CHANNEL),
        ),
        FormSection(
            "complaint",
            {"zh-CN": "投诉", "en": "Complaint"},
            (TITLE, DESCRIPTION, CATEGORY, NATURE, SEVERITY, CAUSED_BY),
        ),
        FormSection("routing", {"zh-CN": "转办", "en": "Routing"}, (DEPARTMENT, ASSIGNEE)),
    ),
)

ROUTE = Form(
    "complaint.route",
    "complaint",
    {"zh-CN": "转办", "en": "Route"},
    (FormSection("route", {"zh-CN": "转办", "en": "Route"}, (DEPARTMENT, ASSIGNEE)),),
)

FEEDBACK = Form(
    "complaint.feedback",
    "complaint",
    {"zh-CN": "处理反馈", "en": "Feedback"},
    (
        FormSection(
            "feedback",
            {"zh-CN": "处理反馈", "en": "Feedback"},
            (
                FormField(
                    "feedback",
                    {"zh-CN": "处理情况及结果", "en": "What was done and the result"},
                    type="richtext",
                    required=True,
                ),
            ),
        ),
    ),
)

SCORES = tuple(Choice(str(n), {"zh-CN": "★" * n, "en": "★" * n}) for n in range(5, 0, -1))
RATE = Form(
    "complaint.rate",
    "complaint",
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

DICTIONARY_FIELDS = ("channel", "category", "nature")

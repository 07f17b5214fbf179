from openitsm.kernel.testing import gql


def test_viewer_is_null_for_anonymous(kernel):
    assert gql(kernel, "{ viewer { login } }") == {"data": {"viewer": None}}


def test_viewer_for_admin(kernel, admin):
    assert gql(kernel, "{ viewer { login isSuperuser } }", actor=admin)["data"]["viewer"] == {
        "login": "root",
        "isSuperuser": True,
    }
